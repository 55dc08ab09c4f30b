#include "gatedlm/backend/gemm_peak.h"

#include <algorithm>
#include <chrono>

namespace gatedlm {

double measure_gemm_gflops(Backend& be, int64_t n, int repeats) {
  Tensor a = be.empty({n, n}), b = be.empty({n, n}), c = be.empty({n, n});
  be.fill(a.data(), n * n, 0.5f);
  be.fill(b.data(), n * n, 0.25f);
  auto run = [&] {
    be.gemm(false, false, n, n, n, 1.0f, {a.data(), n}, {b.data(), n}, 0.0f, {c.data(), n});
    be.synchronize();
  };
  run();  // warm up threads, caches and GPU clocks
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * n * n * n / best / 1e9;
}

}  // namespace gatedlm
