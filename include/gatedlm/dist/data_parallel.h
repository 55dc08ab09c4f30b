// Data parallelism: every rank of the data group runs the whole (tensor-parallel shard of the)
// model on its own micro-batches, and the gradients are summed over the group after backward.
// The trainer scales each rank's loss by 1 / (grad_accum_steps * data ranks), so the sum is the
// mean over the global batch, as one process with more accumulation steps would compute it.
//
// Plain: an all-reduce of the flat gradient buffer in buckets of kGradientBucketElements (each
// bucket one collective; not yet overlapped with backward). ZeRO-1 (AdamW sharded over the
// group): a reduce-scatter gives each rank the summed gradient of its block, AdamW updates that
// block, and an all-gather brings every rank the whole updated parameters.
//
// Expert parallelism: an expert group's ranks hold different routed experts (dist/
// expert_shards.h), so those gradients are summed over the expert-data group (the data ranks that
// hold the same experts) and the rest over the whole data group. Not combined with ZeRO-1.
#pragma once

#include <cstdint>

#include "gatedlm/dist/communicator.h"
#include "gatedlm/dist/tensor_parallel.h"
#include "gatedlm/model/parameters.h"
#include "gatedlm/optim/adamw.h"

namespace gatedlm {

inline constexpr int64_t kGradientBucketElements = int64_t{1} << 22;  // 16 MiB of fp32

struct ExpertGroups {
  Communicator* expert = nullptr;       // ranks holding different experts; nullptr: all local
  Communicator* expert_data = nullptr;  // data ranks holding the same experts as this one
  bool split() const { return expert && expert->size() > 1; }
};

class DataParallel {
 public:
  // tp: the model's tensor-parallel group, for the parts of the gradient it splits.
  DataParallel(Communicator& data, ParameterSet& params, const AdamW& optimizer,
               const TensorParallel& tp = {}, const ExpertGroups& ep = {});

  // Sums the gradients over the data group (into the owned block under ZeRO-1), after summing
  // over the tensor group those of replicated parameters that each shard sees only part of.
  void reduce_gradients();
  // L2 norm of the whole model's summed gradient (every shard's part, replicated parameters
  // once), identical on every rank.
  double grad_norm();
  // After the optimizer step: every rank gets the parameters the others updated (ZeRO-1).
  void gather_parameters();
  // RuntimeFailure when the ranks' parameters differ (they must stay bit-identical replicas).
  void check_replicas_agree();
  // The mean of a per-rank value over the data group.
  double mean(double value);
  int size() const { return data_.size(); }

 private:
  Communicator& data_;
  ParameterSet& params_;
  const AdamW& optimizer_;
  TensorParallel tp_;
  ExpertGroups ep_;
  Tensor owned_grads_;  // ZeRO-1: the reduce-scatter's output, [owned block]
};

}  // namespace gatedlm
