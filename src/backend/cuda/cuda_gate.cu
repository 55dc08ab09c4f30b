// CUDA attention gates: one kernel per direction serves every GateSpec (position, granularity,
// sharing, combine and activation), through kernel_math.h's gate_score and gate_logit_grad,
// which the CPU backend uses too. Rows with logits_ld == 0 share one logits row (static gates).
#include "cuda_common.cuh"
#include "gatedlm/backend/kernel_math.h"

namespace gatedlm::cuda {

void CudaBackend::gate_forward(float* out, const float* y, int64_t y_ld, const float* logits,
                               int64_t logits_ld, int64_t rows, const GateSpec& s) {
  const int64_t D = s.head_dim, row_len = s.heads * D;
  for_each(*this, rows * row_len, [=] __device__(int64_t idx) {
    const int64_t r = idx / row_len, i = idx % row_len, h = i / D, d = i % D;
    const float g = gate_score(logits + r * logits_ld, s, r, h, s.elementwise ? d : 0);
    const float x = y[r * y_ld + i];
    out[idx] = s.additive ? x + g : x * g;
  });
}

// One thread per logit unit (token, head, column): it writes dy for the elements its score
// scales (one for elementwise gates, head_dim for headwise) and the unit's logit gradient.
void CudaBackend::gate_backward(float* dy, int64_t dy_ld, float* dlogits, int64_t dlogits_ld,
                                const float* dout, const float* y, int64_t y_ld,
                                const float* logits, int64_t logits_ld, int64_t rows,
                                const GateSpec& s) {
  const int64_t D = s.head_dim, row_len = s.heads * D, unit = gate_unit_width(s);
  const int64_t per_unit = s.elementwise ? 1 : D;
  for_each(*this, rows * s.heads * unit, [=] __device__(int64_t idx) {
    const int64_t r = idx / (s.heads * unit), h = idx / unit % s.heads, c = idx % unit;
    const float* lr = logits + r * logits_ld;
    const float* g_out = dout + r * row_len;
    const float* yr = y + r * y_ld;
    // Element offsets of unit (head, c) within a row: head*D + c + j for j < per_unit.
    auto dscore_of = [&](int64_t head) {
      float acc = 0.0f;
      for (int64_t j = 0; j < per_unit; ++j) {
        const int64_t i = head * D + c + j;
        acc += s.additive ? g_out[i] : g_out[i] * yr[i];
      }
      return acc;
    };
    const float score = gate_score(lr, s, r, h, c);
    for (int64_t j = 0; j < per_unit; ++j) {
      const int64_t i = h * D + c + j;
      dy[r * dy_ld + i] = s.additive ? g_out[i] : g_out[i] * score;
    }
    float total = 0.0f;
    if (s.head_shared && s.shared_dscores) {
      total = s.shared_dscores[r * unit + c];
    } else if (s.head_shared) {
      for (int64_t head = 0; head < s.heads; ++head) total += dscore_of(head);
    } else {
      total = dscore_of(h);
    }
    dlogits[r * dlogits_ld + h * unit + c] = gate_logit_grad(lr, s, r, h, c, total);
  });
}

// One thread per (token, logit column): the sums over this shard's heads.
void CudaBackend::gate_shared_term_sums(float* sums, const float* logits, int64_t logits_ld,
                                        int64_t rows, const GateSpec& s) {
  const int64_t unit = gate_unit_width(s);
  for_each(*this, rows * unit, [=] __device__(int64_t idx) {
    const int64_t r = idx / unit, c = idx % unit;
    float total = 0.0f;
    for (int64_t h = 0; h < s.heads; ++h)
      total += shared_average_term(s, logits[r * logits_ld + h * unit + c]);
    sums[idx] = total;
  });
}

void CudaBackend::gate_shared_dscore_sums(float* sums, const float* dout, const float* y,
                                          int64_t y_ld, int64_t rows, const GateSpec& s) {
  const int64_t D = s.head_dim, row_len = s.heads * D, unit = gate_unit_width(s);
  const int64_t per_unit = s.elementwise ? 1 : D;
  for_each(*this, rows * unit, [=] __device__(int64_t idx) {
    const int64_t r = idx / unit, c = idx % unit;
    float total = 0.0f;
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t j = 0; j < per_unit; ++j) {
        const int64_t i = h * D + c + j;
        total += s.additive ? dout[r * row_len + i] : dout[r * row_len + i] * y[r * y_ld + i];
      }
    sums[idx] = total;
  });
}

namespace {

// The score of logit unit idx (token, head, column), weighted by the elements it scales.
struct WeightedScore {
  const float* logits;
  int64_t logits_ld;
  GateSpec spec;
  bool count_below_threshold;
  __device__ double operator()(int64_t idx) const {
    const int64_t unit = gate_unit_width(spec);
    const int64_t r = idx / (spec.heads * unit), h = idx / unit % spec.heads, c = idx % unit;
    const double per_unit = spec.elementwise ? 1.0 : static_cast<double>(spec.head_dim);
    const float g = gate_score(logits + r * logits_ld, spec, r, h, c);
    return count_below_threshold ? (g < 0.1f ? per_unit : 0.0) : per_unit * g;
  }
};

}  // namespace

void CudaBackend::gate_score_stats(double* sum, double* below_threshold, const float* logits,
                                   int64_t logits_ld, int64_t rows, const GateSpec& s) {
  const int64_t units = rows * s.heads * gate_unit_width(s);
  *sum = reduce_fixed_order(*this, units, WeightedScore{logits, logits_ld, s, false}, SumOp{}, 0.0);
  *below_threshold =
      reduce_fixed_order(*this, units, WeightedScore{logits, logits_ld, s, true}, SumOp{}, 0.0);
}

}  // namespace gatedlm::cuda
