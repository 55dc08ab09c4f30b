// CUDA mixture-of-experts ops: the softmax top-k router (one thread per token row, through
// kernel_math.h's router rows, which the CPU backend runs too) and the row gather / weighted
// combine that permute tokens to experts and back (one thread per element).
#include "cuda_common.cuh"
#include "gatedlm/backend/kernel_math.h"

namespace gatedlm::cuda {

void CudaBackend::router_topk_forward(float* probs, float* lse, int32_t* experts, float* weights,
                                      const float* logits, int64_t ld, int64_t rows,
                                      int64_t num_experts, int64_t k, bool normalize) {
  for_each(*this, rows, [=] __device__(int64_t r) {
    router_topk_row(probs + r * num_experts, lse + r, experts + r * k, weights + r * k,
                    logits + r * ld, num_experts, k, normalize);
  });
}

void CudaBackend::router_topk_backward(float* dlogits, int64_t ld, const float* dweights,
                                       const float* probs, const float* lse, const int32_t* experts,
                                       const float* prob_grad, float z_scale, int64_t rows,
                                       int64_t num_experts, int64_t k, bool normalize) {
  for_each(*this, rows, [=] __device__(int64_t r) {
    router_topk_backward_row(dlogits + r * ld, dweights + r * k, probs + r * num_experts, lse[r],
                             experts + r * k, prob_grad, z_scale, num_experts, k, normalize);
  });
}

void CudaBackend::gather_rows(float* out, const float* src, int64_t ld_src, const int32_t* index,
                              int64_t rows, int64_t cols) {
  for_each(*this, rows * cols, [=] __device__(int64_t idx) {
    const int64_t i = idx / cols, c = idx % cols;
    out[idx] = src[static_cast<int64_t>(index[i]) * ld_src + c];
  });
}

// Each output element sums its k terms in slot order, starting from 0 or the old value, as the
// CPU's row loop does.
void CudaBackend::combine_rows(float* out, const float* src, const int32_t* slots,
                               const float* weights, int64_t rows, int64_t k, int64_t cols,
                               bool accumulate) {
  for_each(*this, rows * cols, [=] __device__(int64_t idx) {
    const int64_t r = idx / cols, c = idx % cols;
    float acc = accumulate ? out[idx] : 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      const int32_t slot = slots[r * k + j];
      if (slot < 0) continue;
      const float w = weights ? weights[r * k + j] : 1.0f;
      acc += w * src[static_cast<int64_t>(slot) * cols + c];
    }
    out[idx] = acc;
  });
}

namespace {

constexpr int kDotThreads = 128;

// One block per (row, j): dweights[r, j] = dout[r] . src[slots[r, j]] in double, fixed tree.
__global__ void combine_weight_grad_kernel(float* dweights, const float* dout, const float* src,
                                           const int32_t* slots, int64_t k, int64_t cols) {
  const int64_t pair = blockIdx.x, r = pair / k;
  const int32_t slot = slots[pair];
  if (slot < 0) {
    if (threadIdx.x == 0) dweights[pair] = 0.0f;
    return;  // the whole block leaves: block_reduce is never reached
  }
  const float* g = dout + r * cols;
  const float* s = src + static_cast<int64_t>(slot) * cols;
  double dot = 0.0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dot += static_cast<double>(g[c]) * s[c];
  dot = block_reduce(dot, SumOp{}, 0.0);
  if (threadIdx.x == 0) dweights[pair] = static_cast<float>(dot);
}

}  // namespace

void CudaBackend::combine_rows_backward(float* dsrc, float* dweights, const float* dout,
                                        const float* src, const int32_t* slots,
                                        const float* weights, int64_t rows, int64_t k,
                                        int64_t cols) {
  // Every slot appears at most once, so each dsrc row has one writer.
  for_each(*this, rows * k * cols, [=] __device__(int64_t idx) {
    const int64_t pair = idx / cols, c = idx % cols;
    const int32_t slot = slots[pair];
    if (slot < 0) return;
    dsrc[static_cast<int64_t>(slot) * cols + c] = weights[pair] * dout[pair / k * cols + c];
  });
  if (rows * k == 0) return;
  combine_weight_grad_kernel<<<static_cast<unsigned>(rows * k), kDotThreads, 0, stream()>>>(
      dweights, dout, src, slots, k, cols);
  check_launch("combine_weight_grad_kernel");
}

}  // namespace gatedlm::cuda
