// A sweep run's state, read from its directory alone, so any process (the sweep that started it,
// a later `gatedlm sweep --status`, a Slurm task) agrees on it:
//   RUN/done.json    finished (train/run_outcome.h), never run again
//   RUN/.lock        held (flock) by whoever is training the run: running
//   RUN/failed.json  the last attempt failed: {"exit_code", "log", ...}
//   RUN/checkpoints  a partial run resumes from its latest checkpoint
// plus RUN/config.yaml (the resolved config) and RUN/sweep-run.json (name, variant, overrides).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "gatedlm/sweep/spec.h"

namespace gatedlm {

enum class RunState { pending, running, done, failed };

struct RunStatus {
  RunState state = RunState::pending;
  std::string detail;           // "diverged", "exit 1", "resumes at step 40", ...
  int64_t checkpoint_step = 0;  // the latest complete checkpoint, 0 = none
};

const char* run_state_name(RunState state);
RunStatus read_run_status(const std::string& run_dir);

// Creates RUN, writes RUN/config.yaml and RUN/sweep-run.json. A run directory that already
// holds a different config.yaml is kept (the run resumes with the new config) and reported.
void prepare_run_dir(const SweepRun& run, const std::string& spec_path);

// Takes RUN/.lock without waiting: the open descriptor (inherited by a child it starts), or -1
// when another process holds it.
int try_lock_run(const std::string& run_dir);

void write_run_failure(const std::string& run_dir, const nlohmann::json& failure);
void clear_run_failure(const std::string& run_dir);

}  // namespace gatedlm
