// How a shard's parameters sit in the whole model's. Under tensor parallelism a shard holds, of
// each split tensor, its block along the split dimension and replicated tensors whole; under
// expert parallelism rank r of p holds experts [r E/p, (r+1) E/p) of every MoE layer under
// their global names (mlp.experts.{e}.*), in the place the whole model declares all E. Weight
// initialisation draws the whole model and cuts each shard's part from it (so every layout
// trains the same), and checkpoints store whole tensors (checkpoint/tensor_slices.h,
// checkpoint/expert_slices.h).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "gatedlm/core/tensor_block.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// ---- tensor parallelism ----
// The whole model's tensors for a shard's `local` ones: split dimensions multiplied by
// `tensor`, offsets recomputed in declaration order.
std::vector<ParamInfo> whole_model_infos(const std::vector<ParamInfo>& local, int tensor);

// Where shard `rank` of `size` lies in the whole tensor of local tensor `p`.
TensorBlock shard_block(const ParamInfo& p, int rank, int size);
// Shard `rank`'s block of every tensor, in declaration order.
std::vector<TensorBlock> shard_blocks(const std::vector<ParamInfo>& local, int rank, int size);

// Cuts whole-model values (laid out as whole_model_infos(local, size)) to shard `rank`.
std::vector<float> cut_shard_values(const std::vector<float>& whole,
                                    const std::vector<ParamInfo>& local, int rank, int size);

// ---- expert parallelism ----
// The whole model's tensors for rank `rank`'s `local` ones: each run of local routed-expert
// tensors (ParamInfo::routed_expert) becomes the runs of all `size` ranks (per_rank experts
// each, named and numbered as theirs), offsets recomputed.
std::vector<ParamInfo> whole_expert_infos(const std::vector<ParamInfo>& local, int rank, int size,
                                          int64_t per_rank);

// The values of the `local` tensors out of whole-model values laid out as `whole`.
std::vector<float> cut_expert_values(const std::vector<float>& whole_values,
                                     const std::vector<ParamInfo>& whole,
                                     const std::vector<ParamInfo>& local);

// The tensors of one layout by name, to find a tensor of another layout in it (the infos must
// outlive the index).
class ParamIndex {
 public:
  explicit ParamIndex(const std::vector<ParamInfo>& infos);
  const ParamInfo& at(const std::string& name) const;  // std::logic_error when absent

 private:
  std::unordered_map<std::string, const ParamInfo*> by_name_;
};

}  // namespace gatedlm
