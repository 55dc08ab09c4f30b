// Megatron-style tensor parallelism, as layers see it. A shard of the model is the model of a
// narrower config (local_model_config: heads, KV heads and the MLP width divided by the group
// size), so attention, gates and SwiGLU run unchanged on their local heads and columns:
//   column-parallel q|k|v|gate and MLP gate|up (rows of the weight split, the gate's heads with
//   the heads it gates), row-parallel o_proj and down_proj (columns split), whose partial
//   outputs are summed over the group in forward; the input gradients of column-parallel
//   projections are summed in backward. Norms are replicated (the per-head q/k/sdpa norms'
//   gradients are summed over the group: each shard has some heads). The embedding and LM head
//   are split by vocabulary rows (model/vocab_parallel.h) unless split_vocab is off.
// A G5 (dense) gate acts on the summed o_proj output, so its gate_proj is replicated: every rank
// computes the whole gate, and one rank alone adds its input gradient.
#pragma once

#include <cstdint>
#include <string>

#include "gatedlm/comm/communicator.h"
#include "gatedlm/config/config.h"

namespace gatedlm {

struct TensorParallel {
  Communicator* group = nullptr;  // nullptr: the model is not split
  bool split_vocab = true;        // parallel.vocab_parallel

  int size() const { return group ? group->size() : 1; }
  int rank() const { return group ? group->rank() : 0; }
  // Megatron's "g" in forward and "f" in backward: sums partial results over the group.
  void sum_partials(float* data, int64_t n) const {
    if (size() > 1) group->all_reduce(data, n);
  }
  // Whether this rank adds the input gradient of a replicated projection (exactly one does).
  bool adds_replicated_input_gradient() const { return rank() == 0; }
  bool splits_vocab() const { return split_vocab && size() > 1; }
};

// The config of one of `tensor` shards. InputError-free: validate_config checks divisibility.
ModelConfig local_model_config(const ModelConfig& full, int64_t tensor);

}  // namespace gatedlm
