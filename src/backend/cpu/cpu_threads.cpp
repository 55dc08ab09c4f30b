#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "cpu_backend_impl.h"
#include "gatedlm/backend/gemm_peak.h"

namespace gatedlm {

double measure_sgemm_gflops(int64_t n, int repeats) {
  cpu::CpuBackend be;
  return measure_gemm_gflops(be, n, repeats);
}

namespace cpu {

// /proc/cpuinfo's first "model name" (Linux); "" elsewhere.
std::string CpuBackend::hardware() const {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

}  // namespace cpu

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
