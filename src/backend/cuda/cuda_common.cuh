// Helpers shared by the CUDA kernels: launch geometry, warp and block reductions, and the two
// deterministic reductions (a fixed-order scalar reduction and the chunked per-column sum that
// mirrors the CPU's chunked_row_reduce, so parameter gradients sum in the same order).
#pragma once

#include <algorithm>
#include <cstdint>

#include "cuda_backend_impl.h"

namespace gatedlm::cuda {

constexpr int kThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;

// Blocks for a grid-stride loop over n items.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + threads - 1) / threads, 1, 8192));
}

template <typename F>
__global__ void for_each_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    f(i);
}

// Runs the __device__ lambda f(i) for i < n (a grid-stride loop).
template <typename F>
void for_each(CudaBackend& be, int64_t n, F f) {
  if (n <= 0) return;
  for_each_kernel<<<grid_for(n), kThreads, 0, be.stream()>>>(n, f);
  check_launch("for_each_kernel");
}

struct SumOp {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a > b ? a : b;
  }
};

template <typename T, typename Op>
__device__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// Reduces over the block (blockDim.x a multiple of 32); every thread gets the result. The tree is
// fixed, so the result is deterministic for a given block size.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_reduce(v, op);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : identity;
  return warp_reduce(v, op);
}

// ---- fixed-order scalar reduction: result = op over term(i), i < n ----
constexpr int kReduceBlocks = 256;

template <typename T, typename Term, typename Op>
__global__ void reduce_partials_kernel(T* partials, int64_t n, Term term, Op op, T identity) {
  const int64_t begin = n * blockIdx.x / gridDim.x, end = n * (blockIdx.x + 1) / gridDim.x;
  T acc = identity;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) acc = op(acc, term(i));
  acc = block_reduce(acc, op, identity);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <typename T, typename Op>
__global__ void reduce_final_kernel(T* partials, int count, Op op, T identity) {
  T acc = identity;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc = op(acc, partials[i]);
  acc = block_reduce(acc, op, identity);
  if (threadIdx.x == 0) partials[0] = acc;
}

template <typename T, typename Term, typename Op>
T reduce_fixed_order(CudaBackend& be, int64_t n, Term term, Op op, T identity) {
  T* partials = static_cast<T*>(be.scratch(kReduceBlocks * sizeof(T)));
  reduce_partials_kernel<<<kReduceBlocks, kThreads, 0, be.stream()>>>(partials, n, term, op,
                                                                      identity);
  check_launch("reduce_partials_kernel");
  reduce_final_kernel<<<1, kThreads, 0, be.stream()>>>(partials, kReduceBlocks, op, identity);
  check_launch("reduce_final_kernel");
  T result;
  check(cudaMemcpyAsync(&result, partials, sizeof(T), cudaMemcpyDeviceToHost, be.stream()),
        "reduction result");
  be.synchronize();
  return result;
}

// ---- out[c] += sum_r term(r, c) for c < cols, in double, rows split into fixed chunks ----
// The chunks are the CPU's (kReductionChunks, row ranges rows*i/chunks), summed in order.
constexpr int64_t kColumnChunks = 64;

template <typename Term>
__global__ void column_partials_kernel(double* partials, int64_t rows, int64_t cols, int64_t chunks,
                                       Term term) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  if (c >= cols) return;
  double acc = 0.0;
  for (int64_t r = rows * chunk / chunks; r < rows * (chunk + 1) / chunks; ++r) acc += term(r, c);
  partials[chunk * cols + c] = acc;
}

template <typename T>
__global__ void column_finish_kernel(T* out, const double* partials, int64_t cols, int64_t chunks) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  double acc = partials[c];
  for (int64_t k = 1; k < chunks; ++k) acc += partials[k * cols + c];
  out[c] += static_cast<T>(acc);
}

template <typename Term>
void column_reduce_accumulate(CudaBackend& be, float* out, int64_t rows, int64_t cols, Term term) {
  if (cols == 0) return;
  const int64_t chunks = std::min<int64_t>(kColumnChunks, std::max<int64_t>(rows, 1));
  auto* partials = static_cast<double*>(be.scratch(chunks * cols * sizeof(double)));
  const unsigned col_blocks = static_cast<unsigned>((cols + kThreads - 1) / kThreads);
  column_partials_kernel<<<dim3(col_blocks, static_cast<unsigned>(chunks)), kThreads, 0,
                           be.stream()>>>(partials, rows, cols, chunks, term);
  check_launch("column_partials_kernel");
  column_finish_kernel<<<col_blocks, kThreads, 0, be.stream()>>>(out, partials, cols, chunks);
  check_launch("column_finish_kernel");
}

}  // namespace gatedlm::cuda
