#include "gatedlm/checkpoint/retention.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "gatedlm/checkpoint/store.h"

namespace gatedlm {
namespace fs = std::filesystem;

std::vector<int64_t> checkpoints_to_delete(std::vector<int64_t> steps,
                                           const RetentionPolicy& policy, int64_t latest_step) {
  std::sort(steps.begin(), steps.end(), std::greater<>());
  std::vector<int64_t> doomed;
  for (size_t i = 0; i < steps.size(); ++i) {
    const int64_t step = steps[i];
    const bool recent = static_cast<int64_t>(i) < std::max<int64_t>(policy.keep_last, 1);
    const bool milestone = policy.keep_every > 0 && step % policy.keep_every == 0;
    if (!recent && !milestone && step != latest_step) doomed.push_back(step);
  }
  return doomed;
}

std::vector<std::string> apply_retention(const std::string& run_dir,
                                         const RetentionPolicy& policy) {
  const fs::path root = checkpoints_root(run_dir);
  std::vector<std::string> deleted;
  std::error_code ec;
  auto remove_dir = [&](const fs::path& dir, bool hide_first) {
    fs::path target = dir;
    if (hide_first) {
      target = root / (".trash_" + dir.filename().string());
      fs::remove_all(target, ec);
      fs::rename(dir, target, ec);
      if (ec) {
        spdlog::warn("checkpoint retention: cannot remove {}: {}", dir.string(), ec.message());
        return;
      }
    }
    fs::remove_all(target, ec);
    if (ec)
      spdlog::warn("checkpoint retention: cannot remove {}: {}", target.string(), ec.message());
    deleted.push_back(dir.string());
  };

  const std::string latest = read_latest(run_dir);
  int64_t latest_step = -1;
  std::vector<int64_t> steps;
  for (const CheckpointEntry& c : list_complete_checkpoints(run_dir)) {
    steps.push_back(c.step);
    if (fs::path(c.dir).filename() == fs::path(latest).filename()) latest_step = c.step;
  }
  for (int64_t step : checkpoints_to_delete(steps, policy, latest_step))
    remove_dir(root / checkpoint_dir_name(step), true);

  // Leftovers: only this process writes the run, and no save is in flight while this runs.
  std::vector<fs::path> leftovers;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_symlink(ec) || !e.is_directory(ec)) continue;
    const bool hidden = name.rfind(".tmp_", 0) == 0 || name.rfind(".trash_", 0) == 0;
    // Only names a save writes: a stray step_999... directory is not ours to delete.
    const bool unmarked =
        checkpoint_step_of(name) >= 0 && !fs::exists(e.path() / kCheckpointMarker);
    if (hidden || unmarked) leftovers.push_back(e.path());
  }
  for (const fs::path& dir : leftovers) remove_dir(dir, false);
  return deleted;
}

}  // namespace gatedlm
