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

// Vocabulary-parallel pieces (Backend::cross_entropy_row_max and friends), one block per row.
__global__ void row_max_kernel(float* row_max, const float* logits, int64_t vocab) {
  const float* z = logits + blockIdx.x * vocab;
  float max_z = -INFINITY;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) max_z = fmaxf(max_z, z[i]);
  max_z = block_reduce(max_z, MaxOp{}, -INFINITY);
  if (threadIdx.x == 0) row_max[blockIdx.x] = max_z;
}

__global__ void slice_sums_kernel(float* sums, const float* logits, const int32_t* targets,
                                  const float* row_max, int64_t vocab) {
  const int64_t r = blockIdx.x;
  const float* z = logits + r * vocab;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) sum += expf(z[i] - row_max[r]);
  sum = block_reduce(sum, SumOp{}, 0.0);
  if (threadIdx.x == 0) {
    sums[2 * r] = static_cast<float>(sum);
    sums[2 * r + 1] = targets[r] >= 0 ? z[targets[r]] : 0.0f;
  }
}

__global__ void from_sums_kernel(float* losses, float* logits, const int32_t* targets,
                                 const float* row_max, const float* sums, int64_t vocab,
                                 float dlogits_scale) {
  const int64_t r = blockIdx.x;
  float* z = logits + r * vocab;
  const double log_sum = log(static_cast<double>(sums[2 * r])) + row_max[r];
  if (threadIdx.x == 0) losses[r] = static_cast<float>(log_sum - sums[2 * r + 1]);
  if (dlogits_scale == 0.0f) return;
  const float shift = static_cast<float>(log_sum);
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x)
    z[i] = dlogits_scale * expf(z[i] - shift);
  __syncthreads();
  if (threadIdx.x == 0 && targets[r] >= 0) z[targets[r]] -= dlogits_scale;
}

}  // namespace

void CudaBackend::cross_entropy_row_max(float* row_max, const float* logits, int64_t rows,
                                        int64_t vocab) {
  if (rows == 0) return;
  row_max_kernel<<<static_cast<unsigned>(rows), kLossThreads, 0, stream()>>>(row_max, logits,
                                                                             vocab);
  check_launch("row_max_kernel");
}

void CudaBackend::cross_entropy_slice_sums(float* sums, const float* logits, const int32_t* targets,
                                           const float* row_max, int64_t rows, int64_t vocab) {
  if (rows == 0) return;
  slice_sums_kernel<<<static_cast<unsigned>(rows), kLossThreads, 0, stream()>>>(
      sums, logits, targets, row_max, vocab);
  check_launch("slice_sums_kernel");
}

void CudaBackend::cross_entropy_from_sums(float* losses, float* logits, const int32_t* targets,
                                          const float* row_max, const float* sums, int64_t rows,
                                          int64_t vocab, float dlogits_scale) {
  if (rows == 0) return;
  from_sums_kernel<<<static_cast<unsigned>(rows), kLossThreads, 0, stream()>>>(
      losses, logits, targets, row_max, sums, vocab, dlogits_scale);
  check_launch("from_sums_kernel");
}

void CudaBackend::cross_entropy(float* losses, float* logits, const int32_t* targets, int64_t rows,
                                int64_t vocab, float dlogits_scale) {
  if (rows == 0) return;
  cross_entropy_kernel<<<static_cast<unsigned>(rows), kLossThreads, 0, stream()>>>(
      losses, logits, targets, vocab, dlogits_scale);
  check_launch("cross_entropy_kernel");
}

}  // namespace gatedlm::cuda
