// The CUDA backend class. Host-side plumbing (memory, copies, cuBLAS GEMM) lives in
// cuda_backend.cpp; the ops are CUDA kernels in cuda_*.cu, one file per concern as on the CPU.
// Every op is enqueued on one stream; to_host and the scalar reductions synchronise it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <atomic>
#include <memory>

#include "gatedlm/backend/backend.h"
#include "gatedlm/core/error.h"

namespace gatedlm::cuda {

// Throws RuntimeFailure naming the call that failed.
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw RuntimeFailure(std::string("CUDA: ") + what + ": " + cudaGetErrorString(status));
}
// After a kernel launch: reports a bad launch configuration at once, not at the next sync.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

class CudaBackend final : public Backend, public BackendProbes {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::cuda; }
  std::string name() const override { return "cuda"; }
  std::string hardware() const override;

  BackendProbes& probes() override { return *this; }
  using Backend::empty;  // the fp32 shorthand beside the typed op

#define GATEDLM_BACKEND_OP(ret, name, params) ret name params override;
#include "gatedlm/backend/compute_ops.def"
#include "gatedlm/backend/instrumentation_ops.def"
#undef GATEDLM_BACKEND_OP

  void synchronize() override;

  cudaStream_t stream() const { return stream_; }
  // Device scratch of at least `bytes`, reused by every op (ops on one stream never overlap).
  // Growing it synchronises; the step loop reaches its final size in the first step.
  void* scratch(size_t bytes);

 private:
  // One enqueued copy, then a wait (the host side of every host transfer).
  void copy_sync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* what);

  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  std::shared_ptr<std::atomic<size_t>> live_bytes_ = std::make_shared<std::atomic<size_t>>(0);
};

}  // namespace gatedlm::cuda
