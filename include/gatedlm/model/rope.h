// RoPE inverse frequencies and attention scaling for the `model.rope_scaling` types, following
// Hugging Face transformers' modeling_rope_utils.py (default, linear, dynamic, yarn) and the
// YaRN paper (Peng et al., 2023). docs/rope-scaling.md has the formulas.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gatedlm/config/config.h"

namespace gatedlm {

struct RopeParameters {
  std::vector<double> inv_freq;    // [head_dim / 2]
  double attention_scaling = 1.0;  // multiplies cos and sin (so q.k scales by its square)
};

// dim = head_dim (no partial rotary). seq_len is the window length the tables are built for;
// only `dynamic` depends on it. `truncate` is HF's yarn flag (floor/ceil the correction range);
// gatedlm's config has no key for it, so models always use the default, true.
// Throws InputError for an unknown type or a dynamic scaling without
// original_max_position_embeddings.
RopeParameters compute_rope_parameters(int64_t dim, double theta,
                                       const std::optional<RopeScalingConfig>& scaling,
                                       int64_t seq_len, bool truncate = true);

// cos/sin tables [seq_len, dim/2], row t = cos(t * inv_freq) * attention_scaling (likewise sin).
// Angles are computed in double and rounded once to float.
void build_rope_tables(const RopeParameters& p, int64_t seq_len, std::vector<float>& cos_out,
                       std::vector<float>& sin_out);

}  // namespace gatedlm
