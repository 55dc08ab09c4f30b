#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "cpu_backend_impl.h"
#include "gatedlm/backend/cpu/thread_limit.h"
#include "gatedlm/backend/gemm_peak.h"
#include "gatedlm/core/error.h"

namespace gatedlm {

double measure_sgemm_gflops(int64_t n, int repeats) {
  cpu::CpuBackend be;
  return measure_gemm_gflops(be, n, repeats);
}

namespace {

// A set variable must be a thread count: "abc", "0" or "100000" once meant "all cores" silently.
// OMP_NUM_THREADS may list one count per nesting level ("4,2"); the first is the outer one.
int parse_threads(const char* name, const std::string& text) {
  const std::string first = text.substr(0, text.find(','));
  int value = 0;
  bool ok = !first.empty() && first.size() <= 5;
  for (char c : first) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) value = value * 10 + (c - '0');
  }
  if (!ok || value < 1 || value > kMaxCpuThreads)
    throw InputError(std::string(name) + ": expected a thread count from 1 to " +
                     std::to_string(kMaxCpuThreads) + ", got '" + text + "'");
  return value;
}

}  // namespace

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
    if (const char* v = std::getenv(name)) return parse_threads(name, v);
  }
  return std::min<int>(kMaxCpuThreads, std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace gatedlm
