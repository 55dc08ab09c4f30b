#include "gatedlm/checkpoint/expert_slices.h"

#include <fmt/format.h>

#include "gatedlm/model/shard_layout.h"

namespace gatedlm {

ShardedLayout expert_sharded_layout(const std::vector<ParamInfo>& local, int rank, int size,
                                    int64_t per_rank) {
  ShardedLayout layout;
  for (int r = 0; r < size; ++r)
    layout.files.push_back(fmt::format("model-ep{:02d}-of-{:02d}.h5", r, size));
  for (const ParamInfo& p : whole_expert_infos(local, rank, size, per_rank)) {
    const int owner = p.routed_expert() ? static_cast<int>(p.spec.expert / per_rank) : 0;
    layout.tensors.push_back({p.name, p.shape, {{owner, whole_block(p.shape)}}});
  }
  return layout;
}

std::vector<TensorSlot> expert_file_slots(const std::vector<ParamInfo>& local,
                                          const ShardedLayout& layout, int rank) {
  const ParamIndex index(local);
  std::vector<TensorSlot> slots;
  for (const ShardedTensor& t : layout.tensors) {
    const bool here = t.pieces.front().shard == rank;
    slots.push_back(here ? TensorSlot{t.name, t.shape, index.at(t.name).offset}
                         : TensorSlot{t.name, {}, 0});
  }
  return slots;
}

CheckpointSlices expert_slices(const std::vector<ParamInfo>& whole, int rank, int64_t per_rank) {
  CheckpointSlices slices;
  for (const ParamInfo& p : whole) {
    if (!p.routed_expert() || p.spec.expert / per_rank == rank)
      slices.params.emplace_back(whole_block(p.shape));
    else
      slices.params.emplace_back(std::nullopt);
  }
  return slices;
}

}  // namespace gatedlm
