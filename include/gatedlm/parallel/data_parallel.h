// Data parallelism: every rank of the data group runs the whole (tensor-parallel shard of the)
// model on its own micro-batches, and the gradients are summed over the group after backward.
// The trainer scales each rank's loss by 1 / (grad_accum_steps * data ranks), so the sum is the
// mean over the global batch, as one process with more accumulation steps would compute it.
//
// Plain: an all-reduce of the flat gradient buffer in buckets (parallel.grad_bucket_size
// floats, each bucket one non-blocking collective). Overlapped (parallel.overlap_grad_reduce):
// the model's backward reports which parameters are final (gradients_ready, in reverse layer
// order) and each bucket's all-reduce starts as soon as all of it is; reduce_gradients() waits.
// The same collectives on the same buckets as without overlap, so the same bits. ZeRO-1
// (AdamW sharded over the
// group): a reduce-scatter gives each rank the summed gradient of its block, AdamW updates that
// block, and an all-gather brings every rank the whole updated parameters.
//
// Expert parallelism: an expert group's ranks hold different routed experts
// (model/shard_layout.h), so those gradients are summed over the expert-data group (the data ranks
// that hold the same experts) and the rest over the whole data group, after backward (no overlap).
// Not combined with ZeRO-1.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gatedlm/comm/communicator.h"
#include "gatedlm/comm/tensor_parallel.h"
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
  // bucket_elements: floats per all-reduce bucket; overlap: start buckets during backward.
  DataParallel(Communicator& data, ParameterSet& params, const AdamW& optimizer,
               const TensorParallel& tp = {}, int64_t bucket_elements = kGradientBucketElements,
               bool overlap = false, const ExpertGroups& ep = {});

  // Whether gradients_ready() starts reductions (plain DP over more than one rank, overlap on,
  // no expert parallelism).
  bool overlaps() const;
  // During the last backward of a step: every parameter at flat offset >= ready_from has its
  // final gradient. Starts the all-reduce of each bucket that lies wholly there.
  void gradients_ready(int64_t ready_from);
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
  // Tensor-group sums of the partial-per-shard gradients of parameters in [from, to).
  void sum_partial_gradients(int64_t from, int64_t to);

  TensorParallel tp_;
  ExpertGroups ep_;
  Tensor owned_grads_;  // ZeRO-1: the reduce-scatter's output, [owned block]
  int64_t bucket_elements_;
  bool overlap_;
  // This step's progress: parameters at offsets >= ready_from_ are final and tensor-summed;
  // buckets from started_from_ (a bucket index) up are in flight.
  int64_t ready_from_ = 0, started_from_ = 0;
  std::vector<std::unique_ptr<PendingCollective>> in_flight_;
};

}  // namespace gatedlm
