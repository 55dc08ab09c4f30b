// Attention gates on the CPU: one kernel serves every position, granularity, sharing, combine
// and activation. A row's logits are `heads` units of `unit` columns (unit = head_dim for
// elementwise gates, 1 for headwise); the score of element (h, d) is unit h, column d or 0.
#include <vector>

#include "cpu_backend_impl.h"
#include "cpu_math.h"

namespace gatedlm::cpu {
namespace {

int64_t unit_width(const GateSpec& s) { return s.elementwise ? s.head_dim : 1; }

// Scores per logit column (after head sharing) for one row.
void row_scores(const float* logits, const GateSpec& s, float* score) {
  const int64_t unit = unit_width(s), width = s.width();
  if (!s.head_shared) {
    for (int64_t i = 0; i < width; ++i) score[i] = activate(s.activation, logits[i]);
    return;
  }
  const float inv_heads = 1.0f / static_cast<float>(s.heads);
  for (int64_t c = 0; c < unit; ++c) {
    float acc = 0.0f;
    for (int64_t h = 0; h < s.heads; ++h) {
      const float l = logits[h * unit + c];
      acc += s.shared_average_logits ? l : activate(s.activation, l);
    }
    const float shared =
        s.shared_average_logits ? activate(s.activation, acc * inv_heads) : acc * inv_heads;
    for (int64_t h = 0; h < s.heads; ++h) score[h * unit + c] = shared;
  }
}

}  // namespace

void CpuBackend::gate_forward(float* out, const float* y, int64_t y_ld, const float* logits,
                              int64_t logits_ld, int64_t rows, const GateSpec& s) {
  const int64_t unit = unit_width(s), D = s.head_dim, row_len = s.heads * D;
#pragma omp parallel
  {
    std::vector<float> score(static_cast<size_t>(s.width()));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      row_scores(logits + r * logits_ld, s, score.data());
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
  const int64_t unit = unit_width(s), D = s.head_dim, row_len = s.heads * D, width = s.width();
  const float inv_heads = 1.0f / static_cast<float>(s.heads);
#pragma omp parallel
  {
    std::vector<float> score(static_cast<size_t>(width)), dscore(static_cast<size_t>(width));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* lr = logits + r * logits_ld;
      row_scores(lr, s, score.data());
      std::fill(dscore.begin(), dscore.end(), 0.0f);
      const float* yr = y + r * y_ld;
      const float* g_out = dout + r * row_len;
      float* dyr = dy + r * dy_ld;
      for (int64_t h = 0; h < s.heads; ++h) {
        for (int64_t d = 0; d < D; ++d) {
          const int64_t i = h * D + d, u = h * unit + (s.elementwise ? d : 0);
          dyr[i] = s.additive ? g_out[i] : g_out[i] * score[u];
          dscore[u] += s.additive ? g_out[i] : g_out[i] * yr[i];
        }
      }
      float* dl = dlogits + r * dlogits_ld;
      if (!s.head_shared) {
        for (int64_t i = 0; i < width; ++i) dl[i] = dscore[i] * activate_grad(s.activation, lr[i]);
        continue;
      }
      for (int64_t c = 0; c < unit; ++c) {
        float total = 0.0f, mean_logit = 0.0f;
        for (int64_t h = 0; h < s.heads; ++h) {
          total += dscore[h * unit + c];
          mean_logit += lr[h * unit + c];
        }
        mean_logit *= inv_heads;
        for (int64_t h = 0; h < s.heads; ++h) {
          const float at = s.shared_average_logits ? mean_logit : lr[h * unit + c];
          dl[h * unit + c] = total * inv_heads * activate_grad(s.activation, at);
        }
      }
    }
  }
}

void CpuBackend::gate_score_stats(double* sum, double* below_threshold, const float* logits,
                                  int64_t logits_ld, int64_t rows, const GateSpec& s) {
  const int64_t unit = unit_width(s), D = s.head_dim;
  double total = 0.0, below = 0.0;
#pragma omp parallel reduction(+ : total, below)
  {
    std::vector<float> score(static_cast<size_t>(s.width()));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      row_scores(logits + r * logits_ld, s, score.data());
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
