// CUDA backend plumbing: device memory, copies, scratch and cuBLAS GEMM (host code, no kernels).
#ifdef GATEDLM_HAVE_CUDA
#include "gatedlm/backend/cuda/cuda_backend.h"

#include <climits>

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
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    check(cudaMalloc(&data_, std::max<size_t>(bytes, 1)), "cudaMalloc");
  }
  ~DeviceBuffer() override { cudaFree(data_); }
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }
  Device device() const override { return Device::cuda; }

 private:
  void* data_ = nullptr;
  size_t bytes_;
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

Tensor CudaBackend::empty(const Shape& shape) {
  return Tensor(std::make_shared<DeviceBuffer>(shape_numel(shape) * sizeof(float)), shape);
}

std::shared_ptr<Buffer> CudaBackend::allocate_ids(int64_t n) {
  return std::make_shared<DeviceBuffer>(n * sizeof(int32_t));
}

void CudaBackend::copy(float* dst, const float* src, int64_t n) {
  check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_), "copy");
}

// Host copies are synchronous: callers reuse or free their host arrays right after.
void CudaBackend::copy_sync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            const char* what) {
  check(cudaMemcpyAsync(dst, src, bytes, kind, stream_), what);
  synchronize();
}

void CudaBackend::to_host(float* host_dst, const float* src, int64_t n) {
  copy_sync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, "to_host");
}

void CudaBackend::from_host(float* dst, const float* host_src, int64_t n) {
  copy_sync(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice, "from_host");
}

void CudaBackend::ids_from_host(int32_t* dst, const int32_t* host_src, int64_t n) {
  copy_sync(dst, host_src, n * sizeof(int32_t), cudaMemcpyHostToDevice, "ids_from_host");
}

void CudaBackend::ids_to_host(int32_t* host_dst, const int32_t* src, int64_t n) {
  copy_sync(host_dst, src, n * sizeof(int32_t), cudaMemcpyDeviceToHost, "ids_to_host");
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the same buffers and leading
// dimensions with the operands swapped (a row-major matrix is its transpose in column-major).
void CudaBackend::gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                       const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                       float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  check_blas(
      cublasSgemm(blas_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                  blas_int(n, "n"), blas_int(m, "m"), blas_int(k, "k"), &alpha, b,
                  blas_int(ldb, "ldb"), a, blas_int(lda, "lda"), &beta, c, blas_int(ldc, "ldc")),
      "cublasSgemm");
}

}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(int device) {
  return std::make_unique<cuda::CudaBackend>(device);
}

}  // namespace gatedlm
#endif
