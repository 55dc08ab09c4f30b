#include "gatedlm/backend/select.h"

#include "gatedlm/backend/cuda/cuda_backend.h"
#include "gatedlm/backend/cuda/cuda_probe.h"
#include "gatedlm/core/error.h"

namespace gatedlm {

std::unique_ptr<Backend> make_backend(const std::string& device) {
  if (device == "cpu") return make_cpu_backend();
  if (device != "cuda") throw InputError("--device " + device + ": expected cpu or cuda");
  const CudaStatus status = probe_cuda();
  if (!status.compiled)
    throw InputError(
        "--device cuda: this gatedlm was built without CUDA (configure with nvcc "
        "available and -DGATEDLM_CUDA=ON)");
  if (status.devices == 0)
    throw InputError("--device cuda: no CUDA device is usable (" + status.detail + ")");
#ifdef GATEDLM_HAVE_CUDA
  return make_cuda_backend(0);
#else
  return nullptr;  // unreachable: probe_cuda reports compiled == false
#endif
}

}  // namespace gatedlm
