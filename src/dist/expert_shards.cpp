#include "gatedlm/dist/expert_shards.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

namespace gatedlm {
namespace {

constexpr const char* kExperts = "mlp.experts.";

// `name` with its expert index moved by `shift` (a name of another rank's expert).
std::string renumber(const std::string& name, int64_t shift) {
  const size_t begin = name.find(kExperts) + std::strlen(kExperts), end = name.find('.', begin);
  return name.substr(0, begin) +
         std::to_string(std::stoll(name.substr(begin, end - begin)) + shift) + name.substr(end);
}

std::unordered_map<std::string, const ParamInfo*> by_name(const std::vector<ParamInfo>& infos) {
  std::unordered_map<std::string, const ParamInfo*> index;
  for (const ParamInfo& p : infos) index[p.name] = &p;
  return index;
}

const ParamInfo& find(const std::unordered_map<std::string, const ParamInfo*>& index,
                      const std::string& name) {
  const auto it = index.find(name);
  if (it == index.end()) throw std::logic_error("expert shards: no whole tensor " + name);
  return *it->second;
}

}  // namespace

int64_t routed_expert_index(const std::string& name) {
  const size_t at = name.find(kExperts);
  if (at == std::string::npos) return -1;
  const size_t begin = at + std::strlen(kExperts), end = name.find('.', begin);
  if (end == std::string::npos || end == begin) return -1;
  return std::stoll(name.substr(begin, end - begin));
}

std::vector<ParamInfo> whole_expert_infos(const std::vector<ParamInfo>& local, int rank, int size,
                                          int64_t per_rank) {
  std::vector<ParamInfo> whole;
  for (size_t i = 0; i < local.size();) {
    if (routed_expert_index(local[i].name) < 0) {
      whole.push_back(local[i++]);
      continue;
    }
    size_t end = i;
    while (end < local.size() && routed_expert_index(local[end].name) >= 0) ++end;
    for (int r = 0; r < size; ++r)
      for (size_t j = i; j < end; ++j) {
        ParamInfo p = local[j];
        p.name = renumber(p.name, (r - rank) * per_rank);
        whole.push_back(p);
      }
    i = end;
  }
  int64_t offset = 0;
  for (ParamInfo& p : whole) {
    p.offset = offset;
    offset += p.numel();
  }
  return whole;
}

std::vector<float> cut_expert_values(const std::vector<float>& whole_values,
                                     const std::vector<ParamInfo>& whole,
                                     const std::vector<ParamInfo>& local) {
  const auto index = by_name(whole);
  std::vector<float> cut(static_cast<size_t>(local.back().offset + local.back().numel()));
  for (const ParamInfo& p : local) {
    const float* src = whole_values.data() + find(index, p.name).offset;
    std::copy(src, src + p.numel(), cut.data() + p.offset);
  }
  return cut;
}

ShardedLayout expert_sharded_layout(const std::vector<ParamInfo>& local, int rank, int size,
                                    int64_t per_rank) {
  ShardedLayout layout;
  for (int r = 0; r < size; ++r)
    layout.files.push_back(fmt::format("model-ep{:02d}-of-{:02d}.h5", r, size));
  for (const ParamInfo& p : whole_expert_infos(local, rank, size, per_rank)) {
    const int64_t expert = routed_expert_index(p.name);
    const int owner = expert < 0 ? 0 : static_cast<int>(expert / per_rank);
    layout.tensors.push_back({p.name, p.shape, {{owner, whole_block(p.shape)}}});
  }
  return layout;
}

std::vector<TensorSlot> expert_file_slots(const std::vector<ParamInfo>& local,
                                          const ShardedLayout& layout, int rank) {
  const auto index = by_name(local);
  std::vector<TensorSlot> slots;
  for (const ShardedTensor& t : layout.tensors) {
    const bool here = t.pieces.front().shard == rank;
    slots.push_back(here ? TensorSlot{t.name, t.shape, find(index, t.name).offset}
                         : TensorSlot{t.name, {}, 0});
  }
  return slots;
}

CheckpointSlices expert_slices(const std::vector<ParamInfo>& whole, int rank, int64_t per_rank) {
  CheckpointSlices slices;
  for (const ParamInfo& p : whole) {
    const int64_t expert = routed_expert_index(p.name);
    if (expert < 0 || expert / per_rank == rank)
      slices.params.emplace_back(whole_block(p.shape));
    else
      slices.params.emplace_back(std::nullopt);
  }
  return slices;
}

}  // namespace gatedlm
