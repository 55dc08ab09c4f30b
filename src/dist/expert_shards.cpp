#include "gatedlm/dist/expert_shards.h"

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

void gather_expert_shards(CheckpointState& state, const std::vector<ParamInfo>& local,
                          Communicator& expert, Backend& backend, int64_t per_rank) {
  const int size = expert.size(), rank = expert.rank();
  if (size == 1) return;
  const std::vector<ParamInfo> whole = whole_expert_infos(local, rank, size, per_rank);
  const auto index = by_name(whole);
  const int64_t n = state.numel(), whole_n = whole.back().offset + whole.back().numel();
  // One all-gather of every rank's flat buffer (on the device: NCCL needs device memory).
  Tensor all = backend.empty({size * n});
  std::vector<float> shards(static_cast<size_t>(size * n)), assembled;
  for (std::vector<float>* buffer : {&state.params, &state.exp_avg, &state.exp_avg_sq}) {
    backend.from_host(all.data() + rank * n, buffer->data(), n);
    expert.all_gather(all.data(), std::vector<int64_t>(size, n));
    backend.to_host(shards.data(), all.data(), size * n);
    assembled.assign(static_cast<size_t>(whole_n), 0.0f);
    for (int r = 0; r < size; ++r)
      for (const ParamInfo& p : local) {
        const bool is_expert = routed_expert_index(p.name) >= 0;
        if (!is_expert && r != rank) continue;  // replicated: this rank's copy
        const std::string name = is_expert ? renumber(p.name, (r - rank) * per_rank) : p.name;
        const float* src = shards.data() + r * n + p.offset;
        std::copy(src, src + p.numel(), assembled.data() + find(index, name).offset);
      }
    buffer->swap(assembled);
  }
  state.tensors.clear();
  for (const ParamInfo& p : whole) state.tensors.push_back({p.name, p.shape, p.offset});
}

void cut_expert_shard(CheckpointState& state, const std::vector<ParamInfo>& local, int rank,
                      int size, int64_t per_rank) {
  if (size == 1) return;
  const std::vector<ParamInfo> whole = whole_expert_infos(local, rank, size, per_rank);
  for (std::vector<float>* buffer : {&state.params, &state.exp_avg, &state.exp_avg_sq})
    *buffer = cut_expert_values(*buffer, whole, local);
  state.tensors.clear();
  for (const ParamInfo& p : local) state.tensors.push_back({p.name, p.shape, p.offset});
}

}  // namespace gatedlm
