// The CPU reference backend: OpenBLAS sgemm for every matrix product, OpenMP for the rest.
#pragma once

#include "gatedlm/backend/backend.h"

namespace gatedlm {

// One thread policy for both pools so they never oversubscribe: OpenMP regions and OpenBLAS
// calls never overlap, and attention's per-head GEMMs run single-threaded inside OpenMP.
void set_cpu_threads(int threads);
int cpu_threads();

}  // namespace gatedlm

namespace gatedlm {

// Measured OpenBLAS sgemm throughput (GFLOP/s) on an n x n x n product with the current thread
// setting: the peak that MFU is reported against.
double measure_sgemm_gflops(int64_t n = 1024, int repeats = 3);

// Threads from GATEDLM_THREADS, else OMP_NUM_THREADS, else the hardware concurrency.
int default_cpu_threads();

}  // namespace gatedlm
