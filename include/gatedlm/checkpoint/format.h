// The model.h5 layout (docs/checkpoints.md): one HDF5 file per checkpoint holding
//   model/<HF name>                   float32, full tensors (h5py-readable as is; virtual
//                                     datasets over per-rank shard files under TP)
//   optimizer/exp_avg/<HF name>       float32, AdamW first moments
//   optimizer/exp_avg_sq/<HF name>    float32, AdamW second moments
//   optimizer/step                    int64 scalar
//   train/{step, tokens_seen}         int64 scalars; train/elapsed_s float64 scalar
//   scheduler/{total_steps, last_lr}  int64 / float64 scalars
//   rng/seed                          uint64 scalar; rng/<stream> uint64[4] (xoshiro256**)
//   data/<loader>/{rng, epoch, cursor, batches_served} (a missing epoch reads as 0)
//   config_yaml                       string scalar: the resolved config
// with provenance as attributes on the root group. Every dataset carries an xxh3_64 checksum.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gatedlm/checkpoint/state.h"
#include "gatedlm/core/error.h"
#include "gatedlm/core/tensor_block.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

inline constexpr const char* kCheckpointFormat = "gatedlm-checkpoint";
// 2: every group records its link count (H5File::list checks it); 1 is still read.
inline constexpr int64_t kCheckpointFormatVersion = 2;
// The groups of float32 tensors, each holding every parameter by name.
inline constexpr const char* kModelPrefix = "model/";
inline constexpr const char* kExpAvgPrefix = "optimizer/exp_avg/";
inline constexpr const char* kExpAvgSqPrefix = "optimizer/exp_avg_sq/";

struct ShardedLayout;

// A checkpoint whose bytes are damaged: unreadable, truncated, or failing a checksum. Auto-resume
// falls back past these; any other InputError (e.g. a model shape mismatch) stops it.
class CheckpointCorrupt : public InputError {
 public:
  explicit CheckpointCorrupt(const std::string& message) : InputError(message) {}
};

// Writes `state` to a new file at `path` and closes it; RuntimeFailure on any I/O error. With
// `sharded`, the tensors are virtual datasets over the shard files of that layout
// (checkpoint/virtual_layout.h), which the ranks write beside it, and `state`'s own tensors are
// not written here; the AdamW moments map `sharded_moments` instead when given (ZeRO-1's flat
// pieces).
void write_checkpoint_file(const std::string& path, const CheckpointState& state,
                           const ShardedLayout* sharded = nullptr,
                           const ShardedLayout* sharded_moments = nullptr);

// What one rank reads of a checkpoint's whole tensors, one entry per expected tensor:
// - `params`: the block of it this rank holds (a tensor-parallel shard's slice, or the whole
//   tensor), or none (another expert-parallel rank's expert), which leaves it out of the state;
// - `moments`: the blocks of its AdamW moments, packed in order into the state's moment buffers
//   (a ZeRO-1 rank's part of its flat buffer, which cuts tensors anywhere). Empty: the same as
//   `params` (each tensor's block, where the state's slots say).
struct CheckpointSlices {
  std::vector<std::optional<TensorBlock>> params;
  std::vector<std::vector<TensorBlock>> moments;
};

// Reads `path`, verifying every checksum it reads. With `expected` (a live model's parameters),
// the stored tensors must match them by name and shape: the first difference, in model order, is
// an InputError naming that tensor. `with_optimizer` = false reads only the model (eval, export).
// With `slices`, only those are read (and verified), and the state's tensors are the blocks held.
CheckpointState read_checkpoint_file(const std::string& path,
                                     const std::vector<ParamInfo>* expected,
                                     bool with_optimizer = true,
                                     const CheckpointSlices* slices = nullptr);

// Just the resolved config text, verified.
std::string read_checkpoint_config(const std::string& path);

struct DatasetCheck {
  std::string dataset;
  std::string problem;  // "" = passes
};
// Checks every dataset in the file against its checksum, and that the required ones exist. An
// unreadable file yields one entry with an empty dataset name.
std::vector<DatasetCheck> verify_checkpoint_file(const std::string& path);

}  // namespace gatedlm
