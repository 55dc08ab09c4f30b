// AdamW over a ParameterSet: decoupled weight decay, none on norms and static gate logits
// (ParamInfo::weight_decay), the embedding per optimizer.decay_embeddings.
// ZeRO-1: handed a data-parallel group, each rank keeps the moments of one block of the flat
// parameter buffer (comm/partition.h) and updates only those parameters; the caller reduces
// the gradients into that block first and all-gathers the parameters after.
#pragma once

#include <cstdint>

#include "gatedlm/config/config.h"
#include "gatedlm/comm/communicator.h"
#include "gatedlm/comm/partition.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

class AdamW {
 public:
  // shard_group: shard the moments over this group (ZeRO-1); nullptr keeps them whole.
  AdamW(const OptimizerConfig& config, ParameterSet& params, Communicator* shard_group = nullptr);
  // One update of the owned parameters with the gradients currently in params.grads();
  // increments the step count.
  void step(float lr);
  // The block of the flat buffers this rank updates (everything when not sharded).
  int64_t owned_begin() const { return begin_; }
  int64_t owned_end() const { return end_; }
  bool sharded() const { return shard_group_ && shard_group_->size() > 1; }
  const Partition& partition() const { return partition_; }
  // Whole-model moments to and from host buffers of params.numel() floats. Collective over
  // the shard group when sharded (gathers; loading keeps this rank's block).
  void moments_to_host(float* exp_avg, float* exp_avg_sq);
  void moments_from_host(const float* exp_avg, const float* exp_avg_sq);
  // This rank's block of the moments ([owned_end() - owned_begin()]).
  Tensor& first_moment() { return m_; }
  Tensor& second_moment() { return v_; }
  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t step) { step_ = step; }
  bool decays(const ParamInfo& info) const;

 private:
  OptimizerConfig config_;
  ParameterSet& params_;
  Communicator* shard_group_;
  Partition partition_;  // of the flat buffer over the shard group
  int64_t begin_ = 0, end_ = 0;
  Tensor m_, v_;  // [end_ - begin_]
  int64_t step_ = 0;
};

// Global L2 norm of all gradients (double accumulation).
double global_grad_norm(ParameterSet& params);
// Scales gradients so their norm is at most max_norm (torch clip_grad_norm_ semantics:
// coefficient max_norm / (norm + 1e-6), applied only when below 1). Returns the coefficient.
double clip_grad_norm(ParameterSet& params, double norm, double max_norm);

}  // namespace gatedlm
