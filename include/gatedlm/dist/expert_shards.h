// Checkpoints hold every expert, whatever expert-parallel size wrote them, so a run resumes at
// any EP size (as dist/tensor_shards.h does for tensor parallelism). Rank r of an expert group of
// size p holds experts [r E/p, (r+1) E/p) of every MoE layer, under their global names
// (mlp.experts.{e}.*), in the place the whole model declares all E; everything else is
// replicated. Each expert rank writes its experts to a file of its own, which model.h5 maps into
// the whole model (expert_sharded_layout), and reads back just its own (expert_slices).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gatedlm/checkpoint/format.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// The routed expert a parameter belongs to (its e in mlp.experts.{e}.), or -1.
int64_t routed_expert_index(const std::string& name);

// The whole model's tensors for rank `rank`'s `local` ones: each run of local expert tensors
// becomes the runs of all `size` ranks (per_rank experts each), offsets recomputed.
std::vector<ParamInfo> whole_expert_infos(const std::vector<ParamInfo>& local, int rank, int size,
                                          int64_t per_rank);

// The values of the `local` tensors out of whole-model values laid out as `whole`.
std::vector<float> cut_expert_values(const std::vector<float>& whole_values,
                                     const std::vector<ParamInfo>& whole,
                                     const std::vector<ParamInfo>& local);

// How a checkpoint written by `size` expert-parallel ranks stores the whole model (`local`: rank
// `rank`'s tensors; every rank gets the same layout): each routed expert's tensors whole in its
// rank's file "model-epRR-of-PP.h5", everything else (replicated) in rank 0's; tensors in the
// whole model's order (checkpoint/virtual_layout.h).
ShardedLayout expert_sharded_layout(const std::vector<ParamInfo>& local, int rank, int size,
                                    int64_t per_rank);

// Rank `rank`'s `local` tensors as slots of `layout`'s tensors (what write_shard_file takes for
// file `rank`): each tensor of that file at its local offset, the others empty.
std::vector<TensorSlot> expert_file_slots(const std::vector<ParamInfo>& local,
                                          const ShardedLayout& layout, int rank);

// What expert rank `rank` reads of a checkpoint of the whole model `whole` (whole_expert_infos):
// the replicated tensors and its own experts, whole, with their moments; no other rank's
// experts. The state read holds the rank's local tensors, in their order.
CheckpointSlices expert_slices(const std::vector<ParamInfo>& whole, int rank, int64_t per_rank);

}  // namespace gatedlm
