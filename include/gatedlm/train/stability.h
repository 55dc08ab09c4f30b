// Training stability (config `stability:`): loss spikes, a z-score of the step's loss against a
// rolling window of the losses before it; non-finite losses or gradients. Each step gets a
// verdict from the configured policy: apply the update, skip it, roll back to the last
// checkpoint and skip the offending batch, or stop. Spikes and rollbacks are logged to
// metrics.jsonl as {"step", "event": "spike" | "nonfinite" | "rollback", ...} lines.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "gatedlm/config/config.h"

namespace gatedlm {

// z-score of a value against the last `window` values added (population std). No verdict until
// the window is full, so early, fast-falling losses are not taken for spikes.
class SpikeDetector {
 public:
  SpikeDetector(double zscore_threshold, int64_t window);
  // The z-score of `loss` against the window, or nullopt while the window is not yet full.
  std::optional<double> zscore(double loss) const;
  // True when `loss` lies more than the threshold above the window's mean (never when off).
  bool is_spike(double loss) const;
  void add(int64_t step, double loss);
  // Forgets the losses of steps after `step` (a rollback replays them).
  void forget_after(int64_t step);

 private:
  double threshold_;
  int64_t window_;
  std::deque<std::pair<int64_t, double>> losses_;  // (step, loss), oldest first
};

enum class StepVerdict { apply, skip, rollback, stop };

struct StepCheck {
  StepVerdict verdict = StepVerdict::apply;
  // The metrics.jsonl event line for this step; null when nothing happened.
  nlohmann::json event;
  // With verdict stop: why, for the error line.
  std::string stop_reason;
};

class StabilityMonitor {
 public:
  explicit StabilityMonitor(const StabilityConfig& config);
  // Judges step `step` (1-based) from its loss and gradient norm, before the update. A rollback
  // beyond stability.max_rollbacks_per_step for this step becomes a stop.
  StepCheck check(int64_t step, double loss, double grad_norm);
  // The update of `step` was applied with this loss (the loss joins the window).
  void applied(int64_t step, double loss);
  // Training went back to the checkpoint at `to_step` because of step `offending_step`: the
  // window forgets what followed, and that step's batch will be skipped when it comes again.
  void rolled_back(int64_t to_step, int64_t offending_step);
  // How many batches (of a whole step each) to draw and drop before step `step`'s own.
  int64_t batches_to_skip(int64_t step) const;

 private:
  // The configured policy's verdict, before the rollback limit.
  StepCheck judge(int64_t step, double loss, double grad_norm) const;

  StabilityConfig config_;
  SpikeDetector detector_;
  std::map<int64_t, int64_t> skip_batches_;  // step -> batches to drop first
};

}  // namespace gatedlm
