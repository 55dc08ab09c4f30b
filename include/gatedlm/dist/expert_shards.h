// Checkpoints hold every expert, whatever expert-parallel size wrote them, so a run resumes at
// any EP size (as dist/tensor_shards.h does for tensor parallelism). Rank r of an expert group of
// size p holds experts [r E/p, (r+1) E/p) of every MoE layer, under their global names
// (mlp.experts.{e}.*), in the place the whole model declares all E; everything else is
// replicated. A snapshot is gathered to the whole model before writing and a loaded whole state
// is cut to this rank's experts, by name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/dist/communicator.h"
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

// Collective over the expert group: `state` (this rank's parameters and moments) becomes the
// whole model's, on every rank of the group.
void gather_expert_shards(CheckpointState& state, const std::vector<ParamInfo>& local,
                          Communicator& expert, Backend& backend, int64_t per_rank);

// Cuts a whole-model `state` to rank `rank`'s experts (parameters and moments).
void cut_expert_shard(CheckpointState& state, const std::vector<ParamInfo>& local, int rank,
                      int size, int64_t per_rank);

}  // namespace gatedlm
