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

// One stored piece of a whole tensor, held by shard file `shard` (an index into
// ShardedLayout::files): the whole of `block`, stored in its shape, or, for a flat piece
// (flat_begin >= 0), elements [flat_begin, flat_end) of `block` in row-major order, stored 1-D
// (a ZeRO-1 rank's part of the moments, which cuts tensors anywhere).
struct TensorPiece {
  int shard = 0;
  TensorBlock block;
  int64_t flat_begin = -1, flat_end = -1;
  bool flat() const { return flat_begin >= 0; }
  Shape stored_shape() const { return flat() ? Shape{flat_end - flat_begin} : block.count; }
};
struct ShardedTensor {
  std::string name;
  Shape shape;  // the whole tensor's
  std::vector<TensorPiece> pieces;
};
// How shard files (names relative to model.h5) hold the model, tensor by tensor in declaration
// order.
struct ShardedLayout {
  std::vector<std::string> files;
  std::vector<ShardedTensor> tensors;
};

std::string shard_file_name(int shard, int shards);  // "model-tp00-of-02.h5"

// Writes shard `shard`'s pieces (model when `state` has parameters, AdamW moments when it has
// them) to a new file at `path` and closes it. `state` holds one slot per layout tensor, in
// layout order, of its piece's stored shape (any, for tensors without a piece in this shard).
// RuntimeFailure on any I/O error.
void write_shard_file(const std::string& path, const CheckpointState& state,
                      const ShardedLayout& layout, int shard);

// Writes `prefix + name` for every tensor of `layout` as a float32 virtual dataset over the
// shard files' `prefix + name` datasets (a flat piece through flat_range_blocks).
void write_virtual_tensors(H5File& file, const std::string& prefix, const ShardedLayout& layout);

// Reads `block` of the float32 tensor dataset `name` (plain or virtual) and verifies each stored
// dataset behind it whose first element lies in the block: from the block when it covers all
// that dataset maps, else by reading the dataset. The other stored datasets the block overlaps are
// verified by the readers whose blocks hold their first element. CheckpointCorrupt names the
// file and the dataset.
std::vector<float> read_verified_block(const H5File& file, const std::string& name,
                                       const TensorBlock& block);

// For `checkpoint verify`: each stored dataset behind virtual dataset `name`, read whole and
// checked, with the problem ("" = passes).
std::vector<std::pair<std::string, std::string>> verify_virtual_sources(const H5File& file,
                                                                        const std::string& name);

}  // namespace gatedlm
