// One optimizer step, in two halves so that the stability policy can judge a step between them
// (train/stability_policy.h): compute() draws the step's micro-batches, runs forward/backward
// with gradient accumulation and reduces the gradients over the data-parallel group; update()
// clips them to train.max_grad_norm and applies AdamW at the step's scheduled LR (under ZeRO-1
// it then gathers the updated parameters). run() does both. It needs no run directory: the
// trainer and the unit tests drive it alike.
#pragma once

#include <cstdint>

#include "gatedlm/comm/process_groups.h"
#include "gatedlm/config/config.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/model/instrumentation.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/optim/adamw.h"
#include "gatedlm/parallel/data_parallel.h"
#include "gatedlm/train/fault_injection.h"

namespace gatedlm {

struct StepResult {
  double loss = 0.0;       // mean over the global batch, the same on every rank
  double grad_norm = 0.0;  // of the whole model's reduced gradient, before clipping
  double lr = 0.0;         // the step's scheduled LR
  int64_t tokens = 0;      // in the step's micro-batches, over all data ranks
  int64_t bytes_sent = 0;  // by this rank from compute() to the end of update()
};

// What the trainer adds to the arithmetic; none of it is needed to train.
struct StepExtras {
  FaultInjection faults;                  // the reliability tests' NaNs (off by default)
  ModelAnalysis* routing = nullptr;       // gathers every micro-batch's MoE routing
  const ProcessGroups* groups = nullptr;  // counts the bytes a step sends
};

class TrainStep {
 public:
  // Reads train.grad_accum_steps, max_grad_norm and steps, the scheduler and optimizer.lr. The
  // loader yields this rank's micro-batches (train.micro_batch_size x train.seq_len).
  TrainStep(const Config& config, Transformer& model, AdamW& optimizer, DataParallel& data_parallel,
            BatchLoader& loader, StepExtras extras = {});

  // Step `step` (1-based, as logged) up to its reduced gradient. First draws and drops
  // `skip_steps` steps' worth of batches (those that caused a rollback). Collective.
  StepResult compute(int64_t step, int64_t skip_steps = 0);
  // Clips, applies AdamW at result.lr and gathers the parameters; fills result.bytes_sent.
  void update(StepResult& result);
  // compute() then update(): a step whose update is always applied.
  StepResult run(int64_t step);

 private:
  TrainConfig train_;
  SchedulerConfig scheduler_;
  double peak_lr_;
  Transformer& model_;
  AdamW& optimizer_;
  DataParallel& data_parallel_;
  BatchLoader& loader_;
  StepExtras extras_;
  TokenBatch batch_;
  int64_t bytes_before_ = 0;  // groups' bytes sent when the step began
};

}  // namespace gatedlm
