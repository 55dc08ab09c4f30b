// Checkpoints of tensor-parallel and ZeRO-1 runs. Each tensor-parallel shard stores its blocks
// (model/shard_layout.h) in its own file and model.h5 maps them into whole tensors
// (checkpoint/virtual_layout.h); under ZeRO-1 each data rank stores its block of the AdamW
// moments. A resuming rank reads just its blocks, so a run resumes at any tensor-parallel and
// data-parallel size (docs/parallelism.md).
#pragma once

#include <string>
#include <vector>

#include "gatedlm/checkpoint/format.h"
#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/comm/partition.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// How a checkpoint of `size` shards stores the whole model: each split tensor in `size` pieces,
// shard t's in shard file t; each replicated tensor once, in shard file 0.
ShardedLayout sharded_layout(const std::vector<ParamInfo>& local, int size);

// "moments-tp00-of-02-dp01-of-04.h5": the AdamW moments data rank `data` of tensor rank `tensor`
// owns under ZeRO-1.
std::string moment_file_name(int tensor, int tensors, int data, int datas);

// How ZeRO-1 ranks store the AdamW moments: data rank d of tensor rank t owns block d of
// `partition` of t's flat buffer (tensors of `local` back to back) and writes it to file
// t * datas + d, as one flat piece per tensor it overlaps; replicated tensors from t = 0 only.
ShardedLayout zero_moment_layout(const std::vector<ParamInfo>& local, int tensors,
                                 const Partition& partition);

// Data rank d's block of its tensor rank's moments (from element `block_begin` of the flat
// buffer) as slots of file `file` of the `moments` layout, for write_shard_file: each tensor's
// flat piece at its offset in the block; tensors without a piece in the file empty.
std::vector<TensorSlot> zero_file_slots(const std::vector<ParamInfo>& local,
                                        const ShardedLayout& moments, int file,
                                        int64_t block_begin);

// What tensor rank `rank` of `size` reads of a checkpoint: its shard's block of every tensor
// and, under ZeRO-1 (`zero`: the partition of its flat buffer), just data rank `data_rank`'s
// block of the moments (several blocks of a tensor where the block cuts it mid-row).
CheckpointSlices tensor_slices(const std::vector<ParamInfo>& local, int rank, int size,
                               const Partition* zero = nullptr, int data_rank = 0);

}  // namespace gatedlm
