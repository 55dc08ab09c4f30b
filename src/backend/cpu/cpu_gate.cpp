// Attention gates on the CPU: one kernel serves every position, granularity, sharing, combine
// and activation. A row's logits are `heads` units of `unit` columns (unit = head_dim for
// elementwise gates, 1 for headwise); the score of element (h, d) is unit h, column d or 0.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu_backend_impl.h"
#include "gatedlm/backend/kernel_math.h"

namespace gatedlm::cpu {
namespace {

// Calls body(kind) with the activation as a compile-time constant, so the loops in `body`
// inline one formula and vectorise.
template <typename Body>
void with_activation(GateActivationKind kind, Body body) {
  switch (kind) {
    case GateActivationKind::sigmoid:
      return body(std::integral_constant<GateActivationKind, GateActivationKind::sigmoid>());
    case GateActivationKind::silu:
      return body(std::integral_constant<GateActivationKind, GateActivationKind::silu>());
    case GateActivationKind::ns_sigmoid:
      return body(std::integral_constant<GateActivationKind, GateActivationKind::ns_sigmoid>());
    case GateActivationKind::identity:
      return body(std::integral_constant<GateActivationKind, GateActivationKind::identity>());
  }
}

// Scores per logit column for token `row` (a head-shared score is computed once per column).
void row_scores(const float* logits, const GateSpec& s, int64_t row, float* score) {
  if (!s.head_shared) {  // each unit's own score
    with_activation(s.activation, [&](auto kind) {
      for (int64_t i = 0; i < s.width(); ++i) score[i] = activate(kind, logits[i]);
    });
    return;
  }
  const int64_t unit = gate_unit_width(s);
  for (int64_t c = 0; c < unit; ++c) {
    const float shared = s.head_shared ? gate_score(logits, s, row, 0, c) : 0.0f;
    for (int64_t h = 0; h < s.heads; ++h)
      score[h * unit + c] = s.head_shared ? shared : gate_score(logits, s, row, h, c);
  }
}

// d loss / d score of every logit unit of one row: the sum over the elements the unit scales.
void row_dscores(const float* g_out, const float* yr, const GateSpec& s, float* dscore) {
  const int64_t unit = gate_unit_width(s), D = s.head_dim;
  std::fill(dscore, dscore + s.width(), 0.0f);
  for (int64_t h = 0; h < s.heads; ++h)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = h * D + d;
      dscore[h * unit + (s.elementwise ? d : 0)] += s.additive ? g_out[i] : g_out[i] * yr[i];
    }
}

// The sum over this row's heads of unit values at column c.
float sum_over_heads(const float* units, const GateSpec& s, int64_t c) {
  const int64_t unit = gate_unit_width(s);
  float total = 0.0f;
  for (int64_t h = 0; h < s.heads; ++h) total += units[h * unit + c];
  return total;
}

}  // namespace

void CpuBackend::gate_forward(float* out, const float* y, int64_t y_ld, const float* logits,
                              int64_t logits_ld, int64_t rows, const GateSpec& s) {
  const int64_t unit = gate_unit_width(s), D = s.head_dim, row_len = s.heads * D;
#pragma omp parallel
  {
    std::vector<float> score(static_cast<size_t>(s.width()));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      row_scores(logits + r * logits_ld, s, r, score.data());
      const float* yr = y + r * y_ld;
      float* o = out + r * row_len;
      for (int64_t h = 0; h < s.heads; ++h) {
        for (int64_t d = 0; d < D; ++d) {
          const float g = score[h * unit + (s.elementwise ? d : 0)];
          o[h * D + d] = s.additive ? yr[h * D + d] + g : yr[h * D + d] * g;
        }
      }
    }
  }
}

void CpuBackend::gate_backward(float* dy, int64_t dy_ld, float* dlogits, int64_t dlogits_ld,
                               const float* dout, const float* y, int64_t y_ld, const float* logits,
                               int64_t logits_ld, int64_t rows, const GateSpec& s) {
  const int64_t unit = gate_unit_width(s), D = s.head_dim, row_len = s.heads * D, width = s.width();
#pragma omp parallel
  {
    std::vector<float> score(static_cast<size_t>(width)), dscore(static_cast<size_t>(width));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* lr = logits + r * logits_ld;
      row_scores(lr, s, r, score.data());
      const float* yr = y + r * y_ld;
      const float* g_out = dout + r * row_len;
      float* dyr = dy + r * dy_ld;
      for (int64_t h = 0; h < s.heads; ++h) {
        for (int64_t d = 0; d < D; ++d) {
          const int64_t i = h * D + d;
          dyr[i] = s.additive ? g_out[i] : g_out[i] * score[h * unit + (s.elementwise ? d : 0)];
        }
      }
      row_dscores(g_out, yr, s, dscore.data());
      float* dl = dlogits + r * dlogits_ld;
      if (!s.head_shared) {
        with_activation(s.activation, [&](auto kind) {
          for (int64_t i = 0; i < width; ++i) dl[i] = dscore[i] * activate_grad(kind, lr[i]);
        });
        continue;
      }
      for (int64_t c = 0; c < unit; ++c) {
        float total = 0.0f;
        if (s.head_shared)
          total = s.shared_dscores ? s.shared_dscores[r * unit + c]
                                   : sum_over_heads(dscore.data(), s, c);
        for (int64_t h = 0; h < s.heads; ++h)
          dl[h * unit + c] =
              gate_logit_grad(lr, s, r, h, c, s.head_shared ? total : dscore[h * unit + c]);
      }
    }
  }
}

void CpuBackend::gate_shared_term_sums(float* sums, const float* logits, int64_t logits_ld,
                                       int64_t rows, const GateSpec& s) {
  const int64_t unit = gate_unit_width(s);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* lr = logits + r * logits_ld;
    for (int64_t c = 0; c < unit; ++c) {
      float total = 0.0f;
      for (int64_t h = 0; h < s.heads; ++h) total += shared_average_term(s, lr[h * unit + c]);
      sums[r * unit + c] = total;
    }
  }
}

void CpuBackend::gate_shared_dscore_sums(float* sums, const float* dout, const float* y,
                                         int64_t y_ld, int64_t rows, const GateSpec& s) {
  const int64_t unit = gate_unit_width(s), row_len = s.heads * s.head_dim;
#pragma omp parallel
  {
    std::vector<float> dscore(static_cast<size_t>(s.width()));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      row_dscores(dout + r * row_len, y + r * y_ld, s, dscore.data());
      for (int64_t c = 0; c < unit; ++c) sums[r * unit + c] = sum_over_heads(dscore.data(), s, c);
    }
  }
}

void CpuBackend::gate_score_stats(double* sum, double* below_threshold, const float* logits,
                                  int64_t logits_ld, int64_t rows, const GateSpec& s) {
  const int64_t unit = gate_unit_width(s), D = s.head_dim;
  double total = 0.0, below = 0.0;
#pragma omp parallel reduction(+ : total, below)
  {
    std::vector<float> score(static_cast<size_t>(s.width()));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      row_scores(logits + r * logits_ld, s, r, score.data());
      for (int64_t h = 0; h < s.heads; ++h) {
        for (int64_t d = 0; d < D; ++d) {
          const float g = score[h * unit + (s.elementwise ? d : 0)];
          total += g;
          below += g < 0.1f ? 1.0 : 0.0;
        }
      }
    }
  }
  *sum = total;
  *below_threshold = below;
}

}  // namespace gatedlm::cpu
