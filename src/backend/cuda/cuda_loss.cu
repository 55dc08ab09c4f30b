// CUDA fused softmax + cross-entropy: one block per token row; the gradient overwrites the logits.
#include <cmath>

#include "cuda_common.cuh"

namespace gatedlm::cuda {
namespace {

constexpr int kLossThreads = 512;

__global__ void cross_entropy_kernel(float* losses, float* logits, const int32_t* targets,
                                     int64_t vocab, float dlogits_scale) {
  const int64_t r = blockIdx.x;
  float* z = logits + r * vocab;
  const int32_t t = targets[r];
  const float z_target = z[t];
  float max_z = -INFINITY;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) max_z = fmaxf(max_z, z[i]);
  max_z = block_reduce(max_z, MaxOp{}, -INFINITY);
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) sum += expf(z[i] - max_z);
  sum = block_reduce(sum, SumOp{}, 0.0);
  const double log_sum = log(sum) + max_z;
  if (threadIdx.x == 0) losses[r] = static_cast<float>(log_sum - z_target);
  if (dlogits_scale == 0.0f) return;
  const float shift = static_cast<float>(log_sum);
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x)
    z[i] = dlogits_scale * expf(z[i] - shift);
  __syncthreads();
  if (threadIdx.x == 0) z[t] -= dlogits_scale;
}

}  // namespace

void CudaBackend::cross_entropy(float* losses, float* logits, const int32_t* targets, int64_t rows,
                                int64_t vocab, float dlogits_scale) {
  if (rows == 0) return;
  cross_entropy_kernel<<<static_cast<unsigned>(rows), kLossThreads, 0, stream()>>>(
      losses, logits, targets, vocab, dlogits_scale);
  check_launch("cross_entropy_kernel");
}

}  // namespace gatedlm::cuda
