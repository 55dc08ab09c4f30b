// The CPU backend class; its ops are implemented across src/backend/cpu/*.cpp by concern.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "gatedlm/backend/cpu/cpu_backend.h"

namespace gatedlm::cpu {

// Row ranges for deterministic parallel reductions: a fixed number of chunks, independent of the
// thread count, whose partial sums are combined in order.
constexpr int64_t kReductionChunks = 64;

class CpuBackend final : public Backend, public BackendProbes {
 public:
  Device device() const override { return Device::cpu; }
  std::string name() const override { return "cpu"; }
  std::string hardware() const override;
  BackendProbes& probes() override { return *this; }
  using Backend::empty;  // the fp32 shorthand beside the typed op

#define GATEDLM_BACKEND_OP(ret, name, params) ret name params override;
#include "gatedlm/backend/compute_ops.def"
#include "gatedlm/backend/instrumentation_ops.def"
#undef GATEDLM_BACKEND_OP

  // The fp32 GEMM behind gemm(): OpenBLAS, split into bands over the OpenMP threads when large.
  void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc);

 private:
  std::shared_ptr<std::atomic<size_t>> live_bytes_ = std::make_shared<std::atomic<size_t>>(0);
};

// Sums per-chunk partial vectors of length `dim` computed by `partial(chunk_begin, chunk_end,
// acc)` over rows [0, rows), in chunk order, into `out` (accumulating). Deterministic.
template <typename PartialFn>
void chunked_row_reduce(float* out, int64_t rows, int64_t dim, PartialFn partial) {
  const int64_t chunks = std::min<int64_t>(kReductionChunks, std::max<int64_t>(rows, 1));
  std::vector<double> partials(static_cast<size_t>(chunks * dim), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = rows * c / chunks, end = rows * (c + 1) / chunks;
    partial(begin, end, partials.data() + c * dim);
  }
  for (int64_t c = 1; c < chunks; ++c) {
    const double* p = partials.data() + c * dim;
    for (int64_t i = 0; i < dim; ++i) partials[i] += p[i];
  }
  for (int64_t i = 0; i < dim; ++i) out[i] += static_cast<float>(partials[i]);
}

}  // namespace gatedlm::cpu
