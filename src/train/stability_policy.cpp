// The stability policies' actions in a run: log, skip, roll back or stop.
#include "gatedlm/train/stability_policy.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <utility>

#include "gatedlm/core/error.h"
#include "gatedlm/train/run_outcome.h"

namespace gatedlm {

StabilityPolicy::StabilityPolicy(std::string run_dir, TrainSetup& setup, CheckpointSaver& saver,
                                 RunProgress& progress, MetricsWriter* metrics)
    : run_dir_(std::move(run_dir)),
      setup_(setup),
      saver_(saver),
      progress_(progress),
      metrics_(metrics),
      monitor_(setup.config.stability) {}

StepDecision StabilityPolicy::decide(int64_t step, const StepResult& result) {
  const StepCheck check = monitor_.check(step, result.loss, result.grad_norm);
  if (!check.event.is_null()) {
    if (metrics_) metrics_->write(check.event);
    spdlog::warn("step {}: {} (loss {}); stability: {}", step,
                 check.event["event"].get<std::string>(), result.loss,
                 check.event["action"].get<std::string>());
  }
  if (check.verdict == StepVerdict::stop) stop(step, result, check.stop_reason);
  if (check.verdict == StepVerdict::rollback) {
    if (const std::optional<int64_t> to_step = roll_back(step))
      return {.apply = false, .rolled_back_to = to_step};
    spdlog::warn("step {}: no checkpoint to roll back to yet; update skipped", step);
  }
  if (check.verdict != StepVerdict::apply) {
    spdlog::warn("step {}: update skipped", step);
    return StepDecision{};  // neither applied nor rolled back
  }
  monitor_.applied(step, result.loss);
  return StepDecision{.apply = true, .rolled_back_to = std::nullopt};
}

void StabilityPolicy::stop(int64_t step, const StepResult& result, const std::string& reason) {
  if (setup_.groups.is_root())
    write_run_outcome(run_dir_, {{"outcome", "diverged"}, {"steps", step}});
  const double loss = result.loss, grad_norm = result.grad_norm;
  const std::string what =
      std::isfinite(loss) && std::isfinite(grad_norm)
          ? fmt::format("loss spike ({})", loss)
          : fmt::format("non-finite loss ({}) or gradient norm ({})", loss, grad_norm);
  throw RuntimeFailure(fmt::format("step {}: {}; {}", step, what, reason));
}

std::optional<int64_t> StabilityPolicy::roll_back(int64_t step) {
  saver_.wait();
  const std::optional<ResumePoint> point = setup_.find_checkpoint(run_dir_);
  if (!point) return std::nullopt;
  setup_.restore(*point);
  progress_.tokens = point->state.tokens_seen;
  monitor_.rolled_back(point->state.step, step);
  if (metrics_) {
    metrics_->rewind(point->state.step);
    metrics_->write({{"step", step}, {"event", "rollback"}, {"to_step", point->state.step}});
  }
  spdlog::warn("step {}: rolled back to {}; its batch will be skipped", step, point->dir);
  return point->state.step;
}

}  // namespace gatedlm
