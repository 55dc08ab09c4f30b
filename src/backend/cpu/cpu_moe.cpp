// CPU backend: mixture-of-experts routing (softmax top-k router) and the row gather / weighted
// combine that permute tokens to experts and back.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu_backend_impl.h"

namespace gatedlm::cpu {

void CpuBackend::router_topk_forward(float* probs, float* lse, int32_t* experts, float* weights,
                                     const float* logits, int64_t ld, int64_t rows,
                                     int64_t num_experts, int64_t k, bool normalize) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * ld;
    float* p = probs + r * num_experts;
    float max_z = -std::numeric_limits<float>::infinity();
    for (int64_t e = 0; e < num_experts; ++e) max_z = std::max(max_z, z[e]);
    double sum = 0.0;
    for (int64_t e = 0; e < num_experts; ++e) sum += std::exp(static_cast<double>(z[e] - max_z));
    const double log_sum = std::log(sum) + max_z;
    lse[r] = static_cast<float>(log_sum);
    for (int64_t e = 0; e < num_experts; ++e)
      p[e] = static_cast<float>(std::exp(static_cast<double>(z[e]) - log_sum));
    // Selection by repeated arg-max: k is small, and ties resolve to the lower index.
    int32_t* chosen = experts + r * k;
    float* w = weights + r * k;
    double chosen_sum = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      int32_t best = -1;
      for (int64_t e = 0; e < num_experts; ++e) {
        bool taken = false;
        for (int64_t i = 0; i < j; ++i) taken = taken || chosen[i] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = static_cast<int32_t>(e);
      }
      chosen[j] = best;
      w[j] = p[best];
      chosen_sum += p[best];
    }
    if (normalize)
      for (int64_t j = 0; j < k; ++j) w[j] = static_cast<float>(w[j] / chosen_sum);
  }
}

void CpuBackend::router_topk_backward(float* dlogits, int64_t ld, const float* dweights,
                                      const float* probs, const float* lse, const int32_t* experts,
                                      const float* prob_grad, float z_scale, int64_t rows,
                                      int64_t num_experts, int64_t k, bool normalize) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = probs + r * num_experts;
    const int32_t* chosen = experts + r * k;
    const float* dw = dweights + r * k;
    float* dz = dlogits + r * ld;
    // d loss / d probs, kept in dz until the softmax backward below.
    for (int64_t e = 0; e < num_experts; ++e) dz[e] = prob_grad ? prob_grad[e] : 0.0f;
    if (normalize) {
      // w_j = p_j / S with S = sum_i p_i: dp_j = (dw_j - sum_i dw_i w_i) / S.
      double sum = 0.0, dot = 0.0;
      for (int64_t j = 0; j < k; ++j) sum += p[chosen[j]];
      for (int64_t j = 0; j < k; ++j) dot += dw[j] * (p[chosen[j]] / sum);
      for (int64_t j = 0; j < k; ++j) dz[chosen[j]] += static_cast<float>((dw[j] - dot) / sum);
    } else {
      for (int64_t j = 0; j < k; ++j) dz[chosen[j]] += dw[j];
    }
    // Softmax backward: dz_e = p_e (dp_e - sum_f p_f dp_f); the z-loss adds 2 z_scale lse p_e.
    double inner = 0.0;
    for (int64_t e = 0; e < num_experts; ++e) inner += static_cast<double>(p[e]) * dz[e];
    const double z_term = 2.0 * static_cast<double>(z_scale) * lse[r];
    for (int64_t e = 0; e < num_experts; ++e)
      dz[e] = static_cast<float>(p[e] * (dz[e] - inner + z_term));
  }
}

void CpuBackend::gather_rows(float* out, const float* src, int64_t ld_src, const int32_t* index,
                             int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(out + i * cols, src + static_cast<int64_t>(index[i]) * ld_src,
                cols * sizeof(float));
}

void CpuBackend::combine_rows(float* out, const float* src, const int32_t* slots,
                              const float* weights, int64_t rows, int64_t k, int64_t cols,
                              bool accumulate) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * cols;
    if (!accumulate) std::fill(o, o + cols, 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      const int32_t slot = slots[r * k + j];
      if (slot < 0) continue;
      const float w = weights ? weights[r * k + j] : 1.0f;
      const float* s = src + static_cast<int64_t>(slot) * cols;
      for (int64_t c = 0; c < cols; ++c) o[c] += w * s[c];
    }
  }
}

void CpuBackend::combine_rows_backward(float* dsrc, float* dweights, const float* dout,
                                       const float* src, const int32_t* slots, const float* weights,
                                       int64_t rows, int64_t k, int64_t cols) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dout + r * cols;
    for (int64_t j = 0; j < k; ++j) {
      const int32_t slot = slots[r * k + j];
      if (slot < 0) {
        dweights[r * k + j] = 0.0f;
        continue;
      }
      const float w = weights[r * k + j];
      const float* s = src + static_cast<int64_t>(slot) * cols;
      float* ds = dsrc + static_cast<int64_t>(slot) * cols;
      double dot = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        dot += static_cast<double>(g[c]) * s[c];
        ds[c] = w * g[c];
      }
      dweights[r * k + j] = static_cast<float>(dot);
    }
  }
}

}  // namespace gatedlm::cpu
