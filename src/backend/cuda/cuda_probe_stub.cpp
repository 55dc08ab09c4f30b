// Builds without nvcc: no CUDA backend compiled in.
#ifndef GATEDLM_HAVE_CUDA
#include "gatedlm/backend/cuda/cuda_probe.h"

namespace gatedlm {
CudaStatus probe_cuda() { return {false, 0, "built without CUDA (nvcc not found)"}; }
}  // namespace gatedlm
#endif
