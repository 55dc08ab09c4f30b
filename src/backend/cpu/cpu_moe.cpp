// CPU backend: mixture-of-experts routing (softmax top-k router) and the row gather / weighted
// combine that permute tokens to experts and back. The router rows are kernel_math.h's, shared
// with the CUDA backend.
#include <algorithm>
#include <cstring>

#include "cpu_backend_impl.h"
#include "gatedlm/backend/kernel_math.h"

namespace gatedlm::cpu {

void CpuBackend::router_topk_forward(float* probs, float* lse, int32_t* experts, float* weights,
                                     const float* logits, int64_t ld, int64_t rows,
                                     int64_t num_experts, int64_t k, bool normalize) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    router_topk_row(probs + r * num_experts, lse + r, experts + r * k, weights + r * k,
                    logits + r * ld, num_experts, k, normalize);
}

void CpuBackend::router_topk_backward(float* dlogits, int64_t ld, const float* dweights,
                                      const float* probs, const float* lse, const int32_t* experts,
                                      const float* prob_grad, float z_scale, int64_t rows,
                                      int64_t num_experts, int64_t k, bool normalize) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    router_topk_backward_row(dlogits + r * ld, dweights + r * k, probs + r * num_experts, lse[r],
                             experts + r * k, prob_grad, z_scale, num_experts, k, normalize);
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
