#include "gatedlm/dist/tensor_shards.h"

#include <algorithm>
#include <stdexcept>

namespace gatedlm {
namespace {

// Calls copy(whole_offset, local_offset, length) for each contiguous run of shard `rank`'s
// elements of tensor `p` (offsets relative to the tensor's start in either layout).
template <typename Copy>
void for_each_shard_run(const ParamInfo& p, int rank, int size, Copy copy) {
  if (p.split_dim < 0) {
    copy(0, 0, p.numel());
    return;
  }
  if (p.split_dim == 0) {
    copy(rank * p.numel(), 0, p.numel());
    return;
  }
  if (p.split_dim != 1 || p.shape.size() != 2)
    throw std::logic_error("tensor shards: unsupported split of " + p.name);
  const int64_t rows = p.shape[0], cols = p.shape[1];
  for (int64_t r = 0; r < rows; ++r) copy(r * cols * size + rank * cols, r * cols, cols);
}

}  // namespace

std::vector<ParamInfo> whole_model_infos(const std::vector<ParamInfo>& local, int tensor) {
  std::vector<ParamInfo> whole = local;
  int64_t offset = 0;
  for (ParamInfo& p : whole) {
    if (p.split_dim >= 0) p.shape[p.split_dim] *= tensor;
    p.offset = offset;
    offset += p.numel();
  }
  return whole;
}

void gather_tensor_shards(CheckpointState& state, const std::vector<ParamInfo>& local,
                          Communicator& tensor, Backend& backend) {
  const int size = tensor.size(), rank = tensor.rank();
  if (size == 1) return;
  const std::vector<ParamInfo> whole = whole_model_infos(local, size);
  const int64_t n = state.numel(), whole_n = whole.back().offset + whole.back().numel();
  // One all-gather of every shard's flat buffer (on the device: NCCL needs device memory).
  Tensor all = backend.empty({size * n});
  std::vector<float> shards(static_cast<size_t>(size * n)), assembled;
  for (std::vector<float>* buffer : {&state.params, &state.exp_avg, &state.exp_avg_sq}) {
    backend.from_host(all.data() + rank * n, buffer->data(), n);
    tensor.all_gather(all.data(), std::vector<int64_t>(size, n));
    backend.to_host(shards.data(), all.data(), size * n);
    assembled.assign(static_cast<size_t>(whole_n), 0.0f);
    for (size_t i = 0; i < local.size(); ++i)
      for (int r = 0; r < size; ++r)
        for_each_shard_run(local[i], r, size, [&](int64_t at_whole, int64_t at_local, int64_t len) {
          const float* src = shards.data() + r * n + local[i].offset + at_local;
          std::copy(src, src + len, assembled.data() + whole[i].offset + at_whole);
        });
    buffer->swap(assembled);
  }
  state.tensors.clear();
  for (const ParamInfo& p : whole) state.tensors.push_back({p.name, p.shape, p.offset});
}

std::vector<float> cut_shard_values(const std::vector<float>& whole_values,
                                    const std::vector<ParamInfo>& local, int rank, int size) {
  const std::vector<ParamInfo> whole = whole_model_infos(local, size);
  std::vector<float> cut(static_cast<size_t>(local.back().offset + local.back().numel()));
  for (size_t i = 0; i < local.size(); ++i)
    for_each_shard_run(local[i], rank, size, [&](int64_t at_whole, int64_t at_local, int64_t len) {
      const float* src = whole_values.data() + whole[i].offset + at_whole;
      std::copy(src, src + len, cut.data() + local[i].offset + at_local);
    });
  return cut;
}

void cut_tensor_shard(CheckpointState& state, const std::vector<ParamInfo>& local, int rank,
                      int size) {
  if (size == 1) return;
  for (std::vector<float>* buffer : {&state.params, &state.exp_avg, &state.exp_avg_sq})
    *buffer = cut_shard_values(*buffer, local, rank, size);
  state.tensors.clear();
  for (const ParamInfo& p : local) state.tensors.push_back({p.name, p.shape, p.offset});
}

}  // namespace gatedlm
