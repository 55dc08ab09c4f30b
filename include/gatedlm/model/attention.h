// Self-attention with QK-norm, RoPE, GQA and the attention gate. One fused GEMM computes
// q|k|v|gate from the normed block input X; the gate then acts at its configured site:
//   X -> [q|k|v|gate] -> (G4/G3 pre_norm) -> QK-norm+RoPE -> (G4/G3 post_rope) -> (G2 on v)
//     -> causal SDPA -> sdpa_output_transform -> (G1) -> o_proj -> (G5) -> out
#pragma once

#include <string>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/comm/tensor_parallel.h"
#include "gatedlm/config/config.h"
#include "gatedlm/model/attention_gate.h"
#include "gatedlm/model/instrumentation.h"
#include "gatedlm/model/kv_cache.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// cos/sin tables [seq_len, head_dim/2] for positions 0..seq_len-1, shared by all layers.
struct RopeTables {
  Tensor cos, sin;
  int64_t seq_len = 0;
};

// Gradient buffers reused by every attention layer's backward (only one runs at a time).
struct AttentionScratch {
  Tensor d_fused, d_q, d_q2, d_k, d_k2, d_v, d_o, d_o2, d_dense, d_static_logits;
  void reserve(Backend& be, const ModelConfig& config, int64_t rows);
};

class Attention {
 public:
  // config: of this tensor-parallel shard (comm/tensor_parallel.h); tp sums its partial results.
  Attention(const ModelConfig& config, ParameterSet& params, const std::string& prefix,
            const TensorParallel& tp = {});

  // Allocates the activations saved for backward, for up to `rows` = batch * seq_len tokens.
  void reserve(Backend& be, int64_t rows);
  // x: normed input [B*T, hidden]; out: [B*T, hidden]. With a cache (decoding: B = T = 1, no
  // analysis) the token sits at cache->position: its key and value are stored there and it
  // attends to every cached position.
  void forward(Backend& be, const float* x, float* out, const RopeTables& rope, int64_t batch,
               int64_t seq_len, LayerAnalysis* analysis, const KvCacheSlot* cache = nullptr);
  // Recomputes the attention core (the gates on q, k and v after RoPE, SDPA, the output
  // transform and the SDPA-output gate) from what forward saved before it: what backward needs
  // when train.recompute shares the core's buffers between layers. Same kernels on the same
  // inputs, so the same bits as the forward that wrote them.
  void recompute_core(Backend& be, int64_t batch, int64_t seq_len);
  // The saved activations recompute_core rewrites, and every saved activation (what a full
  // recompute of the layer's forward rewrites): a Transformer under recomputation points
  // several layers' tensors at one buffer.
  std::vector<Tensor*> core_activations();
  std::vector<Tensor*> saved_activations();
  // dx (overwritten) from dout; parameter gradients accumulate.
  void backward(Backend& be, const float* x, const float* dout, float* dx, const RopeTables& rope,
                int64_t batch, int64_t seq_len, AttentionScratch& scratch);

 private:
  AttentionDims dims(int64_t batch, int64_t seq_len) const;
  // Forward in stages: the fused projection, pre-norm gates and QK-norm + RoPE; then the core.
  void project_and_rotate(Backend& be, const float* x, const RopeTables& rope, int64_t batch,
                          int64_t seq_len, const KvCacheSlot* cache);
  void core(Backend& be, int64_t batch, int64_t seq_len, const KvCacheSlot* cache);
  // The tensors SDPA reads (gated copies or the fused columns) and the core's output.
  const float* q_for_attention() const;
  const float* k_for_attention() const;
  const float* v_for_attention() const;
  const float* core_output() const;
  bool gate_on_query_pre_norm() const;
  bool gate_on_key_pre_norm() const;
  bool gate_on_query_post_rope() const;
  bool gate_on_key_post_rope() const;

  ModelConfig config_;
  TensorParallel tp_;
  AttentionGate gate_;
  ParameterSet& params_;
  ParameterSet::Id q_proj_, o_proj_, q_norm_ = -1, k_norm_ = -1, sdpa_norm_ = -1;
  int64_t q_width_, kv_width_, fused_width_, gate_col_;

  // Saved activations (see the flow above).
  Tensor fused_, q_pre_, k_pre_, q_rot_, k_rot_, rstd_q_, rstd_k_, q_post_, k_post_, v_gated_;
  Tensor sdpa_out_, lse_, sdpa_transformed_, rstd_sdpa_, sdpa_gated_, dense_pre_gate_;
  Tensor first_token_;
};

}  // namespace gatedlm
