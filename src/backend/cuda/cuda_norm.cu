// CUDA reductions and RMSNorm: sums of squares, max |x|, per-column sums and RMSNorm forward and
// backward (one block per row; weight gradients through the chunked column reduction).
#include <cmath>

#include "cuda_common.cuh"

namespace gatedlm::cuda {
namespace {

// Threads for one block per row of `dim` elements: a multiple of 32, at most kThreads.
int row_threads(int64_t dim) {
  return static_cast<int>(std::clamp<int64_t>((dim + 31) / 32 * 32, 32, kThreads));
}

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* x, const float* w,
                                       int64_t dim, float eps) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * dim;
  float* yr = out + r * dim;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += double(xr[i]) * xr[i];
  ss = block_reduce(ss, SumOp{}, 0.0);
  const float s = static_cast<float>(1.0 / sqrt(ss / dim + eps));
  if (threadIdx.x == 0) rstd[r] = s;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = w[i] * (xr[i] * s);
}

// dx = s * (w*g - xhat * mean(w*g*xhat)), xhat = x*s (the CPU's formula and rounding order).
__global__ void rmsnorm_backward_kernel(float* dx, const float* dout, const float* x,
                                        const float* w, const float* rstd, int64_t dim,
                                        bool accumulate_dx) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * dim;
  const float* gr = dout + r * dim;
  float* dxr = dx + r * dim;
  const float s = rstd[r];
  double dot = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dot += double(w[i] * gr[i]) * (xr[i] * s);
  dot = block_reduce(dot, SumOp{}, 0.0);
  const float mean_dot = static_cast<float>(dot / dim);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = s * (w[i] * gr[i] - xr[i] * s * mean_dot);
    dxr[i] = accumulate_dx ? dxr[i] + v : v;
  }
}

}  // namespace

double CudaBackend::sum_squares(const float* x, int64_t n) {
  return reduce_fixed_order(
      *this, n, [=] __device__(int64_t i) { return double(x[i]) * x[i]; }, SumOp{}, 0.0);
}

float CudaBackend::max_abs(const float* x, int64_t n) {
  return reduce_fixed_order(
      *this, n, [=] __device__(int64_t i) { return fabsf(x[i]); }, MaxOp{}, 0.0f);
}

void CudaBackend::sum_rows_accumulate(float* out, const float* x, int64_t rows, int64_t cols,
                                      int64_t ld) {
  column_reduce_accumulate(*this, out, rows, cols,
                           [=] __device__(int64_t r, int64_t c) { return double(x[r * ld + c]); });
}

void CudaBackend::rmsnorm_forward(float* out, float* rstd, const float* x, const float* w,
                                  int64_t rows, int64_t dim, float eps) {
  if (rows == 0) return;
  rmsnorm_forward_kernel<<<static_cast<unsigned>(rows), row_threads(dim), 0, stream()>>>(
      out, rstd, x, w, dim, eps);
  check_launch("rmsnorm_forward_kernel");
}

void CudaBackend::rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x,
                                   const float* w, const float* rstd, int64_t rows, int64_t dim,
                                   bool accumulate_dx) {
  if (rows == 0) return;
  rmsnorm_backward_kernel<<<static_cast<unsigned>(rows), row_threads(dim), 0, stream()>>>(
      dx, dout, x, w, rstd, dim, accumulate_dx);
  check_launch("rmsnorm_backward_kernel");
  column_reduce_accumulate(*this, dw, rows, dim, [=] __device__(int64_t r, int64_t i) {
    return double(dout[r * dim + i]) * (x[r * dim + i] * rstd[r]);
  });
}

}  // namespace gatedlm::cuda
