// The CPU backend class; its ops are implemented across src/backend/cpu/*.cpp by concern.
#pragma once

#include <algorithm>
#include <vector>

#include "gatedlm/backend/cpu/cpu_backend.h"

namespace gatedlm::cpu {

// Row ranges for deterministic parallel reductions: a fixed number of chunks, independent of the
// thread count, whose partial sums are combined in order.
constexpr int64_t kReductionChunks = 64;

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu; }
  std::string name() const override { return "cpu"; }

  Tensor empty(const Shape& shape) override;
  void fill(float* x, int64_t n, float value) override;
  void copy(float* dst, const float* src, int64_t n) override;
  void to_host(float* host_dst, const float* src, int64_t n) override;
  void from_host(float* dst, const float* host_src, int64_t n) override;
  void ids_from_host(int32_t* dst, const int32_t* host_src, int64_t n) override;
  std::shared_ptr<Buffer> allocate_ids(int64_t n) override;
  void ids_to_host(int32_t* host_dst, const int32_t* src, int64_t n) override;

  void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
            int64_t ldc) override;

  void add_inplace(float* y, const float* x, int64_t n) override;
  void add(float* out, const float* a, const float* b, int64_t n) override;
  void scale_inplace(float* x, int64_t n, float s) override;
  double sum_squares(const float* x, int64_t n) override;
  float max_abs(const float* x, int64_t n) override;
  void sum_rows_accumulate(float* out, const float* x, int64_t rows, int64_t cols,
                           int64_t ld) override;

  void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n,
                         int64_t dim) override;
  void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n,
                          int64_t dim) override;

  void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int64_t rows,
                       int64_t dim, float eps) override;
  void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                        const float* rstd, int64_t rows, int64_t dim, bool accumulate_dx) override;

  void qknorm_rope_forward(float* out, float* rstd, const float* in, int64_t ld_in, const float* w,
                           const float* cos, const float* sin, int64_t rows, int64_t heads,
                           int64_t head_dim, int64_t seq_len, float eps) override;
  void qknorm_rope_backward(float* din, int64_t ld_in, float* dw, const float* dout,
                            const float* in, const float* w, const float* rstd, const float* cos,
                            const float* sin, int64_t rows, int64_t heads, int64_t head_dim,
                            int64_t seq_len) override;

  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                         const AttentionDims& dims) override;
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                          const float* k, const float* v, const float* out, const float* lse,
                          const AttentionDims& dims) override;
  void attention_decode(float* out, const float* q, const float* k, const float* v, int64_t kv_len,
                        const AttentionDims& dims) override;
  void attention_first_token_prob(float* first_token, const float* q, const float* k,
                                  const float* lse, const AttentionDims& dims) override;

  void swiglu_forward(float* out, const float* gate_up, int64_t rows, int64_t inter) override;
  void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int64_t rows,
                       int64_t inter) override;
  void silu_forward(float* out, const float* x, int64_t n) override;
  void silu_backward(float* dx, const float* dout, const float* x, int64_t n) override;

  void gate_forward(float* out, const float* y, int64_t y_ld, const float* logits,
                    int64_t logits_ld, int64_t rows, const GateSpec& spec) override;
  void gate_backward(float* dy, int64_t dy_ld, float* dlogits, int64_t dlogits_ld,
                     const float* dout, const float* y, int64_t y_ld, const float* logits,
                     int64_t logits_ld, int64_t rows, const GateSpec& spec) override;
  void gate_shared_term_sums(float* sums, const float* logits, int64_t logits_ld, int64_t rows,
                             const GateSpec& spec) override;
  void gate_shared_dscore_sums(float* sums, const float* dout, const float* y, int64_t y_ld,
                               int64_t rows, const GateSpec& spec) override;
  void gate_score_stats(double* sum, double* below_threshold, const float* logits,
                        int64_t logits_ld, int64_t rows, const GateSpec& spec) override;

  void router_topk_forward(float* probs, float* lse, int32_t* experts, float* weights,
                           const float* logits, int64_t ld, int64_t rows, int64_t num_experts,
                           int64_t k, bool normalize) override;
  void router_topk_backward(float* dlogits, int64_t ld, const float* dweights, const float* probs,
                            const float* lse, const int32_t* experts, const float* prob_grad,
                            float z_scale, int64_t rows, int64_t num_experts, int64_t k,
                            bool normalize) override;
  void gather_rows(float* out, const float* src, int64_t ld_src, const int32_t* index, int64_t rows,
                   int64_t cols) override;
  void combine_rows(float* out, const float* src, const int32_t* slots, const float* weights,
                    int64_t rows, int64_t k, int64_t cols, bool accumulate) override;
  void combine_rows_backward(float* dsrc, float* dweights, const float* dout, const float* src,
                             const int32_t* slots, const float* weights, int64_t rows, int64_t k,
                             int64_t cols) override;

  void cross_entropy(float* losses, float* logits, const int32_t* targets, int64_t rows,
                     int64_t vocab, float dlogits_scale) override;
  void cross_entropy_row_max(float* row_max, const float* logits, int64_t rows,
                             int64_t vocab) override;
  void cross_entropy_slice_sums(float* sums, const float* logits, const int32_t* targets,
                                const float* row_max, int64_t rows, int64_t vocab) override;
  void cross_entropy_from_sums(float* losses, float* logits, const int32_t* targets,
                               const float* row_max, const float* sums, int64_t rows, int64_t vocab,
                               float dlogits_scale) override;

  void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                    float beta1, float beta2, float eps, float weight_decay, int64_t step) override;
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
