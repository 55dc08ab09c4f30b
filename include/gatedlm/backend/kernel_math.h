// Per-element math shared by the CPU loops and the CUDA kernels (nvcc compiles it for both), so
// the two backends evaluate the same formulas in the same order: activations, one gate score,
// SwiGLU, the MoE router rows and the AdamW update.
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "gatedlm/backend/backend.h"

namespace gatedlm {

// 2^n for an integer n in [-126, 127], from its exponent bits.
GATEDLM_HOST_DEVICE inline float exp2_integer(int32_t n) {
  return bits_float(static_cast<uint32_t>((n + 127) << 23));
}

// exp(x) in float without branches or calls, so the loops that use it vectorise (glibc's expf is
// one call per element): x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two, Cody-Waite), then
// exp(r) by Cephes expf's polynomial, scaled by 2^n in two normal factors. Within 2 ulp of exp
// over the normal range (tests/unit/test_kernel_math.cpp); results below FLT_MIN are 0, above
// FLT_MAX +inf, and NaN stays NaN.
GATEDLM_HOST_DEVICE inline float exp_f32(float x) {
  constexpr float kLowest = -87.3365447f;  // ln(FLT_MIN)
  constexpr float kHighest = 88.7228391f;  // ln(FLT_MAX)
  const float clamped = x < kLowest ? kLowest : (x > kHighest ? kHighest : x);
  const float n = rintf(clamped * 1.44269504088896341f);  // nearest (floorf does not vectorise)
  float r = clamped - n * 0.693359375f;  // ln2 = 0.693359375 - 2.12194440e-4, exactly split
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const int32_t whole = static_cast<int32_t>(n), half = whole / 2;  // n in [-126, 128]
  const float result = (p * r * r + r + 1.0f) * exp2_integer(half) * exp2_integer(whole - half);
  if (x != x) return x;
  if (x < kLowest) return 0.0f;
  if (x > kHighest) return INFINITY;
  return result;
}

GATEDLM_HOST_DEVICE inline float sigmoid(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

GATEDLM_HOST_DEVICE inline float activate(GateActivationKind kind, float x) {
  switch (kind) {
    case GateActivationKind::sigmoid:
      return sigmoid(x);
    case GateActivationKind::silu:
      return x * sigmoid(x);
    case GateActivationKind::ns_sigmoid:
      return 0.5f + 0.5f * sigmoid(x);
    case GateActivationKind::identity:
      return x;
  }
  return x;
}

GATEDLM_HOST_DEVICE inline float activate_grad(GateActivationKind kind, float x) {
  switch (kind) {
    case GateActivationKind::sigmoid: {
      const float s = sigmoid(x);
      return s * (1.0f - s);
    }
    case GateActivationKind::silu: {
      const float s = sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case GateActivationKind::ns_sigmoid: {
      const float s = sigmoid(x);
      return 0.5f * s * (1.0f - s);
    }
    case GateActivationKind::identity:
      return 1.0f;
  }
  return 1.0f;
}

// Columns per head in the logits: head_dim for elementwise gates, 1 for headwise ones.
GATEDLM_HOST_DEVICE inline int64_t gate_unit_width(const GateSpec& s) {
  return s.elementwise ? s.head_dim : 1;
}

// The term a head-shared score averages over heads: the logit itself or its activation.
GATEDLM_HOST_DEVICE inline float shared_average_term(const GateSpec& s, float logit) {
  return s.shared_average_logits ? logit : activate(s.activation, logit);
}

// The mean over heads of a head-shared gate's terms at column c of token row `row`: this row's
// heads, or the cross-shard sums of spec.shared_sums (tensor parallelism).
GATEDLM_HOST_DEVICE inline float shared_average(const float* logits, const GateSpec& s, int64_t row,
                                                int64_t c) {
  const int64_t unit = gate_unit_width(s);
  if (s.shared_sums)
    return s.shared_sums[row * unit + c] * (1.0f / static_cast<float>(s.shared_heads));
  float acc = 0.0f;
  for (int64_t i = 0; i < s.heads; ++i) acc += shared_average_term(s, logits[i * unit + c]);
  return acc * (1.0f / static_cast<float>(s.heads));
}

// The score of logit unit (h, c) (c < gate_unit_width) of one token's logits row (token `row`).
// A head-shared score is the same for every h: the mean over heads of the logits (then
// activated) or of the activated logits.
GATEDLM_HOST_DEVICE inline float gate_score(const float* logits, const GateSpec& s, int64_t row,
                                            int64_t h, int64_t c) {
  const int64_t unit = gate_unit_width(s);
  if (!s.head_shared) return activate(s.activation, logits[h * unit + c]);
  const float mean = shared_average(logits, s, row, c);
  return s.shared_average_logits ? activate(s.activation, mean) : mean;
}

// d loss / d logit (h, c) given `dscore`: the gradient of the unit's own score, or for a
// head-shared gate the sum of the gradients of every head's score at column c.
GATEDLM_HOST_DEVICE inline float gate_logit_grad(const float* logits, const GateSpec& s,
                                                 int64_t row, int64_t h, int64_t c, float dscore) {
  const int64_t unit = gate_unit_width(s);
  if (!s.head_shared) return dscore * activate_grad(s.activation, logits[h * unit + c]);
  const int64_t heads = s.shared_sums ? s.shared_heads : s.heads;
  const float at =
      s.shared_average_logits ? shared_average(logits, s, row, c) : logits[h * unit + c];
  return dscore * (1.0f / static_cast<float>(heads)) * activate_grad(s.activation, at);
}

// SwiGLU: out = silu(g) * u, and its gradients for upstream d.
GATEDLM_HOST_DEVICE inline float swiglu(float g, float u) { return g * sigmoid(g) * u; }
GATEDLM_HOST_DEVICE inline void swiglu_grad(float g, float u, float d, float* dg, float* du) {
  const float s = sigmoid(g);
  *du = d * g * s;
  *dg = d * u * s * (1.0f + g * (1.0f - s));
}

// One row of the softmax top-k router (Backend::router_topk_forward): fp32 probabilities from a
// double-precision logsumexp, then k repeated arg-maxes (k is small; ties go to the lower index).
GATEDLM_HOST_DEVICE inline void router_topk_row(float* probs, float* lse, int32_t* chosen,
                                                float* weights, const float* logits,
                                                int64_t num_experts, int64_t k, bool normalize) {
  float max_z = -INFINITY;
  for (int64_t e = 0; e < num_experts; ++e) max_z = fmaxf(max_z, logits[e]);
  double sum = 0.0;
  for (int64_t e = 0; e < num_experts; ++e) sum += exp(static_cast<double>(logits[e] - max_z));
  const double log_sum = log(sum) + max_z;
  *lse = static_cast<float>(log_sum);
  for (int64_t e = 0; e < num_experts; ++e)
    probs[e] = static_cast<float>(exp(static_cast<double>(logits[e]) - log_sum));
  double chosen_sum = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    int32_t best = -1;
    for (int64_t e = 0; e < num_experts; ++e) {
      bool taken = false;
      for (int64_t i = 0; i < j; ++i) taken = taken || chosen[i] == e;
      if (!taken && (best < 0 || probs[e] > probs[best])) best = static_cast<int32_t>(e);
    }
    chosen[j] = best;
    weights[j] = probs[best];
    chosen_sum += probs[best];
  }
  if (normalize)
    for (int64_t j = 0; j < k; ++j) weights[j] = static_cast<float>(weights[j] / chosen_sum);
}

// One row of Backend::router_topk_backward; dlogits holds d loss / d probs until the softmax
// backward at the end.
GATEDLM_HOST_DEVICE inline void router_topk_backward_row(
    float* dlogits, const float* dweights, const float* probs, float lse, const int32_t* chosen,
    const float* prob_grad, float z_scale, int64_t num_experts, int64_t k, bool normalize) {
  for (int64_t e = 0; e < num_experts; ++e) dlogits[e] = prob_grad ? prob_grad[e] : 0.0f;
  if (normalize) {
    // w_j = p_j / S with S = sum_i p_i: dp_j = (dw_j - sum_i dw_i w_i) / S.
    double sum = 0.0, dot = 0.0;
    for (int64_t j = 0; j < k; ++j) sum += probs[chosen[j]];
    for (int64_t j = 0; j < k; ++j) dot += dweights[j] * (probs[chosen[j]] / sum);
    for (int64_t j = 0; j < k; ++j)
      dlogits[chosen[j]] += static_cast<float>((dweights[j] - dot) / sum);
  } else {
    for (int64_t j = 0; j < k; ++j) dlogits[chosen[j]] += dweights[j];
  }
  // Softmax backward: dz_e = p_e (dp_e - sum_f p_f dp_f); the z-loss adds 2 z_scale lse p_e.
  double inner = 0.0;
  for (int64_t e = 0; e < num_experts; ++e) inner += static_cast<double>(probs[e]) * dlogits[e];
  const double z_term = 2.0 * static_cast<double>(z_scale) * lse;
  for (int64_t e = 0; e < num_experts; ++e)
    dlogits[e] = static_cast<float>(probs[e] * (dlogits[e] - inner + z_term));
}

// The per-step constants of AdamW with bias correction, computed once on the host.
struct AdamWStep {
  float beta1, beta2, eps, step_size, bias2_sqrt, decay;
};
inline AdamWStep adamw_step(float lr, float beta1, float beta2, float eps, float weight_decay,
                            int64_t step) {
  const float bias1 = 1.0f - std::pow(beta1, static_cast<float>(step));
  const float bias2_sqrt = std::sqrt(1.0f - std::pow(beta2, static_cast<float>(step)));
  return {beta1, beta2, eps, lr / bias1, bias2_sqrt, 1.0f - lr * weight_decay};
}

// One AdamW element with decoupled decay, in torch.optim.AdamW's arithmetic order.
GATEDLM_HOST_DEVICE inline void adamw_element(float* param, float g, float* m, float* v,
                                              const AdamWStep& s) {
  *m = s.beta1 * *m + (1.0f - s.beta1) * g;
  *v = s.beta2 * *v + (1.0f - s.beta2) * g * g;
  const float denom = sqrtf(*v) / s.bias2_sqrt + s.eps;
  *param = *param * s.decay - s.step_size * *m / denom;
}

}  // namespace gatedlm
