#include "gatedlm/model/shard_layout.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

namespace gatedlm {
namespace {

// The name of expert `to`'s copy of expert `from`'s parameter `name`: MoeLayer names experts'
// parameters "...experts.{e}.<tensor>".
std::string expert_name(const std::string& name, int64_t from, int64_t to) {
  const std::string mark = "experts." + std::to_string(from) + ".";
  const size_t at = name.rfind(mark);
  if (at == std::string::npos)
    throw std::logic_error("expert parameter " + name + " does not name expert " +
                           std::to_string(from));
  return name.substr(0, at) + "experts." + std::to_string(to) + "." + name.substr(at + mark.size());
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

std::vector<ParamInfo> whole_expert_infos(const std::vector<ParamInfo>& local, int rank, int size,
                                          int64_t per_rank) {
  std::vector<ParamInfo> whole;
  for (size_t i = 0; i < local.size();) {
    if (!local[i].routed_expert()) {
      whole.push_back(local[i++]);
      continue;
    }
    size_t end = i;
    while (end < local.size() && local[end].routed_expert()) ++end;
    for (int r = 0; r < size; ++r)
      for (size_t j = i; j < end; ++j) {
        ParamInfo p = local[j];
        const int64_t expert = p.spec.expert + (r - rank) * per_rank;
        p.name = expert_name(p.name, p.spec.expert, expert);
        p.spec.expert = expert;
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
  const ParamIndex index(whole);
  std::vector<float> cut(static_cast<size_t>(local.back().offset + local.back().numel()));
  for (const ParamInfo& p : local) {
    const float* src = whole_values.data() + index.at(p.name).offset;
    std::copy(src, src + p.numel(), cut.data() + p.offset);
  }
  return cut;
}

ParamIndex::ParamIndex(const std::vector<ParamInfo>& infos) {
  for (const ParamInfo& p : infos) by_name_[p.name] = &p;
}

const ParamInfo& ParamIndex::at(const std::string& name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) throw std::logic_error("shard layout: no whole tensor " + name);
  return *it->second;
}

}  // namespace gatedlm
