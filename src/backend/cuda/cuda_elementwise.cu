// CUDA elementwise ops: fill, dtype conversion, add, scale, SiLU, SwiGLU, embedding and AdamW. The
// per-element formulas are kernel_math.h's, shared with the CPU backend.
#include <stdexcept>

#include "cuda_common.cuh"
#include "gatedlm/backend/kernel_math.h"

namespace gatedlm::cuda {

void CudaBackend::fill(float* x, int64_t n, float value) {
  for_each(*this, n, [=] __device__(int64_t i) { x[i] = value; });
}

// The rounding is dtype.h's float_to_bf16, the one the CPU backend runs.
void CudaBackend::convert(View dst, ConstView src, int64_t n) {
  if (dst.dtype == src.dtype) return copy_bytes(dst.data, src.data, n * dtype_size(dst.dtype));
  if (dst.dtype == DType::bf16 && src.dtype == DType::f32) {
    auto* out = static_cast<bf16_t*>(dst.data);
    const auto* in = static_cast<const float*>(src.data);
    return for_each(*this, n, [=] __device__(int64_t i) { out[i] = float_to_bf16(in[i]); });
  }
  if (dst.dtype == DType::f32 && src.dtype == DType::bf16) {
    auto* out = static_cast<float*>(dst.data);
    const auto* in = static_cast<const bf16_t*>(src.data);
    return for_each(*this, n, [=] __device__(int64_t i) { out[i] = bf16_to_float(in[i]); });
  }
  throw std::logic_error("convert: only f32 <-> bf16");
}

void CudaBackend::add(float* out, const float* a, const float* b, int64_t n) {
  for_each(*this, n, [=] __device__(int64_t i) { out[i] = a[i] + b[i]; });
}

void CudaBackend::scale_inplace(float* x, int64_t n, float s) {
  for_each(*this, n, [=] __device__(int64_t i) { x[i] *= s; });
}

void CudaBackend::silu_forward(float* out, const float* x, int64_t n) {
  for_each(*this, n,
           [=] __device__(int64_t i) { out[i] = activate(GateActivationKind::silu, x[i]); });
}

void CudaBackend::silu_backward(float* dx, const float* dout, const float* x, int64_t n) {
  for_each(*this, n, [=] __device__(int64_t i) {
    dx[i] = dout[i] * activate_grad(GateActivationKind::silu, x[i]);
  });
}

void CudaBackend::swiglu_forward(float* out, const float* gate_up, int64_t rows, int64_t inter) {
  for_each(*this, rows * inter, [=] __device__(int64_t i) {
    const int64_t r = i / inter, c = i % inter;
    const float* g = gate_up + r * 2 * inter;
    out[i] = swiglu(g[c], g[inter + c]);
  });
}

void CudaBackend::swiglu_backward(float* dgate_up, const float* dout, const float* gate_up,
                                  int64_t rows, int64_t inter) {
  for_each(*this, rows * inter, [=] __device__(int64_t i) {
    const int64_t r = i / inter, c = i % inter;
    const float* g = gate_up + r * 2 * inter;
    float* dg = dgate_up + r * 2 * inter;
    swiglu_grad(g[c], g[inter + c], dout[i], dg + c, dg + inter + c);
  });
}

void CudaBackend::embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n,
                                    int64_t dim) {
  for_each(*this, n * dim, [=] __device__(int64_t i) {
    const int64_t r = i / dim, c = i % dim;
    out[i] = ids[r] >= 0 ? table[static_cast<int64_t>(ids[r]) * dim + c] : 0.0f;
  });
}

// One thread per column walks the tokens in order, as the CPU does: repeated ids accumulate
// deterministically (and bit-identically to the CPU) without atomics. Parallel over columns only.
void CudaBackend::embedding_backward(float* dtable, const float* dout, const int32_t* ids,
                                     int64_t n, int64_t dim) {
  for_each(*this, dim, [=] __device__(int64_t c) {
    for (int64_t r = 0; r < n; ++r)
      if (ids[r] >= 0) dtable[static_cast<int64_t>(ids[r]) * dim + c] += dout[r * dim + c];
  });
}

void CudaBackend::adamw_update(float* param, const float* grad, float* m, float* v, int64_t n,
                               float lr, float beta1, float beta2, float eps, float weight_decay,
                               int64_t step) {
  const AdamWStep s = adamw_step(lr, beta1, beta2, eps, weight_decay, step);
  for_each(*this, n,
           [=] __device__(int64_t i) { adamw_element(param + i, grad[i], m + i, v + i, s); });
}

}  // namespace gatedlm::cuda
