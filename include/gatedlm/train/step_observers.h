// What runs after a training step, in a fixed order, as every rank's collectives must line up:
// the train log line after an applied update, then, after each applied step, the val loss,
// analysis, text sample and checkpoint whose intervals come due; at the end of the run, the
// final val loss, analysis and checkpoint. Stop signals and the stability policy, which change
// the loop's course, stay with the loop (train/trainer.cpp, train/stability_policy.h).
#pragma once

#include <cstdint>
#include <string>

#include "gatedlm/train/checkpoint_saver.h"
#include "gatedlm/train/metrics.h"
#include "gatedlm/train/periodic_evals.h"
#include "gatedlm/train/run_progress.h"
#include "gatedlm/train/train_log.h"
#include "gatedlm/train/train_setup.h"
#include "gatedlm/train/trainer.h"

namespace gatedlm {

struct StepObservers {
  // Built in the order the run has always prepared them (the analysis batch is read before the
  // tokenizer, both before the checkpoint writer exists); the log window starts last.
  StepObservers(const std::string& run_dir, const std::string& config_yaml, TrainSetup& setup,
                RunProgress& progress, MetricsWriter* metrics, const ThroughputReference& reference,
                const std::string& resumed_from);

  // After the update of step `step` (1-based) was applied: the train log line.
  void after_update(int64_t step, const StepResult& result, bool last) {
    log.after_update(step, result, last);
  }
  // After step `step` whose update was applied, once a stop signal did not end the run: the
  // periodic evaluations and saves.
  void after_step(int64_t step, bool last);
  // After the last step: the final val loss, analysis and (must succeed) checkpoint.
  void at_end(int64_t steps);
  // Fills in what the observers saw last: the val loss, throughput and checkpoint.
  void record(TrainSummary& summary) const;

  AnalysisProbe analysis;
  TextSampler samples;
  ValidationEval eval;
  CheckpointSaver checkpoints;
  TrainLog log;
};

}  // namespace gatedlm
