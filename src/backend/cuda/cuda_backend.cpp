// CUDA backend plumbing: device memory, copies, scratch and cuBLAS GEMM (host code, no kernels).
#ifdef GATEDLM_HAVE_CUDA
#include "gatedlm/backend/cuda/cuda_backend.h"

#include <atomic>
#include <climits>
#include <stdexcept>

#include "cuda_backend_impl.h"

namespace gatedlm {
namespace cuda {
namespace {

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw RuntimeFailure(std::string("cuBLAS: ") + what + ": " + cublasGetStatusString(status));
}

class DeviceBuffer final : public Buffer {
 public:
  // `live` counts the bytes of its backend's buffers (it outlives the backend if need be).
  DeviceBuffer(size_t bytes, std::shared_ptr<std::atomic<size_t>> live)
      : bytes_(bytes), live_(std::move(live)) {
    check(cudaMalloc(&data_, std::max<size_t>(bytes, 1)), "cudaMalloc");
    *live_ += bytes_;
  }
  ~DeviceBuffer() override {
    cudaFree(data_);
    *live_ -= bytes_;
  }
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }
  Device device() const override { return Device::cuda; }

 private:
  void* data_ = nullptr;
  size_t bytes_;
  std::shared_ptr<std::atomic<size_t>> live_;
};

int blas_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw RuntimeFailure(std::string("cuBLAS GEMM: ") + what + " too large");
  return static_cast<int>(v);
}

}  // namespace

CudaBackend::CudaBackend(int device) : device_(device) {
  check(cudaSetDevice(device_), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check_blas(cublasCreate(&blas_), "cublasCreate");
  check_blas(cublasSetStream(blas_, stream_), "cublasSetStream");
  // Plain fp32 (no TF32), so GEMMs agree with the CPU reference to fp32 rounding.
  check_blas(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
}

std::string CudaBackend::hardware() const {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
  return prop.name;
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(stream_);
  cudaFree(scratch_);
  cublasDestroy(blas_);
  cudaStreamDestroy(stream_);
}

void* CudaBackend::scratch(size_t bytes) {
  if (bytes > scratch_bytes_) {
    check(cudaStreamSynchronize(stream_), "scratch resize");
    cudaFree(scratch_);
    scratch_ = nullptr;
    scratch_bytes_ = 0;
    check(cudaMalloc(&scratch_, bytes), "cudaMalloc (scratch)");
    scratch_bytes_ = bytes;
  }
  return scratch_;
}

void CudaBackend::synchronize() { check(cudaStreamSynchronize(stream_), "synchronize"); }

Tensor CudaBackend::empty(const Shape& shape, DType dtype) {
  return Tensor(std::make_shared<DeviceBuffer>(shape_numel(shape) * dtype_size(dtype), live_bytes_),
                shape, dtype);
}

size_t CudaBackend::allocated_bytes() { return *live_bytes_; }

void CudaBackend::copy_bytes(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
}

// Host copies are synchronous: callers reuse or free their host arrays right after.
void CudaBackend::copy_sync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            const char* what) {
  check(cudaMemcpyAsync(dst, src, bytes, kind, stream_), what);
  synchronize();
}

void CudaBackend::to_host_bytes(void* host_dst, const void* src, size_t bytes) {
  copy_sync(host_dst, src, bytes, cudaMemcpyDeviceToHost, "to_host");
}

void CudaBackend::from_host_bytes(void* dst, const void* host_src, size_t bytes) {
  copy_sync(dst, host_src, bytes, cudaMemcpyHostToDevice, "from_host");
}

namespace {

cudaDataType_t blas_type(DType t) {
  switch (t) {
    case DType::f32:
      return CUDA_R_32F;
    case DType::bf16:
      return CUDA_R_16BF;
    case DType::i32:
      break;
  }
  throw std::logic_error("gemm: operands are f32 or bf16");
}

}  // namespace

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the same buffers and leading
// dimensions with the operands swapped (a row-major matrix is its transpose in column-major).
// Any operand may be bf16; products accumulate in fp32 (CUBLAS_COMPUTE_32F, no TF32, so fp32
// GEMMs agree with the CPU reference to fp32 rounding).
void CudaBackend::gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                       ConstMatrix a, ConstMatrix b, float beta, Matrix c) {
  if (m == 0 || n == 0) return;
  check_blas(cublasGemmEx(blas_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                          trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, blas_int(n, "n"), blas_int(m, "m"),
                          blas_int(k, "k"), &alpha, b.view.data, blas_type(b.view.dtype),
                          blas_int(b.ld, "ldb"), a.view.data, blas_type(a.view.dtype),
                          blas_int(a.ld, "lda"), &beta, c.view.data, blas_type(c.view.dtype),
                          blas_int(c.ld, "ldc"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
             "cublasGemmEx");
}

// No O(kv_len) decode kernel yet: the generic path over attention_forward (docs/cuda.md).
void CudaBackend::attention_decode(float* out, const float* q, const float* k, const float* v,
                                   int64_t kv_len, const AttentionDims& dims) {
  attention_decode_by_forward(out, q, k, v, kv_len, dims);
}

}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(int device) {
  return std::make_unique<cuda::CudaBackend>(device);
}

}  // namespace gatedlm
#endif
