#include "gatedlm/checkpoint/tensor_slices.h"

#include <fmt/format.h>

#include <algorithm>

#include "gatedlm/model/shard_layout.h"

namespace gatedlm {

ShardedLayout sharded_layout(const std::vector<ParamInfo>& local, int size) {
  ShardedLayout layout;
  for (int t = 0; t < size; ++t) layout.files.push_back(shard_file_name(t, size));
  const std::vector<ParamInfo> whole = whole_model_infos(local, size);
  for (size_t i = 0; i < local.size(); ++i) {
    ShardedTensor tensor{local[i].name, whole[i].shape, {}};
    const int pieces = local[i].split_dim >= 0 ? size : 1;
    for (int t = 0; t < pieces; ++t) tensor.pieces.push_back({t, shard_block(local[i], t, size)});
    layout.tensors.push_back(std::move(tensor));
  }
  return layout;
}

std::string moment_file_name(int tensor, int tensors, int data, int datas) {
  return fmt::format("moments-tp{:02d}-of-{:02d}-dp{:02d}-of-{:02d}.h5", tensor, tensors, data,
                     datas);
}

namespace {

// Elements [from, to) of local tensor `p` that lie in block `data` of `partition` (none when
// from >= to).
std::pair<int64_t, int64_t> owned_part(const ParamInfo& p, const Partition& partition, int data) {
  return {std::max(p.offset, partition.begin(data)) - p.offset,
          std::min(p.offset + p.numel(), partition.end(data)) - p.offset};
}

}  // namespace

ShardedLayout zero_moment_layout(const std::vector<ParamInfo>& local, int tensors,
                                 const Partition& partition) {
  const int datas = static_cast<int>(partition.counts.size());
  ShardedLayout layout;
  for (int t = 0; t < tensors; ++t)
    for (int d = 0; d < datas; ++d) layout.files.push_back(moment_file_name(t, tensors, d, datas));
  const std::vector<ParamInfo> whole = whole_model_infos(local, tensors);
  for (size_t i = 0; i < local.size(); ++i) {
    const ParamInfo& p = local[i];
    ShardedTensor tensor{p.name, whole[i].shape, {}};
    const int holders = p.split_dim >= 0 ? tensors : 1;
    for (int t = 0; t < holders; ++t)
      for (int d = 0; d < datas; ++d)
        if (const auto [from, to] = owned_part(p, partition, d); from < to)
          tensor.pieces.push_back({t * datas + d, shard_block(p, t, tensors), from, to});
    layout.tensors.push_back(std::move(tensor));
  }
  return layout;
}

std::vector<TensorSlot> zero_file_slots(const std::vector<ParamInfo>& local,
                                        const ShardedLayout& moments, int file,
                                        int64_t block_begin) {
  std::vector<TensorSlot> slots;
  for (size_t i = 0; i < local.size(); ++i) {
    TensorSlot slot{local[i].name, {}, 0};
    for (const TensorPiece& piece : moments.tensors[i].pieces)
      if (piece.shard == file)
        slot = {local[i].name, piece.stored_shape(),
                local[i].offset + piece.flat_begin - block_begin};
    slots.push_back(std::move(slot));
  }
  return slots;
}

CheckpointSlices tensor_slices(const std::vector<ParamInfo>& local, int rank, int size,
                               const Partition* zero, int data_rank) {
  CheckpointSlices slices;
  for (const ParamInfo& p : local) {
    const TensorBlock block = shard_block(p, rank, size);
    slices.params.emplace_back(block);
    if (!zero) continue;
    const auto [from, to] = owned_part(p, *zero, data_rank);
    slices.moments.push_back(flat_range_blocks(block, from, to));  // none when from >= to
  }
  return slices;
}

}  // namespace gatedlm
