// The work between training steps, in its fixed order.
#include "gatedlm/train/step_observers.h"

namespace gatedlm {

StepObservers::StepObservers(const std::string& run_dir, const std::string& config_yaml,
                             TrainSetup& setup, RunProgress& progress, MetricsWriter* metrics,
                             const ThroughputReference& reference, const std::string& resumed_from)
    : analysis(setup, metrics),
      samples(setup, metrics),
      eval(setup, metrics),
      checkpoints(run_dir, config_yaml, setup, progress, resumed_from),
      log(setup, progress, metrics, reference) {}

void StepObservers::after_step(int64_t step, bool last) {
  eval.after_step(step, last);
  analysis.after_step(step, last);
  samples.after_step(step);
  checkpoints.after_step(step, last);
}

void StepObservers::at_end(int64_t steps) {
  eval.run(steps);
  analysis.run(steps);
  checkpoints.save(steps, true);
}

void StepObservers::record(TrainSummary& summary) const {
  summary.final_val_loss = eval.last_loss();
  summary.tokens_per_s = log.tokens_per_s();
  summary.checkpoint = checkpoints.checkpoint();
}

}  // namespace gatedlm
