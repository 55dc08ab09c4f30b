#include "gatedlm/model/vocab_parallel.h"

namespace gatedlm {

VocabParallel::VocabParallel(int64_t vocab, const TensorParallel& tp) : tp_(tp), size_(vocab) {
  if (!split()) return;
  size_ = vocab / tp.size();  // validate_config checks divisibility
  begin_ = size_ * tp.rank();
}

void VocabParallel::reserve(Backend& be, int64_t rows) {
  if (!split()) return;
  row_max_ = be.empty({rows});
  sums_ = be.empty({rows, 2});
}

void VocabParallel::ids_from_host(Backend& be, int32_t* device_ids, const int32_t* host_ids,
                                  int64_t n) {
  if (!split()) {
    be.from_host(device_ids, host_ids, n);
    return;
  }
  local_ids_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t local = host_ids[i] - begin_;
    local_ids_[i] = local >= 0 && local < size_ ? static_cast<int32_t>(local) : -1;
  }
  be.from_host(device_ids, local_ids_.data(), n);
}

void VocabParallel::embedding_forward(Backend& be, float* out, const int32_t* ids,
                                      const float* table, int64_t n, int64_t dim) const {
  be.embedding_forward(out, ids, table, n, dim);
  if (split()) tp_.sum_partials(out, n * dim);
}

void VocabParallel::cross_entropy(Backend& be, float* losses, float* logits, const int32_t* targets,
                                  int64_t rows, float dlogits_scale) {
  if (!split()) {
    be.cross_entropy(losses, logits, targets, rows, size_, dlogits_scale);
    return;
  }
  be.cross_entropy_row_max(row_max_.data(), logits, rows, size_);
  tp_.group->all_reduce(row_max_.data(), rows, ReduceOp::max);
  be.cross_entropy_slice_sums(sums_.data(), logits, targets, row_max_.data(), rows, size_);
  tp_.sum_partials(sums_.data(), 2 * rows);
  be.cross_entropy_from_sums(losses, logits, targets, row_max_.data(), sums_.data(), rows, size_,
                             dlogits_scale);
}

void VocabParallel::sum_input_gradient(float* dx, int64_t n) const {
  if (split()) tp_.sum_partials(dx, n);
}

}  // namespace gatedlm
