// What training measures of the model between steps, each into a metrics.jsonl line and a
// console line: the val loss (train.eval_interval and at the end), the paper's metrics on a
// fixed held-out batch (train.analyze_interval and at the end) and a short continuation of a
// fixed prompt (train.sample_interval), so researchers see what the model has learned. Every
// rank runs them at the same steps: the forward passes are collective under model parallelism.
#pragma once

#include <cstdint>
#include <memory>

#include "gatedlm/config/config.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/data/tokenizer.h"
#include "gatedlm/train/metrics.h"
#include "gatedlm/train/train_setup.h"

namespace gatedlm {

// Mean loss over train.eval_batches of the val data; a no-op without data.val.
class ValidationEval {
 public:
  ValidationEval(TrainSetup& setup, MetricsWriter* metrics);
  // Every train.eval_interval applied steps but the last (whose eval is the final one).
  void after_step(int64_t step, bool last);
  void run(int64_t step);
  // The last val loss; < 0 before one (or without val data).
  double last_loss() const { return last_loss_; }

 private:
  TrainSetup& setup_;
  MetricsWriter* metrics_;
  double last_loss_ = -1.0;
};

// F-Attn, M-Act and gate scores on the first val batch (else the first train windows), read by
// a loader of its own so the training stream is not disturbed; every rank reads the same batch.
// Off when train.analyze_interval is 0.
class AnalysisProbe {
 public:
  // Reads the batch (InputError when the data cannot be read).
  AnalysisProbe(TrainSetup& setup, MetricsWriter* metrics);
  // Every train.analyze_interval applied steps but the last (whose analysis is the final one).
  void after_step(int64_t step, bool last);
  void run(int64_t step);

 private:
  TrainSetup& setup_;
  MetricsWriter* metrics_;
  const int64_t interval_;
  TokenBatch batch_;
};

// train.sample_prompt continued by 48 sampled tokens; off when train.sample_interval is 0.
class TextSampler {
 public:
  // Loads data.tokenizer when sampling is on.
  TextSampler(TrainSetup& setup, MetricsWriter* metrics);
  // Every train.sample_interval applied steps, the last one included.
  void after_step(int64_t step);

 private:
  TrainSetup& setup_;
  MetricsWriter* metrics_;
  std::unique_ptr<Tokenizer> tokenizer_;  // null when off
};

}  // namespace gatedlm
