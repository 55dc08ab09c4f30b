// Fused per-head RMSNorm (QK-norm) and rotate-half RoPE, forward and backward.
#include <cmath>

#include "cpu_backend_impl.h"

namespace gatedlm::cpu {

void CpuBackend::qknorm_rope_forward(float* out, float* rstd, const float* in, int64_t ld_in,
                                     const float* w, const float* cos, const float* sin,
                                     int64_t rows, int64_t heads, int64_t head_dim, int64_t seq_len,
                                     float eps) {
  const int64_t half = head_dim / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* x = in + r * ld_in + h * head_dim;
      float* y = out + (r * heads + h) * head_dim;
      float s = 1.0f;
      if (w) {
        double ss = 0.0;
        for (int64_t i = 0; i < head_dim; ++i) ss += double(x[i]) * x[i];
        s = static_cast<float>(1.0 / std::sqrt(ss / head_dim + eps));
        rstd[r * heads + h] = s;
      }
      const float* c = cos + (r % seq_len) * half;
      const float* sn = sin + (r % seq_len) * half;
      for (int64_t i = 0; i < half; ++i) {
        const float a = w ? w[i] * (x[i] * s) : x[i];
        const float b = w ? w[i + half] * (x[i + half] * s) : x[i + half];
        y[i] = a * c[i] - b * sn[i];
        y[i + half] = b * c[i] + a * sn[i];
      }
    }
  }
}

void CpuBackend::qknorm_rope_backward(float* din, int64_t ld_in, float* dw, const float* dout,
                                      const float* in, const float* w, const float* rstd,
                                      const float* cos, const float* sin, int64_t rows,
                                      int64_t heads, int64_t head_dim, int64_t seq_len) {
  const int64_t half = head_dim / 2;
  // Undo the rotation on the gradient: dy = R^T dout, written to din (then normalised in place).
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* g = dout + (r * heads + h) * head_dim;
      float* dx = din + r * ld_in + h * head_dim;
      const float* c = cos + (r % seq_len) * half;
      const float* sn = sin + (r % seq_len) * half;
      for (int64_t i = 0; i < half; ++i) {
        const float g1 = g[i], g2 = g[i + half];
        dx[i] = g1 * c[i] + g2 * sn[i];
        dx[i + half] = g2 * c[i] - g1 * sn[i];
      }
    }
  }
  if (!w) return;
  // din now holds dL/dy for y = w * x * rstd; dw first (it needs dy), then dx in place.
  chunked_row_reduce(dw, rows * heads, head_dim, [&](int64_t begin, int64_t end, double* acc) {
    for (int64_t rh = begin; rh < end; ++rh) {
      const int64_t r = rh / heads, h = rh % heads;
      const float* x = in + r * ld_in + h * head_dim;
      const float* dy = din + r * ld_in + h * head_dim;
      const float s = rstd[rh];
      for (int64_t i = 0; i < head_dim; ++i) acc[i] += double(dy[i]) * (x[i] * s);
    }
  });
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* x = in + r * ld_in + h * head_dim;
      float* dx = din + r * ld_in + h * head_dim;
      const float s = rstd[r * heads + h];
      double dot = 0.0;
      for (int64_t i = 0; i < head_dim; ++i) dot += double(w[i] * dx[i]) * (x[i] * s);
      const float mean_dot = static_cast<float>(dot / head_dim);
      for (int64_t i = 0; i < head_dim; ++i) dx[i] = s * (w[i] * dx[i] - x[i] * s * mean_dot);
    }
  }
}

}  // namespace gatedlm::cpu
