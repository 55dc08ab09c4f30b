// Checkpoints hold whole tensors, whatever layout wrote them, so a run resumes at any tensor-
// parallel size: a shard's snapshot is gathered to the whole model before writing, and a loaded
// whole-model state is cut to the shard before restoring. (A gather to every rank of the tensor
// group; per-rank shard files are a later step, see docs/parallelism.md.)
#pragma once

#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/dist/communicator.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// The whole model's tensors for a shard's `local` ones: split dimensions multiplied by
// `tensor`, offsets recomputed in declaration order.
std::vector<ParamInfo> whole_model_infos(const std::vector<ParamInfo>& local, int tensor);

// Collective over the tensor group: `state` (a snapshot of this shard's parameters and
// moments) becomes the whole model's, on every rank of the group.
void gather_tensor_shards(CheckpointState& state, const std::vector<ParamInfo>& local,
                          Communicator& tensor, Backend& backend);

// Cuts whole-model values (laid out as whole_model_infos(local, size)) to shard `rank`.
std::vector<float> cut_shard_values(const std::vector<float>& whole,
                                    const std::vector<ParamInfo>& local, int rank, int size);

// Cuts a whole-model `state` to shard `rank` of `size` (parameters and moments).
void cut_tensor_shard(CheckpointState& state, const std::vector<ParamInfo>& local, int rank,
                      int size);

}  // namespace gatedlm
