// CUDA fused per-head RMSNorm (QK-norm) and rotate-half RoPE, forward and backward: one warp per
// (token, head), the CPU's formulas and double-precision sums.
#include <cmath>

#include "cuda_common.cuh"

namespace gatedlm::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

unsigned warp_blocks(int64_t warps) {
  return static_cast<unsigned>((warps + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

__global__ void qknorm_rope_forward_kernel(float* out, float* rstd, const float* in, int64_t ld_in,
                                           const float* w, const float* cos, const float* sin,
                                           int64_t rows, int64_t heads, int64_t head_dim,
                                           int64_t seq_len, float eps) {
  const int64_t rh = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (rh >= rows * heads) return;  // whole warps exit together
  const int64_t r = rh / heads, h = rh % heads, half = head_dim / 2;
  const float* x = in + r * ld_in + h * head_dim;
  float* y = out + rh * head_dim;
  float s = 1.0f;
  if (w) {
    double ss = 0.0;
    for (int64_t i = lane; i < head_dim; i += 32) ss += double(x[i]) * x[i];
    ss = warp_reduce(ss, SumOp{});
    s = static_cast<float>(1.0 / sqrt(ss / head_dim + eps));
    if (lane == 0) rstd[rh] = s;
  }
  const float* c = cos + (r % seq_len) * half;
  const float* sn = sin + (r % seq_len) * half;
  for (int64_t i = lane; i < half; i += 32) {
    const float a = w ? w[i] * (x[i] * s) : x[i];
    const float b = w ? w[i + half] * (x[i + half] * s) : x[i + half];
    y[i] = a * c[i] - b * sn[i];
    y[i + half] = b * c[i] + a * sn[i];
  }
}

// din holds dL/d(normed input) on entry; turns it into dL/d(input) in place.
__global__ void qknorm_backward_kernel(float* din, int64_t ld_in, const float* in, const float* w,
                                       const float* rstd, int64_t rows, int64_t heads,
                                       int64_t head_dim) {
  const int64_t rh = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (rh >= rows * heads) return;
  const int64_t r = rh / heads, h = rh % heads;
  const float* x = in + r * ld_in + h * head_dim;
  float* dx = din + r * ld_in + h * head_dim;
  const float s = rstd[rh];
  double dot = 0.0;
  for (int64_t i = lane; i < head_dim; i += 32) dot += double(w[i] * dx[i]) * (x[i] * s);
  dot = warp_reduce(dot, SumOp{});
  const float mean_dot = static_cast<float>(dot / head_dim);
  for (int64_t i = lane; i < head_dim; i += 32) dx[i] = s * (w[i] * dx[i] - x[i] * s * mean_dot);
}

}  // namespace

void CudaBackend::qknorm_rope_forward(float* out, float* rstd, const float* in, int64_t ld_in,
                                      const float* w, const float* cos, const float* sin,
                                      int64_t rows, int64_t heads, int64_t head_dim,
                                      int64_t seq_len, float eps) {
  if (rows * heads == 0) return;
  qknorm_rope_forward_kernel<<<warp_blocks(rows * heads), 32 * kWarpsPerBlock, 0, stream()>>>(
      out, rstd, in, ld_in, w, cos, sin, rows, heads, head_dim, seq_len, eps);
  check_launch("qknorm_rope_forward_kernel");
}

void CudaBackend::qknorm_rope_backward(float* din, int64_t ld_in, float* dw, const float* dout,
                                       const float* in, const float* w, const float* rstd,
                                       const float* cos, const float* sin, int64_t rows,
                                       int64_t heads, int64_t head_dim, int64_t seq_len) {
  const int64_t half = head_dim / 2;
  // Undo the rotation on the gradient: dy = R^T dout, written to din.
  for_each(*this, rows * heads * half, [=] __device__(int64_t idx) {
    const int64_t i = idx % half, rh = idx / half, r = rh / heads, h = rh % heads;
    const float* g = dout + rh * head_dim;
    float* dx = din + r * ld_in + h * head_dim;
    const float c = cos[(r % seq_len) * half + i], sn = sin[(r % seq_len) * half + i];
    const float g1 = g[i], g2 = g[i + half];
    dx[i] = g1 * c + g2 * sn;
    dx[i + half] = g2 * c - g1 * sn;
  });
  if (!w || rows * heads == 0) return;
  // dw first (it needs dy), then dx in place.
  column_reduce_accumulate(*this, dw, rows * heads, head_dim,
                           [=] __device__(int64_t rh, int64_t i) {
                             const int64_t r = rh / heads, h = rh % heads;
                             const int64_t at = r * ld_in + h * head_dim + i;
                             return double(din[at]) * (in[at] * rstd[rh]);
                           });
  qknorm_backward_kernel<<<warp_blocks(rows * heads), 32 * kWarpsPerBlock, 0, stream()>>>(
      din, ld_in, in, w, rstd, rows, heads, head_dim);
  check_launch("qknorm_backward_kernel");
}

}  // namespace gatedlm::cuda
