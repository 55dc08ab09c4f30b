// Everything a checkpoint holds, as plain host data: what training needs to continue bit for
// bit, and what a reader needs to know where it came from. Filled from live training objects
// by checkpoint/snapshot.h, written and read by checkpoint/format.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gatedlm/core/tensor.h"
#include "gatedlm/data/loader.h"

namespace gatedlm {

// One parameter: its Hugging Face name, shape and element offset into the flat buffers.
struct TensorSlot {
  std::string name;
  Shape shape;
  int64_t offset = 0;
};

// How the writing run was laid out over processes. Single-process runs are 1 everywhere.
struct ParallelLayout {
  int64_t world_size = 1;
  int64_t tensor = 1;
  int64_t data = 1;
  int64_t expert = 1;
  int64_t zero = 0;
};

struct CheckpointState {
  int64_t step = 0;  // training steps completed (the next step to run is step + 1)
  int64_t tokens_seen = 0;
  double elapsed_s = 0.0;  // training wall time, summed over every session of the run

  std::vector<TensorSlot> tensors;  // in model declaration order; offsets index the buffers
  std::vector<float> params;
  std::vector<float> exp_avg;     // AdamW first moments, same layout; empty when absent
  std::vector<float> exp_avg_sq;  // AdamW second moments
  int64_t optimizer_step = 0;     // AdamW's bias-correction count (skipped steps do not count)

  // The LR is a pure function of (config.scheduler, step, total_steps); these record it.
  int64_t schedule_total_steps = 0;
  double last_lr = 0.0;

  uint64_t seed = 0;
  std::vector<std::pair<std::string, LoaderState>> loaders;  // "train", "val"
  // RNG streams owned by the trainer itself (the data stream lives in its loader's state).
  std::vector<std::pair<std::string, std::array<uint64_t, 4>>> rng_streams;

  std::string config_yaml;  // the fully resolved config
  ParallelLayout layout;

  // Provenance, filled on write from the build and the clock; read back for inspection.
  std::string gatedlm_version;
  std::string git_commit;
  std::string created_utc;

  int64_t numel() const { return static_cast<int64_t>(params.size()); }
  const LoaderState* loader(const std::string& name) const;
};

}  // namespace gatedlm
