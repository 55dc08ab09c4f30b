// Continuing a run with a new rope_theta, rope_scaling or train.seq_len (the paper raises theta
// and the context length before extending it; docs/rope-scaling.md): none is a tensor, so the
// checkpoint loads; the change is logged, and for a new seq_len the data loaders' positions,
// counted in windows of the old length, are moved to the same fraction of their epoch.
#pragma once

#include <string>
#include <vector>

#include "gatedlm/checkpoint/state.h"
#include "gatedlm/config/config.h"

namespace gatedlm {

// One line per changed key ("model.rope_theta 10000 -> 100000"); empty when nothing changed or
// the checkpoint's config cannot be read. Adjusts `state.loaders` for a changed seq_len.
std::vector<std::string> apply_resume_changes(CheckpointState& state, const Config& current);

}  // namespace gatedlm
