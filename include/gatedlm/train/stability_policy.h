// Carries out the stability monitor's verdict on each computed step (train/stability.h), before
// its update: logs spikes and non-finite steps to metrics.jsonl and the console; "stop" ends the
// run as diverged (done.json, then a RuntimeFailure); "rollback" restores the latest checkpoint
// on every rank and says which step to continue after; "skip", or a rollback with no checkpoint
// yet, drops the update.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gatedlm/config/config.h"
#include "gatedlm/train/checkpoint_saver.h"
#include "gatedlm/train/metrics.h"
#include "gatedlm/train/run_progress.h"
#include "gatedlm/train/stability.h"
#include "gatedlm/train/train_setup.h"
#include "gatedlm/train/train_step.h"

namespace gatedlm {

struct StepDecision {
  bool apply = false;  // run the update
  // Set after a rollback: the steps done at the checkpoint now restored, which the run
  // continues after. The step's own work (update, log, signals, observers) is then dropped.
  std::optional<int64_t> rolled_back_to;
};

class StabilityPolicy {
 public:
  // `metrics`: null on the ranks that do not write; `saver`'s background save is waited for
  // before a rollback reads the checkpoints.
  StabilityPolicy(std::string run_dir, TrainSetup& setup, CheckpointSaver& saver,
                  RunProgress& progress, MetricsWriter* metrics);

  // Batches (whole steps' worth) to draw and drop before step `step`'s own: those that caused a
  // rollback.
  int64_t batches_to_skip(int64_t step) const { return monitor_.batches_to_skip(step); }
  // The verdict on step `step` (1-based). A rollback is collective: every rank gets the same
  // verdict, as the loss and gradient norm are the same on every rank.
  StepDecision decide(int64_t step, const StepResult& result);

 private:
  [[noreturn]] void stop(int64_t step, const StepResult& result, const std::string& reason);
  // The restored checkpoint's step, or nullopt when there is none to roll back to.
  std::optional<int64_t> roll_back(int64_t step);

  std::string run_dir_;
  TrainSetup& setup_;
  CheckpointSaver& saver_;
  RunProgress& progress_;
  MetricsWriter* metrics_;
  StabilityMonitor monitor_;
};

}  // namespace gatedlm
