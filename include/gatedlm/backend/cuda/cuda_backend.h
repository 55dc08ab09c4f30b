// The CUDA backend: the Backend ops as CUDA kernels and cuBLAS GEMMs on one device, checked op by
// op against the CPU reference (tests/unit/test_cuda_parity.cpp). Only in builds with nvcc
// (GATEDLM_HAVE_CUDA); select backends through make_backend (backend/select.h).
#pragma once

#include <memory>

#include "gatedlm/backend/backend.h"

namespace gatedlm {

// Throws RuntimeFailure if the device cannot be initialised.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace gatedlm
