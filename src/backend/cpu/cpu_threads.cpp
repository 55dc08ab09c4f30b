#include <cstdlib>
#include <string>
#include <thread>

#include "cpu_backend_impl.h"
#include "gatedlm/backend/gemm_peak.h"

namespace gatedlm {

double measure_sgemm_gflops(int64_t n, int repeats) {
  cpu::CpuBackend be;
  return measure_gemm_gflops(be, n, repeats);
}

int default_cpu_threads() {
  for (const char* name : {"GATEDLM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace gatedlm
