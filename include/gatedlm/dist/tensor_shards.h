// Tensor-parallel shards and whole tensors. A shard holds, of each split tensor, the block of
// the whole tensor along its split dimension (dist/tensor_parallel.h); replicated tensors whole.
// Checkpoints store each shard in its own file and map them into whole tensors
// (checkpoint/virtual_layout.h), and a resuming rank reads just its blocks, so a run resumes at
// any tensor-parallel size (docs/parallelism.md).
#pragma once

#include <vector>

#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/core/tensor_block.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

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

// How a checkpoint of `size` shards stores the whole model: each split tensor in `size` pieces,
// shard t's in shard file t; each replicated tensor once, in shard file 0.
ShardedLayout sharded_layout(const std::vector<ParamInfo>& local, int size);

}  // namespace gatedlm
