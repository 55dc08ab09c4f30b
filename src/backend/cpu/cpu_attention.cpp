// Causal GQA attention on the CPU. Work is split over (batch, KV head) so that the query heads
// sharing a KV head accumulate dK/dV without races; each head is processed in row blocks so the
// masked upper triangle beyond the block is never computed. Probabilities are recomputed in
// backward from the saved log-sum-exp (no [T, T] tensor is kept per layer).
#include <cmath>
#include <limits>
#include <vector>

#include "cpu_backend_impl.h"
#include "gatedlm/backend/kernel_math.h"

namespace gatedlm::cpu {
namespace {

constexpr int64_t kRowBlock = 64;

struct HeadView {
  const float* q = nullptr;  // [T, D], row stride ld_q
  const float* k = nullptr;  // [T, D], row stride ld_k
  const float* v = nullptr;  // [T, D], row stride ld_v
  int64_t ld_q, ld_k, ld_v;

  // Query head h of batch b and the KV head it reads.
  HeadView(const float* q_all, const float* k_all, const float* v_all, const AttentionDims& d,
           int64_t b, int64_t h)
      : ld_q(d.ld_q), ld_k(d.ld_k), ld_v(d.ld_v) {
    const int64_t T = d.seq_len, D = d.head_dim, g = h / (d.heads / d.kv_heads);
    q = q_all + b * T * d.ld_q + h * D;
    k = k_all + b * T * d.ld_k + g * D;
    v = v_all + b * T * d.ld_v + g * D;
  }
};

// scores[t, j] for rows [r0, r1) and columns [0, r1): scale * q_t . k_j.
void block_scores(CpuBackend& be, float* scores, const HeadView& h, int64_t r0, int64_t r1,
                  int64_t head_dim, float scale, int64_t ld_s) {
  be.gemm_f32(false, true, r1 - r0, r1, head_dim, scale, h.q + r0 * h.ld_q, h.ld_q, h.k, h.ld_k,
              0.0f, scores, ld_s);
}

// Per-thread score tiles, kept across calls so the step loop does not allocate: OpenMP threads
// persist, so each grows its tiles once to the largest [kRowBlock, T] seen.
float* thread_tile(int which, int64_t floats) {
  thread_local std::vector<float> tiles[2];
  if (tiles[which].size() < static_cast<size_t>(floats)) tiles[which].resize(floats);
  return tiles[which].data();
}

// Softmax of row[0, n) in place (max-shifted, summed in double); returns the log-sum-exp.
float softmax_in_place(float* row, int64_t n) {
  float max_s = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : max_s)
  for (int64_t j = 0; j < n; ++j) max_s = std::max(max_s, row[j]);
  for (int64_t j = 0; j < n; ++j) row[j] = exp_f32(row[j] - max_s);  // vectorises
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) sum += row[j];
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
  return max_s + static_cast<float>(std::log(sum));
}

}  // namespace

void CpuBackend::attention_forward(float* out, float* lse, const float* q, const float* k,
                                   const float* v, const AttentionDims& d) {
  const int64_t T = d.seq_len, D = d.head_dim;
  const int64_t ld_out = d.heads * D;
#pragma omp parallel
  {
    float* probs = thread_tile(0, kRowBlock * T);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t b = 0; b < d.batch; ++b) {
      for (int64_t h = 0; h < d.heads; ++h) {
        const HeadView hv(q, k, v, d, b, h);
        float* o = out + b * T * ld_out + h * D;
        float* lse_bh = lse + (b * d.heads + h) * T;
        for (int64_t r0 = 0; r0 < T; r0 += kRowBlock) {
          const int64_t r1 = std::min(T, r0 + kRowBlock);
          block_scores(*this, probs, hv, r0, r1, D, d.scale, r1);
          for (int64_t t = r0; t < r1; ++t) {
            float* row = probs + (t - r0) * r1;
            lse_bh[t] = softmax_in_place(row, t + 1);
            for (int64_t j = t + 1; j < r1; ++j) row[j] = 0.0f;
          }
          gemm_f32(false, false, r1 - r0, D, r1, 1.0f, probs, r1, hv.v, d.ld_v, 0.0f,
                   o + r0 * ld_out, ld_out);
        }
      }
    }
  }
}

void CpuBackend::attention_decode(float* out, const float* q, const float* k, const float* v,
                                  int64_t kv_len, const AttentionDims& d) {
  const int64_t D = d.head_dim, group = d.heads / d.kv_heads;
#pragma omp parallel
  {
    float* probs = thread_tile(0, kv_len);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t b = 0; b < d.batch; ++b) {
      for (int64_t h = 0; h < d.heads; ++h) {
        const float* k_bh = k + b * kv_len * d.ld_k + (h / group) * D;
        const float* v_bh = v + b * kv_len * d.ld_v + (h / group) * D;
        gemm_f32(false, true, 1, kv_len, D, d.scale, q + b * d.ld_q + h * D, D, k_bh, d.ld_k, 0.0f,
                 probs, kv_len);
        softmax_in_place(probs, kv_len);
        gemm_f32(false, false, 1, D, kv_len, 1.0f, probs, kv_len, v_bh, d.ld_v, 0.0f,
                 out + (b * d.heads + h) * D, D);
      }
    }
  }
}

void CpuBackend::attention_backward(float* dq, float* dk, float* dv, const float* dout,
                                    const float* q, const float* k, const float* v,
                                    const float* out, const float* lse, const AttentionDims& d) {
  const int64_t T = d.seq_len, D = d.head_dim, group = d.heads / d.kv_heads;
  const int64_t ld_out = d.heads * D;
#pragma omp parallel
  {
    float* probs = thread_tile(0, kRowBlock * T);
    float* dprobs = thread_tile(1, kRowBlock * T);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t b = 0; b < d.batch; ++b) {
      for (int64_t g = 0; g < d.kv_heads; ++g) {
        float* dk_bg = dk + b * T * d.ld_k + g * D;
        float* dv_bg = dv + b * T * d.ld_v + g * D;
        for (int64_t t = 0; t < T; ++t) {
          std::fill(dk_bg + t * d.ld_k, dk_bg + t * d.ld_k + D, 0.0f);
          std::fill(dv_bg + t * d.ld_v, dv_bg + t * d.ld_v + D, 0.0f);
        }
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const HeadView hv(q, k, v, d, b, h);
          const float* o = out + b * T * ld_out + h * D;
          const float* g_o = dout + b * T * ld_out + h * D;
          const float* lse_bh = lse + (b * d.heads + h) * T;
          float* dq_bh = dq + b * T * d.ld_q + h * D;
          for (int64_t r0 = 0; r0 < T; r0 += kRowBlock) {
            const int64_t r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
            block_scores(*this, probs, hv, r0, r1, D, d.scale, r1);
            for (int64_t t = r0; t < r1; ++t) {
              float* row = probs + (t - r0) * r1;
              for (int64_t j = 0; j <= t; ++j) row[j] = exp_f32(row[j] - lse_bh[t]);
              for (int64_t j = t + 1; j < r1; ++j) row[j] = 0.0f;
            }
            // dV += P^T dO ; dP = dO V^T
            gemm_f32(true, false, r1, D, rows, 1.0f, probs, r1, g_o + r0 * ld_out, ld_out, 1.0f,
                     dv_bg, d.ld_v);
            gemm_f32(false, true, rows, r1, D, 1.0f, g_o + r0 * ld_out, ld_out, hv.v, d.ld_v, 0.0f,
                     dprobs, r1);
            // dS = P * (dP - rowsum(dO * O))
            for (int64_t t = r0; t < r1; ++t) {
              const float* o_t = o + t * ld_out;
              const float* go_t = g_o + t * ld_out;
              double dot = 0.0;
              for (int64_t i = 0; i < D; ++i) dot += double(o_t[i]) * go_t[i];
              const float row_dot = static_cast<float>(dot);
              float* p = probs + (t - r0) * r1;
              const float* dp = dprobs + (t - r0) * r1;
              for (int64_t j = 0; j < r1; ++j) p[j] = p[j] * (dp[j] - row_dot);
            }
            // dQ = scale * dS K ; dK += scale * dS^T Q
            gemm_f32(false, false, rows, D, r1, d.scale, probs, r1, hv.k, d.ld_k, 0.0f,
                     dq_bh + r0 * d.ld_q, d.ld_q);
            gemm_f32(true, false, r1, D, rows, d.scale, probs, r1, hv.q + r0 * d.ld_q, d.ld_q, 1.0f,
                     dk_bg, d.ld_k);
          }
        }
      }
    }
  }
}

void CpuBackend::attention_first_token_prob(float* first_token, const float* q, const float* k,
                                            const float* lse, const AttentionDims& d) {
  const int64_t T = d.seq_len, D = d.head_dim, group = d.heads / d.kv_heads;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t h = 0; h < d.heads; ++h) {
      const float* k0 = k + b * T * d.ld_k + (h / group) * D;
      const float* lse_bh = lse + (b * d.heads + h) * T;
      double total = 0.0;
      for (int64_t t = 1; t < T; ++t) {
        const float* q_t = q + (b * T + t) * d.ld_q + h * D;
        double s = 0.0;
        for (int64_t i = 0; i < D; ++i) s += double(q_t[i]) * k0[i];
        total += std::exp(d.scale * s - lse_bh[t]);
      }
      first_token[b * d.heads + h] = T > 1 ? static_cast<float>(total / (T - 1)) : 1.0f;
    }
  }
}

}  // namespace gatedlm::cpu
