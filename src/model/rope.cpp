#include "gatedlm/model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

// The dimension index whose wavelength makes `rotations` full turns over `max_pos` tokens
// (YaRN eq. for d(r)); fractional.
double correction_dim(double rotations, int64_t dim, double theta, double max_pos) {
  return static_cast<double>(dim) * std::log(max_pos / (rotations * 2.0 * std::numbers::pi)) /
         (2.0 * std::log(theta));
}

// 0.1 ln(s) + 1: the paper's sqrt(1/t), applied to both q and k through cos/sin.
double yarn_mscale(double factor) { return factor <= 1.0 ? 1.0 : 0.1 * std::log(factor) + 1.0; }

}  // namespace

RopeParameters compute_rope_parameters(int64_t dim, double theta,
                                       const std::optional<RopeScalingConfig>& scaling,
                                       int64_t seq_len, bool truncate) {
  const int64_t half = dim / 2;
  RopeParameters p;
  p.inv_freq.resize(static_cast<size_t>(half));
  auto base_inv_freq = [&](double base, int64_t i) {
    return std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(dim));
  };
  const std::string type = scaling ? scaling->type : "";
  if (type.empty() || type == "none" || type == "default") {
    for (int64_t i = 0; i < half; ++i) p.inv_freq[i] = base_inv_freq(theta, i);
    return p;
  }
  const RopeScalingConfig& s = *scaling;
  if (type == "linear") {
    // Position interpolation: positions divided by factor at every frequency.
    for (int64_t i = 0; i < half; ++i) p.inv_freq[i] = base_inv_freq(theta, i) / s.factor;
    return p;
  }
  if (type == "dynamic") {
    // NTK-aware base that grows with the current length. HF uses max(seq_len, original), so
    // windows no longer than the original length keep the unscaled frequencies.
    if (s.original_max_position_embeddings <= 0)
      throw InputError(
          "model.rope_scaling: type dynamic needs original_max_position_embeddings > 0");
    const double orig = static_cast<double>(s.original_max_position_embeddings);
    const double len = std::max(static_cast<double>(seq_len), orig);
    const double d = static_cast<double>(dim);
    const double base = theta * std::pow(s.factor * len / orig - (s.factor - 1.0), d / (d - 2.0));
    for (int64_t i = 0; i < half; ++i) p.inv_freq[i] = base_inv_freq(base, i);
    return p;
  }
  if (type == "yarn") {
    if (s.original_max_position_embeddings <= 0)
      throw InputError("model.rope_scaling: type yarn needs original_max_position_embeddings > 0");
    const double orig = static_cast<double>(s.original_max_position_embeddings);
    // beta_fast (many rotations) bounds the high-frequency dims kept as they are; beta_slow
    // (few rotations) bounds the low-frequency dims fully interpolated.
    double low = correction_dim(s.beta_fast, dim, theta, orig);
    double high = correction_dim(s.beta_slow, dim, theta, orig);
    if (truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;  // HF: avoids a division by zero in the ramp
    for (int64_t i = 0; i < half; ++i) {
      const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
      const double extrapolated = base_inv_freq(theta, i);
      const double interpolated = extrapolated / s.factor;
      // ramp 0 -> keep (extrapolate), ramp 1 -> interpolate.
      p.inv_freq[i] = interpolated * ramp + extrapolated * (1.0 - ramp);
    }
    p.attention_scaling = yarn_mscale(s.factor);
    return p;
  }
  throw InputError("model.rope_scaling.type: expected yarn, linear or dynamic, got '" + type + "'");
}

void build_rope_tables(const RopeParameters& p, int64_t seq_len, std::vector<float>& cos_out,
                       std::vector<float>& sin_out) {
  const int64_t half = static_cast<int64_t>(p.inv_freq.size());
  cos_out.assign(static_cast<size_t>(seq_len * half), 0.0f);
  sin_out.assign(static_cast<size_t>(seq_len * half), 0.0f);
  for (int64_t t = 0; t < seq_len; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(t) * p.inv_freq[i];
      cos_out[t * half + i] = static_cast<float>(std::cos(angle) * p.attention_scaling);
      sin_out[t * half + i] = static_cast<float>(std::sin(angle) * p.attention_scaling);
    }
  }
}

}  // namespace gatedlm
