// Minimal CUDA translation unit: proves the toolchain builds and reports device availability.
// The CUDA backend proper is the CUDA-backend issue's.
#include <cuda_runtime.h>

#include "gatedlm/backend/cuda/cuda_probe.h"

namespace gatedlm {

__global__ void fill_kernel(float* x, int n, float value) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = value;
}

CudaStatus probe_cuda() {
  CudaStatus status;
  status.compiled = true;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    status.detail = cudaGetErrorString(err);
    return status;
  }
  status.devices = count;
  return status;
}

}  // namespace gatedlm
