// Whether a CUDA device can be used. The binary links only the CUDA runtime (never the driver
// library), so it starts on machines without a GPU and this simply reports none.
#pragma once

#include <string>

namespace gatedlm {

struct CudaStatus {
  bool compiled = false;  // built with nvcc
  int devices = 0;        // usable devices now
  std::string detail;     // runtime error text when devices == 0
};

CudaStatus probe_cuda();

}  // namespace gatedlm
