// Linear layers as y = x W^T with W [out, in] (PyTorch layout), on strided rows.
#pragma once

#include "gatedlm/backend/backend.h"

namespace gatedlm {

struct LinearShape {
  int64_t rows, in, out;
};

// y[rows, out] (row stride ldy) = x[rows, in] (row stride ldx) W^T.
inline void linear_forward(Backend& be, float* y, int64_t ldy, const float* x, int64_t ldx,
                           const float* w, const LinearShape& s) {
  be.gemm(false, true, s.rows, s.out, s.in, 1.0f, {x, ldx}, {w, s.in}, 0.0f, {y, ldy});
}

// dx[rows, in] = (or +=, when accumulate) dy W.
inline void linear_backward_input(Backend& be, float* dx, int64_t ldx, const float* dy, int64_t ldy,
                                  const float* w, const LinearShape& s, bool accumulate) {
  be.gemm(false, false, s.rows, s.in, s.out, 1.0f, {dy, ldy}, {w, s.in}, accumulate ? 1.0f : 0.0f,
          {dx, ldx});
}

// dW[out, in] += dy^T x.
inline void linear_backward_weight(Backend& be, float* dw, const float* dy, int64_t ldy,
                                   const float* x, int64_t ldx, const LinearShape& s) {
  be.gemm(true, false, s.out, s.in, s.rows, 1.0f, {dy, ldy}, {x, ldx}, 1.0f, {dw, s.in});
}

}  // namespace gatedlm
