// Checkpoints written by several ranks (docs/checkpoints.md, "Multi-rank checkpoints"): each
// tensor-parallel rank writes its shard's tensors to a shard file of its own, and model.h5's
// tensor datasets are HDF5 virtual datasets that map the shard files' datasets into whole
// tensors (source files named relative to model.h5, so the directory can move). Readers read
// blocks (hyperslabs) of whole tensors, plain or virtual alike, and verify the stored datasets
// behind them against their checksums.
#pragma once

#include <string>
#include <vector>

#include "gatedlm/checkpoint/h5_file.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/core/tensor_block.h"

namespace gatedlm {

// One stored piece of a whole tensor: `block` of it, held whole by shard file `shard`.
struct TensorPiece {
  int shard = 0;
  TensorBlock block;
};
struct ShardedTensor {
  std::string name;
  Shape shape;  // the whole tensor's
  std::vector<TensorPiece> pieces;
};
// How `shards` shard files hold the model, tensor by tensor in declaration order.
struct ShardedLayout {
  int shards = 0;
  std::vector<ShardedTensor> tensors;
};

std::string shard_file_name(int shard, int shards);  // "model-tp00-of-02.h5"

// Writes shard `shard`'s pieces (model, and AdamW moments when `state` has them) to a new file
// at `path` and closes it. `state` holds that shard's tensors in layout order, each the shape
// of its piece. RuntimeFailure on any I/O error.
void write_shard_file(const std::string& path, const CheckpointState& state,
                      const ShardedLayout& layout, int shard);

// Writes `prefix + name` for every tensor of `layout` as a float32 virtual dataset over the
// shard files' `prefix + name` datasets.
void write_virtual_tensors(H5File& file, const std::string& prefix, const ShardedLayout& layout);

// Reads `block` of the float32 tensor dataset `name` (plain or virtual) and verifies each stored
// dataset behind it whose first element lies in the block: from the block when it covers that
// dataset whole, else by reading the dataset. The other stored datasets the block overlaps are
// verified by the readers whose blocks hold their first element. CheckpointCorrupt names the
// file and the dataset.
std::vector<float> read_verified_block(const H5File& file, const std::string& name,
                                       const TensorBlock& block);

// For `checkpoint verify`: each stored dataset behind virtual dataset `name`, read whole and
// checked, with the problem ("" = passes).
std::vector<std::pair<std::string, std::string>> verify_virtual_sources(const H5File& file,
                                                                        const std::string& name);

}  // namespace gatedlm
