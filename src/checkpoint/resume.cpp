#include "gatedlm/checkpoint/resume.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "gatedlm/checkpoint/format.h"
#include "gatedlm/checkpoint/store.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

ResumePoint read_point(const std::string& dir, const std::vector<ParamInfo>& expected,
                       const CheckpointSlices* slices) {
  return {dir, read_checkpoint_file((fs::path(dir) / kCheckpointFile).string(), &expected, true,
                                    slices)};
}

}  // namespace

std::optional<ResumePoint> find_resume_point(const std::string& run_dir,
                                             const std::vector<ParamInfo>& expected,
                                             const CheckpointSlices* slices,
                                             const std::vector<std::string>& rejected) {
  const std::vector<CheckpointEntry> complete = list_complete_checkpoints(run_dir);
  // `latest` only points at a checkpoint; a damaged one is rebuilt by the next save.
  std::string latest;
  try {
    latest = read_latest(run_dir);
  } catch (const InputError& e) {
    spdlog::warn("{}; falling back to the newest complete checkpoint", e.what());
  }
  std::vector<std::string> candidates;
  std::error_code ec;
  if (!latest.empty()) {
    if (fs::exists(fs::path(latest) / kCheckpointMarker, ec))
      candidates.push_back(latest);
    else
      spdlog::warn(
          "{}/{} names {}, which is missing or incomplete; falling back to the newest "
          "complete checkpoint",
          checkpoints_root(run_dir), kLatestFile, latest);
  }
  for (auto it = complete.rbegin(); it != complete.rend(); ++it)
    if (fs::path(it->dir).filename() != fs::path(latest).filename()) candidates.push_back(it->dir);
  if (candidates.empty()) return std::nullopt;

  std::string first_problem;
  for (const std::string& dir : candidates) {
    if (std::find(rejected.begin(), rejected.end(), dir) != rejected.end()) {
      if (first_problem.empty()) first_problem = dir + " is damaged (found by another rank)";
      continue;
    }
    try {
      ResumePoint point = read_point(dir, expected, slices);
      if (!first_problem.empty())
        spdlog::warn("resuming from {} instead, the newest checkpoint that verifies", dir);
      return point;
    } catch (const CheckpointCorrupt& e) {
      spdlog::warn("checkpoint {} is damaged ({}); trying an older one", dir, e.what());
      if (first_problem.empty()) first_problem = e.what();
    }
  }
  throw InputError(checkpoints_root(run_dir) +
                   ": no usable checkpoint to resume from; the newest "
                   "is damaged: " +
                   first_problem);
}

ResumePoint load_resume_point(const std::string& path, const std::vector<ParamInfo>& expected,
                              const CheckpointSlices* slices) {
  return read_point(resolve_checkpoint(path), expected, slices);
}

}  // namespace gatedlm
