// Whether CUDA devices are usable, through the runtime API only (no driver library linked), so
// a machine without a GPU gets an error code here instead of a binary that cannot start.
#include <cuda_runtime.h>

#include "gatedlm/backend/cuda/cuda_probe.h"

namespace gatedlm {

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
