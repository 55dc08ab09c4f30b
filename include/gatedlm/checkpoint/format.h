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

// Reads `path`, verifying every checksum it reads. With `expected` (a live model's parameters),
// the stored tensors must match them by name and shape: the first difference, in model order, is
// an InputError naming that tensor. `with_optimizer` = false reads only the model (eval, export).
// With `blocks` (one per expected tensor: a tensor-parallel rank's slices), only those blocks
// are read, and the state holds them as its tensors.
CheckpointState read_checkpoint_file(const std::string& path,
                                     const std::vector<ParamInfo>* expected,
                                     bool with_optimizer = true,
                                     const std::vector<TensorBlock>* blocks = nullptr);

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
