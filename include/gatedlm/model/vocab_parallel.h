// Megatron-style vocabulary parallelism: with a tensor-parallel group (and split_vocab), shard r
// of t holds vocabulary rows [r V/t, (r + 1) V/t) of the embedding and of the LM head (tied or
// not). Token ids become slice-local (-1 outside the slice, which the embedding reads as a zero
// row and the loss as "another slice's target"); the lookup is the group's sum of the slices';
// the loss combines the slices' row maxima (max) and exp-sums and target logits (sum) without
// ever gathering the logits; each rank's LM head gradient is its slice's, and the LM head's
// input gradient is summed over the group. Without a split every call is the plain op.
#pragma once

#include <cstdint>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/comm/tensor_parallel.h"

namespace gatedlm {

class VocabParallel {
 public:
  VocabParallel(int64_t vocab, const TensorParallel& tp);

  bool split() const { return tp_.splits_vocab(); }
  int64_t local_vocab() const { return size_; }  // rows of this rank's embedding and LM head

  void reserve(Backend& be, int64_t rows);
  // Host token ids to slice-local device ids.
  void ids_from_host(Backend& be, int32_t* device_ids, const int32_t* host_ids, int64_t n);
  // out [n, dim] = the embedding rows of the (device, slice-local) ids.
  void embedding_forward(Backend& be, float* out, const int32_t* ids, const float* table, int64_t n,
                         int64_t dim) const;
  // Backend::cross_entropy over the whole vocabulary, from this rank's slice of the logits
  // ([rows, local_vocab()]); losses are whole on every rank.
  void cross_entropy(Backend& be, float* losses, float* logits, const int32_t* targets,
                     int64_t rows, float dlogits_scale);
  // The LM head's input gradient: each slice's part summed over the group.
  void sum_input_gradient(float* dx, int64_t n) const;

 private:
  TensorParallel tp_;
  int64_t begin_ = 0, size_;
  std::vector<int32_t> local_ids_;
  Tensor row_max_, sums_;  // [rows], [rows, 2]
};

}  // namespace gatedlm
