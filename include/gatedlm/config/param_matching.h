// Parameter bookkeeping for the attention gate: its width, what it adds, and
// match_params_of_ungated (narrow the MLP so a gated model keeps its ungated twin's size, as in
// the paper's dense experiments).
#pragma once

#include <cstdint>

#include "gatedlm/config/config.h"

namespace gatedlm {

// Values per token the gate multiplies into (or adds to) the gated tensor; 0 without a gate.
// sdpa/query: H*D elementwise, H headwise; key/value: K*D or K; dense: hidden_size.
int64_t attention_gate_width(const ModelConfig& model);

// Parameters one layer gains over the ungated model: hidden_size * width for an input-dependent
// gate (width alone for a static one), plus head_dim for the per-head RMSNorm SDPA control.
int64_t extra_attention_parameters_per_layer(const ModelConfig& model);

// When model.match_params_of_ungated is set: narrows intermediate_size by
// round(extra / (3 * hidden_size)) (each SwiGLU MLP holds 3 * hidden * intermediate weights)
// and clears the flag, so the resolved config reloads to the same model. Throws InputError
// when the MLP would vanish.
void apply_param_matching(Config& config);

}  // namespace gatedlm
