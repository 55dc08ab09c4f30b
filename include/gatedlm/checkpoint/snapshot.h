// Between live training objects and CheckpointState: a snapshot copies parameters, AdamW
// moments, loader and progress state to host memory (so a background writer can take it while
// training goes on); restore puts a loaded state back.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "gatedlm/checkpoint/state.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/model/parameters.h"
#include "gatedlm/optim/adamw.h"

namespace gatedlm {

struct TrainingProgress {
  int64_t step = 0;
  int64_t tokens_seen = 0;
  double elapsed_s = 0.0;
  double last_lr = 0.0;
  int64_t total_steps = 0;
  uint64_t seed = 0;
};

using NamedLoaders = std::vector<std::pair<std::string, const BatchLoader*>>;

// Which AdamW moments a snapshot holds: the whole model's (gathered under ZeRO-1, a collective)
// or only this rank's ZeRO-1 block [owned_begin, owned_end), for saves where each rank writes its
// own moments (checkpoint/sharded_checkpoint.h).
enum class SnapshotMoments { whole, owned };

// Fills `into`, reusing its buffers when they already have the right size (no allocation, no
// page faults: the copy is the whole cost, which is an async save's stall).
void snapshot_training(ParameterSet& params, AdamW& optimizer, const TrainingProgress& progress,
                       const NamedLoaders& loaders, const std::string& config_yaml,
                       const ParallelLayout& layout, CheckpointState& into,
                       SnapshotMoments moments = SnapshotMoments::whole);

// Copies parameters, moments and AdamW's step back (the state must match the parameters' layout,
// as read_checkpoint_file checked; its moments are the whole model's or, with `moments` = owned,
// just this rank's ZeRO-1 block). Loaders are restored by the caller, which owns them.
void restore_training(const CheckpointState& state, ParameterSet& params, AdamW& optimizer,
                      SnapshotMoments moments = SnapshotMoments::whole);

}  // namespace gatedlm
