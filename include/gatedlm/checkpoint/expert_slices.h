// Checkpoints of expert-parallel runs hold every expert, whatever expert-parallel size wrote
// them, so a run resumes at any EP size (as checkpoint/tensor_slices.h does for tensor
// parallelism). Each expert rank writes its experts to a file of its own, which model.h5 maps
// into the whole model (expert_sharded_layout), and reads back just its own (expert_slices).
#pragma once

#include <cstdint>
#include <vector>

#include "gatedlm/checkpoint/format.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

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
