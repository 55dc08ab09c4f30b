#include "gatedlm/dist/tensor_shards.h"

#include <algorithm>

namespace gatedlm {

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

TensorBlock shard_block(const ParamInfo& p, int rank, int size) {
  TensorBlock block = whole_block(p.shape);
  if (p.split_dim >= 0 && size > 1) block.start[p.split_dim] = rank * p.shape[p.split_dim];
  return block;
}

std::vector<TensorBlock> shard_blocks(const std::vector<ParamInfo>& local, int rank, int size) {
  std::vector<TensorBlock> blocks;
  for (const ParamInfo& p : local) blocks.push_back(shard_block(p, rank, size));
  return blocks;
}

std::vector<float> cut_shard_values(const std::vector<float>& whole_values,
                                    const std::vector<ParamInfo>& local, int rank, int size) {
  const std::vector<ParamInfo> whole = whole_model_infos(local, size);
  std::vector<float> cut(static_cast<size_t>(local.back().offset + local.back().numel()));
  for (size_t i = 0; i < local.size(); ++i)
    for_each_block_run(whole[i].shape, shard_block(local[i], rank, size),
                       [&](int64_t at_whole, int64_t at_local, int64_t len) {
                         const float* src = whole_values.data() + whole[i].offset + at_whole;
                         std::copy(src, src + len, cut.data() + local[i].offset + at_local);
                       });
  return cut;
}

ShardedLayout sharded_layout(const std::vector<ParamInfo>& local, int size) {
  ShardedLayout layout;
  layout.shards = size;
  const std::vector<ParamInfo> whole = whole_model_infos(local, size);
  for (size_t i = 0; i < local.size(); ++i) {
    ShardedTensor tensor{local[i].name, whole[i].shape, {}};
    const int pieces = local[i].split_dim >= 0 ? size : 1;
    for (int t = 0; t < pieces; ++t) tensor.pieces.push_back({t, shard_block(local[i], t, size)});
    layout.tensors.push_back(std::move(tensor));
  }
  return layout;
}

}  // namespace gatedlm
