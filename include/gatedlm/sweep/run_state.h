// A sweep run's state, read from its directory alone, so any process (the sweep that started it,
// a later `gatedlm sweep --status`, a Slurm task) agrees on it:
//   RUN/done.json    finished (train/run_outcome.h), never run again
//   RUN/.lock        held (flock) by whoever is training the run: running
//   RUN/failed.json  the last attempt failed: {"exit_code", "log", ...}
//   RUN/checkpoints  a partial run resumes from its latest checkpoint
//   RUN/evals/*.json a finished evaluation (staged specs), written whole by rename
// plus RUN/config.yaml (the resolved config) and RUN/sweep-run.json (name, variant, overrides;
// stage, resume_from and the evaluations for staged specs).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "gatedlm/sweep/spec.h"
#include "gatedlm/train/run_lock.h"  // try_lock_run

namespace gatedlm {

enum class RunState { pending, running, done, failed };

struct RunStatus {
  RunState state = RunState::pending;
  std::string detail;           // "diverged", "exit 1", "resumes at step 40", ...
  int64_t checkpoint_step = 0;  // the latest complete checkpoint, 0 = none
};

const char* run_state_name(RunState state);
RunStatus read_run_status(const std::string& run_dir);

// Whether RUN/done.json exists (the run trained to the end, or stopped as diverged).
bool run_finished(const std::string& run_dir);

// How many of the run's evaluations have written their JSON.
std::size_t evals_done(const SweepRun& run);
bool eval_done(const SweepRun& run, const SweepEval& eval);

// Creates RUN, writes RUN/config.yaml and RUN/sweep-run.json. A run directory that already
// holds a different config.yaml is kept (the run resumes with the new config) and reported.
void prepare_run_dir(const SweepRun& run, const std::string& spec_path);

// Writes RUN/sweep-run.json alone (a finished run whose evaluations still run).
void write_run_record(const SweepRun& run, const std::string& spec_path);

void write_run_failure(const std::string& run_dir, const nlohmann::json& failure);
void clear_run_failure(const std::string& run_dir);

}  // namespace gatedlm
