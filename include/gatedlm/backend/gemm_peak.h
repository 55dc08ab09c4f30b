// The GEMM throughput a backend reaches: the peak that MFU is reported against.
#pragma once

#include <cstdint>

#include "gatedlm/backend/backend.h"

namespace gatedlm {

// Best of `repeats` timed n x n x n fp32 products through be.gemm (after one warm-up), GFLOP/s.
double measure_gemm_gflops(Backend& be, int64_t n, int repeats = 3);

}  // namespace gatedlm
