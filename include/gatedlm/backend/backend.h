// The Backend interface: every piece of math a layer needs, on device pointers. The CPU backend
// (OpenBLAS + OpenMP) is the reference; the CUDA backend implements the same ops and is checked
// against it op by op. Conventions:
//  - Matrices are row-major. "ld" arguments are row strides in elements, so ops can read
//    column slices of a fused projection output without copies.
//  - Outputs named d* for parameters ACCUMULATE (gradient accumulation across micro-batches);
//    activation gradients overwrite unless the op says "accumulate".
//  - Ops are coarse enough to fuse (norm + rope, gate apply, softmax + cross-entropy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gatedlm/core/tensor.h"

namespace gatedlm {

enum class GateActivationKind { sigmoid, silu, ns_sigmoid, identity };

// How one gate acts on a tensor Y of `rows` tokens x `heads` x `head_dim` (a dense gate is
// heads = 1, head_dim = hidden). Logits have `width` = heads*head_dim (elementwise) or heads
// (headwise) columns; logits_ld == 0 broadcasts one row to every token (static gates).
struct GateSpec {
  int64_t heads = 1;
  int64_t head_dim = 1;
  bool elementwise = true;
  bool head_shared = false;
  bool shared_average_logits = false;  // head_shared: average logits (true) or scores (false)
  bool additive = false;               // Y + act(L) instead of Y * act(L)
  GateActivationKind activation = GateActivationKind::sigmoid;
  // Head-shared gates whose heads tensor parallelism splits over shards: per token and logit
  // column, [rows, unit] contiguous, the sums over all shards' heads (shared_heads of them) of
  // the averaged terms and (backward) of d loss / d score. nullptr: the row's own heads.
  const float* shared_sums = nullptr;
  const float* shared_dscores = nullptr;
  int64_t shared_heads = 0;
  int64_t width() const { return elementwise ? heads * head_dim : heads; }
};

// Shapes of one causal attention call. q is [B, T, H, D] with row stride ld_q per token;
// k and v are [B, T, K, D] with row strides ld_k and ld_v (so they can be column slices of a
// fused projection); the output is contiguous [B, T, H, D].
struct AttentionDims {
  int64_t batch = 1, seq_len = 1, heads = 1, kv_heads = 1, head_dim = 1;
  int64_t ld_q = 0, ld_k = 0, ld_v = 0;
  float scale = 1.0f;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;

  // ---- memory ----
  virtual Tensor empty(const Shape& shape) = 0;  // uninitialised
  Tensor zeros(const Shape& shape);
  virtual void fill(float* x, int64_t n, float value) = 0;
  virtual void copy(float* dst, const float* src, int64_t n) = 0;  // device to device
  virtual void to_host(float* host_dst, const float* src, int64_t n) = 0;
  virtual void from_host(float* dst, const float* host_src, int64_t n) = 0;
  // Copies an int32 host array to a device buffer of at least n int32s (token ids).
  virtual void ids_from_host(int32_t* dst, const int32_t* host_src, int64_t n) = 0;
  virtual std::shared_ptr<Buffer> allocate_ids(int64_t n) = 0;
  virtual void ids_to_host(int32_t* host_dst, const int32_t* src, int64_t n) = 0;

  // ---- dense linear algebra ----
  // C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(X) = X^T when trans_x.
  virtual void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc) = 0;

  // ---- elementwise and reductions ----
  virtual void add_inplace(float* y, const float* x, int64_t n) = 0;  // y += x
  // out = a + b in one pass (the residual stream: x + block(x)).
  virtual void add(float* out, const float* a, const float* b, int64_t n) = 0;
  virtual void scale_inplace(float* x, int64_t n, float s) = 0;
  // Sum of squares in double precision, in a fixed order (deterministic for a given n).
  virtual double sum_squares(const float* x, int64_t n) = 0;
  virtual float max_abs(const float* x, int64_t n) = 0;
  // out[c] += sum_r x[r * ld + c] for c < cols (reduces per-token grads of broadcast params).
  virtual void sum_rows_accumulate(float* out, const float* x, int64_t rows, int64_t cols,
                                   int64_t ld) = 0;

  // ---- embedding (a negative id reads a zero row and receives no gradient) ----
  virtual void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n,
                                 int64_t dim) = 0;
  virtual void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n,
                                  int64_t dim) = 0;

  // ---- RMSNorm: out = w * x / sqrt(mean(x^2) + eps) per row; rstd saved for backward ----
  virtual void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w,
                               int64_t rows, int64_t dim, float eps) = 0;
  // dx += (or =, when !accumulate_dx) the input gradient; dw += the weight gradient.
  virtual void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x,
                                const float* w, const float* rstd, int64_t rows, int64_t dim,
                                bool accumulate_dx) = 0;

  // ---- per-head RMSNorm (optional) then rotate-half RoPE ----
  // in: [rows, heads, head_dim] with row stride ld_in (rows = B*T, position = row % seq_len);
  // out and rstd contiguous ([rows, heads, head_dim] and [rows, heads]). w == nullptr: no norm.
  // cos/sin: [seq_len, head_dim/2].
  virtual void qknorm_rope_forward(float* out, float* rstd, const float* in, int64_t ld_in,
                                   const float* w, const float* cos, const float* sin, int64_t rows,
                                   int64_t heads, int64_t head_dim, int64_t seq_len, float eps) = 0;
  // din (row stride ld_in) is overwritten; dw accumulates.
  virtual void qknorm_rope_backward(float* din, int64_t ld_in, float* dw, const float* dout,
                                    const float* in, const float* w, const float* rstd,
                                    const float* cos, const float* sin, int64_t rows, int64_t heads,
                                    int64_t head_dim, int64_t seq_len) = 0;

  // ---- causal GQA attention; lse [B, H, T] (log-sum-exp of scaled scores) saved ----
  virtual void attention_forward(float* out, float* lse, const float* q, const float* k,
                                 const float* v, const AttentionDims& dims) = 0;
  // dq, dk and dv (with the row strides of q, k and v) are overwritten.
  virtual void attention_backward(float* dq, float* dk, float* dv, const float* dout,
                                  const float* q, const float* k, const float* v, const float* out,
                                  const float* lse, const AttentionDims& dims) = 0;
  // Decoding: one new query per batch, q [B, H*D] (row stride ld_q), attends to all kv_len
  // cached keys and values, k [B, kv_len, K*D] and v likewise (row strides ld_k, ld_v; no mask:
  // the query is the newest position); out [B, H*D] contiguous. dims.seq_len is ignored. The
  // default runs attention_forward over kv_len copies of the query row and keeps the
  // last: correct on any backend but O(kv_len^2); backends override it with the O(kv_len) kernel.
  virtual void attention_decode(float* out, const float* q, const float* k, const float* v,
                                int64_t kv_len, const AttentionDims& dims);
  // first_token[b, h] = mean over t >= 1 of P[b, h, t, 0] (the paper's F-Attn before averaging).
  virtual void attention_first_token_prob(float* first_token, const float* q, const float* k,
                                          const float* lse, const AttentionDims& dims) = 0;

  // ---- SwiGLU on a fused [rows, 2*inter] gate|up buffer (row stride 2*inter) ----
  virtual void swiglu_forward(float* out, const float* gate_up, int64_t rows, int64_t inter) = 0;
  virtual void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up,
                               int64_t rows, int64_t inter) = 0;

  // ---- per-head transforms of the SDPA output (the paper's non-gate controls) ----
  virtual void silu_forward(float* out, const float* x, int64_t n) = 0;
  virtual void silu_backward(float* dx, const float* dout, const float* x, int64_t n) = 0;

  // ---- attention gates ----
  // out = Y (*|+) score(logits). y has row stride y_ld; out is contiguous [rows, heads*head_dim];
  // logits have row stride logits_ld (0 = one row shared by every token: static gates).
  virtual void gate_forward(float* out, const float* y, int64_t y_ld, const float* logits,
                            int64_t logits_ld, int64_t rows, const GateSpec& spec) = 0;
  // dy (row stride dy_ld) and dlogits ([rows, width], row stride dlogits_ld) are overwritten;
  // dout is contiguous.
  virtual void gate_backward(float* dy, int64_t dy_ld, float* dlogits, int64_t dlogits_ld,
                             const float* dout, const float* y, int64_t y_ld, const float* logits,
                             int64_t logits_ld, int64_t rows, const GateSpec& spec) = 0;
  // The per-shard halves of a split head-shared gate's sums ([rows, unit] contiguous; the
  // caller sums them over the shards and hands them back in spec.shared_sums/shared_dscores):
  // the averaged terms (logits or scores) over this shard's heads, and d loss / d score.
  virtual void gate_shared_term_sums(float* sums, const float* logits, int64_t logits_ld,
                                     int64_t rows, const GateSpec& spec) = 0;
  virtual void gate_shared_dscore_sums(float* sums, const float* dout, const float* y, int64_t y_ld,
                                       int64_t rows, const GateSpec& spec) = 0;
  // Sum of the gate scores and count of scores < 0.1 over rows x heads x head_dim (as applied).
  virtual void gate_score_stats(double* sum, double* below_threshold, const float* logits,
                                int64_t logits_ld, int64_t rows, const GateSpec& spec) = 0;

  // ---- mixture-of-experts routing ----
  // Per row of router logits [rows, experts] (row stride ld): probs = softmax(logits) and
  // lse = logsumexp(logits) (saved for backward and the z-loss), the k experts of highest
  // probability in descending order (ties: the lower index first) and their weights (the
  // probabilities, divided by their sum when normalize).
  virtual void router_topk_forward(float* probs, float* lse, int32_t* experts, float* weights,
                                   const float* logits, int64_t ld, int64_t rows,
                                   int64_t num_experts, int64_t k, bool normalize) = 0;
  // dlogits (row stride ld) is overwritten with the gradient through the softmax of: dweights
  // [rows, k] (through the normalisation when normalize), plus prob_grad[e] on probs[r, e] of
  // every row (the load-balancing loss; nullptr = none), plus z_scale * lse[r]^2 per row.
  virtual void router_topk_backward(float* dlogits, int64_t ld, const float* dweights,
                                    const float* probs, const float* lse, const int32_t* experts,
                                    const float* prob_grad, float z_scale, int64_t rows,
                                    int64_t num_experts, int64_t k, bool normalize) = 0;
  // out[i] = src[index[i]] for i < rows: cols floats per row, src row stride ld_src.
  virtual void gather_rows(float* out, const float* src, int64_t ld_src, const int32_t* index,
                           int64_t rows, int64_t cols) = 0;
  // out[r] = (or +=, when accumulate) sum over j < k of weights[r, j] * src[slots[r, j]];
  // slots < 0 are skipped; weights == nullptr means every weight is 1. Rows are cols wide.
  virtual void combine_rows(float* out, const float* src, const int32_t* slots,
                            const float* weights, int64_t rows, int64_t k, int64_t cols,
                            bool accumulate) = 0;
  // The backward of combine_rows: dsrc[slots[r, j]] = weights[r, j] * dout[r] (rows of dsrc no
  // slot names are left as they are) and dweights[r, j] = dout[r] . src[slots[r, j]] (0 for a
  // skipped slot). Every slot may appear at most once.
  virtual void combine_rows_backward(float* dsrc, float* dweights, const float* dout,
                                     const float* src, const int32_t* slots, const float* weights,
                                     int64_t rows, int64_t k, int64_t cols) = 0;

  // ---- loss: fused softmax + cross-entropy ----
  // losses[r] = -log softmax(logits[r])[target[r]]. When dlogits_scale != 0 the logits are
  // overwritten by dlogits_scale * (softmax - onehot) (saves a [rows, vocab] buffer).
  virtual void cross_entropy(float* losses, float* logits, const int32_t* targets, int64_t rows,
                             int64_t vocab, float dlogits_scale) = 0;
  // The same loss when each rank of a group holds a vocabulary slice of the logits (vocab =
  // the slice's width; targets slice-local, -1 where another slice holds the target). The
  // caller reduces over the group between the calls: the row maxima (max), then the sums.
  virtual void cross_entropy_row_max(float* row_max, const float* logits, int64_t rows,
                                     int64_t vocab) = 0;
  // sums[2r] = sum_i exp(logits[r, i] - row_max[r]); sums[2r + 1] = logits[r, targets[r]] (0 for
  // -1).
  virtual void cross_entropy_slice_sums(float* sums, const float* logits, const int32_t* targets,
                                        const float* row_max, int64_t rows, int64_t vocab) = 0;
  // losses[r] = log(sums[2r]) + row_max[r] - sums[2r + 1]; the logits become the gradient as
  // cross_entropy's do (onehot only where this slice holds the target).
  virtual void cross_entropy_from_sums(float* losses, float* logits, const int32_t* targets,
                                       const float* row_max, const float* sums, int64_t rows,
                                       int64_t vocab, float dlogits_scale) = 0;

  // ---- optimizer ----
  // One AdamW step with bias correction; decoupled decay p *= (1 - lr * weight_decay).
  virtual void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n,
                            float lr, float beta1, float beta2, float eps, float weight_decay,
                            int64_t step) = 0;

  virtual void synchronize() {}
};

// The CPU backend (always available).
std::unique_ptr<Backend> make_cpu_backend();

}  // namespace gatedlm
