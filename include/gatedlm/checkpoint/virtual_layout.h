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

// The values a shard file holds, in flat buffers: what is null is not in the file (the
// parameters in a ZeRO-1 moments file, the moments in a ZeRO-1 model file or a model without
// optimizer state).
struct ShardValues {
  const float* params = nullptr;
  const float* exp_avg = nullptr;
  const float* exp_avg_sq = nullptr;
};

// Writes shard `shard`'s pieces to a new file at `path` and closes it. `slots` hold one entry per
// layout tensor, in layout order: its piece's stored shape and offset into `values`' buffers (any
// shape, for tensors without a piece in this shard). RuntimeFailure on any I/O error.
void write_shard_file(const std::string& path, int64_t step, const std::vector<TensorSlot>& slots,
                      const ShardValues& values, const ShardedLayout& layout, int shard);

// Writes `prefix + name` for every tensor of `layout` as a float32 virtual dataset over the
// shard files' `prefix + name` datasets (a flat piece through flat_range_blocks).
void write_virtual_tensors(H5File& file, const std::string& prefix, const ShardedLayout& layout);

// Reads `blocks` of the float32 tensor dataset `name` (plain or virtual), packed in order, and
// verifies each stored dataset behind them whose first element lies in one of them: from the
// blocks when each of its mappings lies inside one, else by reading the dataset. The other stored
// datasets they overlap are verified by the readers whose blocks hold their first element.
// CheckpointCorrupt names the file and the dataset.
std::vector<float> read_verified_blocks(const H5File& file, const std::string& name,
                                        const std::vector<TensorBlock>& blocks);
inline std::vector<float> read_verified_block(const H5File& file, const std::string& name,
                                              const TensorBlock& block) {
  return read_verified_blocks(file, name, {block});
}

// For `checkpoint verify`: each stored dataset behind virtual dataset `name`, read whole and
// checked, with the problem ("" = passes).
std::vector<std::pair<std::string, std::string>> verify_virtual_sources(const H5File& file,
                                                                        const std::string& name);

}  // namespace gatedlm
