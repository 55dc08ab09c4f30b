#include "gatedlm/sweep/run_state.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"
#include "gatedlm/train/run_outcome.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFailedFile = "failed.json";

std::optional<nlohmann::json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

bool is_locked(const std::string& run_dir) {
  const int fd = try_lock_run(run_dir);
  if (fd < 0) return errno == EWOULDBLOCK;
  ::close(fd);
  return false;
}

}  // namespace

const char* run_state_name(RunState state) {
  switch (state) {
    case RunState::pending:
      return "pending";
    case RunState::running:
      return "running";
    case RunState::done:
      return "done";
    case RunState::failed:
      return "failed";
  }
  return "?";
}

RunStatus read_run_status(const std::string& run_dir) {
  RunStatus status;
  const std::vector<CheckpointEntry> checkpoints = list_complete_checkpoints(run_dir);
  if (!checkpoints.empty()) status.checkpoint_step = checkpoints.back().step;
  if (const auto outcome = read_run_outcome(run_dir)) {
    status.state = RunState::done;
    status.detail = outcome->value("outcome", "finished");
    if (outcome->contains("steps")) status.detail += " at step " + outcome->at("steps").dump();
    return status;
  }
  if (fs::exists(fs::path(run_dir) / kRunLockFile) && is_locked(run_dir)) {
    status.state = RunState::running;
    return status;
  }
  if (const auto failure = read_json(fs::path(run_dir) / kFailedFile)) {
    status.state = RunState::failed;
    status.detail = "exit " + failure->value("exit_code", nlohmann::json(-1)).dump() + ", see " +
                    (fs::path(run_dir) / failure->value("log", "train.log")).string();
    return status;
  }
  if (status.checkpoint_step > 0)
    status.detail = "resumes at step " + std::to_string(status.checkpoint_step);
  return status;
}

bool run_finished(const std::string& run_dir) { return read_run_outcome(run_dir).has_value(); }

bool eval_done(const SweepRun& run, const SweepEval& eval) {
  return fs::exists(fs::path(run.dir) / eval.file);
}

std::size_t evals_done(const SweepRun& run) {
  return std::count_if(run.evals.begin(), run.evals.end(),
                       [&](const SweepEval& eval) { return eval_done(run, eval); });
}

void prepare_run_dir(const SweepRun& run, const std::string& spec_path) {
  std::error_code ec;
  fs::create_directories(run.dir, ec);
  if (ec)
    throw RuntimeFailure(run.dir + ": cannot create the run directory (" + ec.message() + ")");
  const std::string yaml = config_to_yaml(run.config);
  const fs::path config_path = fs::path(run.dir) / "config.yaml";
  std::ifstream old(config_path);
  if (old) {
    std::ostringstream text;
    text << old.rdbuf();
    if (text.str() != yaml)
      spdlog::warn("{}: the spec now resolves to a different config; the run continues with it",
                   run.dir);
  }
  write_file_durably(config_path.string(), yaml);
  write_run_record(run, spec_path);
}

void write_run_record(const SweepRun& run, const std::string& spec_path) {
  nlohmann::json overrides = nlohmann::json::array();
  for (const auto& [key, value] : run.overrides) overrides.push_back({key, value});
  nlohmann::json record = {
      {"name", run.name}, {"variant", run.variant}, {"spec", spec_path}, {"overrides", overrides}};
  if (!run.stage.empty()) record["stage"] = run.stage;
  if (!run.resume_from.empty()) record["resume_from"] = run.resume_from;
  if (!run.evals.empty()) {
    nlohmann::json evals = nlohmann::json::array();
    for (const SweepEval& e : run.evals)
      evals.push_back({{"setting", e.setting},
                       {"seq_len", e.seq_len},
                       {"buckets", e.buckets},
                       {"file", e.file},
                       {"overrides", e.overrides}});
    record["evaluations"] = evals;
  }
  write_file_durably((fs::path(run.dir) / "sweep-run.json").string(), record.dump(1) + "\n");
}

void write_run_failure(const std::string& run_dir, const nlohmann::json& failure) {
  write_file_durably((fs::path(run_dir) / kFailedFile).string(), failure.dump(1) + "\n");
}

void clear_run_failure(const std::string& run_dir) {
  std::error_code ec;
  fs::remove(fs::path(run_dir) / kFailedFile, ec);
}

}  // namespace gatedlm
