#include "gatedlm/model/attention.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "gatedlm/model/linear.h"

namespace gatedlm {

void AttentionScratch::reserve(Backend& be, const ModelConfig& c, int64_t rows) {
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const int64_t gate = AttentionGate::width_for(c);
  d_fused = be.empty({rows, q + 2 * kv + gate});
  d_q = be.empty({rows, q});
  d_q2 = be.empty({rows, q});
  d_k = be.empty({rows, kv});
  d_k2 = be.empty({rows, kv});
  d_v = be.empty({rows, kv});
  d_o = be.empty({rows, q});
  d_o2 = be.empty({rows, q});
  d_dense = be.empty({rows, c.hidden_size});
  d_static_logits = be.empty({rows, std::max<int64_t>(gate, 1)});
}

Attention::Attention(const ModelConfig& c, ParameterSet& params, const std::string& prefix,
                     const TensorParallel& tp)
    : config_(c), tp_(tp), gate_(c, tp), params_(params) {
  q_width_ = c.num_attention_heads * c.head_dim;
  kv_width_ = c.num_key_value_heads * c.head_dim;
  gate_col_ = q_width_ + 2 * kv_width_;
  const bool fused_gate = gate_.enabled() && gate_.input_dependent();
  fused_width_ = gate_col_ + (fused_gate ? gate_.width() : 0);
  const int64_t C = c.hidden_size;
  // q, k, v (and an input-dependent gate) are one column-parallel GEMM over [q | k | v | gate].
  ParamSpec fused = weight_spec(TensorSplit::column);
  fused.fused_group = prefix + "qkv_gate";
  q_proj_ = params.add(prefix + "q_proj.weight", {q_width_, C}, fused);
  params.add(prefix + "k_proj.weight", {kv_width_, C}, fused);
  params.add(prefix + "v_proj.weight", {kv_width_, C}, fused);
  if (fused_gate) gate_.declare(params, prefix, C, fused.fused_group);
  o_proj_ = params.add(prefix + "o_proj.weight", {C, q_width_}, weight_spec(TensorSplit::row));
  // Per-head norms are shared by all heads, and each shard sees only its own heads.
  if (c.qk_norm) {
    q_norm_ = params.add(prefix + "q_norm.weight", {c.head_dim},
                         norm_spec(GradientKind::partial_over_tensor));
    k_norm_ = params.add(prefix + "k_norm.weight", {c.head_dim},
                         norm_spec(GradientKind::partial_over_tensor));
  }
  if (gate_.enabled() && !gate_.input_dependent()) gate_.declare(params, prefix, C, "");
  if (c.sdpa_output_transform == SdpaOutputTransform::rmsnorm)
    sdpa_norm_ = params.add(prefix + "sdpa_norm.weight", {c.head_dim},
                            norm_spec(GradientKind::partial_over_tensor));
}

bool Attention::gate_on_query_pre_norm() const {
  return gate_.at(GatePosition::query) &&
         config_.attention_gate.qk_gate_point == QkGatePoint::pre_norm;
}
bool Attention::gate_on_key_pre_norm() const {
  return gate_.at(GatePosition::key) &&
         config_.attention_gate.qk_gate_point == QkGatePoint::pre_norm;
}
bool Attention::gate_on_query_post_rope() const {
  return gate_.at(GatePosition::query) && !gate_on_query_pre_norm();
}
bool Attention::gate_on_key_post_rope() const {
  return gate_.at(GatePosition::key) && !gate_on_key_pre_norm();
}

void Attention::reserve(Backend& be, int64_t rows) {
  const int64_t H = config_.num_attention_heads, K = config_.num_key_value_heads;
  auto need = [&](bool on, Tensor& t, Shape shape) {
    if (on) t = be.empty(shape);
  };
  fused_ = be.empty({rows, fused_width_});
  need(gate_on_query_pre_norm(), q_pre_, {rows, q_width_});
  need(gate_on_key_pre_norm(), k_pre_, {rows, kv_width_});
  q_rot_ = be.empty({rows, q_width_});
  k_rot_ = be.empty({rows, kv_width_});
  rstd_q_ = be.empty({rows, H});
  rstd_k_ = be.empty({rows, K});
  need(gate_on_query_post_rope(), q_post_, {rows, q_width_});
  need(gate_on_key_post_rope(), k_post_, {rows, kv_width_});
  need(gate_.at(GatePosition::value), v_gated_, {rows, kv_width_});
  sdpa_out_ = be.empty({rows, q_width_});
  lse_ = be.empty({rows * H});
  const bool transform = config_.sdpa_output_transform != SdpaOutputTransform::none;
  need(transform, sdpa_transformed_, {rows, q_width_});
  need(transform, rstd_sdpa_, {rows, H});
  need(gate_.at(GatePosition::sdpa), sdpa_gated_, {rows, q_width_});
  need(gate_.at(GatePosition::dense), dense_pre_gate_, {rows, config_.hidden_size});
  first_token_ = be.empty({rows * H});
  gate_.reserve(be, rows);
}

AttentionDims Attention::dims(int64_t batch, int64_t seq_len) const {
  AttentionDims d;
  d.batch = batch;
  d.seq_len = seq_len;
  d.heads = config_.num_attention_heads;
  d.kv_heads = config_.num_key_value_heads;
  d.head_dim = config_.head_dim;
  d.ld_q = q_width_;
  d.ld_k = kv_width_;
  d.ld_v = gate_.at(GatePosition::value) ? kv_width_ : fused_width_;
  d.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(config_.head_dim)));
  return d;
}

const float* Attention::q_for_attention() const {
  return gate_on_query_post_rope() ? q_post_.data() : q_rot_.data();
}
const float* Attention::k_for_attention() const {
  return gate_on_key_post_rope() ? k_post_.data() : k_rot_.data();
}
const float* Attention::v_for_attention() const {
  return gate_.at(GatePosition::value) ? v_gated_.data() : fused_.data() + q_width_ + kv_width_;
}
const float* Attention::core_output() const {
  if (gate_.at(GatePosition::sdpa)) return sdpa_gated_.data();
  return config_.sdpa_output_transform != SdpaOutputTransform::none ? sdpa_transformed_.data()
                                                                    : sdpa_out_.data();
}

void Attention::project_and_rotate(Backend& be, const float* x, const RopeTables& rope,
                                   int64_t batch, int64_t seq_len, const KvCacheSlot* cache) {
  const int64_t N = batch * seq_len, C = config_.hidden_size, D = config_.head_dim;
  const int64_t H = config_.num_attention_heads, K = config_.num_key_value_heads;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  float* fused = fused_.data();
  linear_forward(be, fused, fused_width_, x, C, params_.data(q_proj_), {N, C, fused_width_});
  const AttentionGate::Logits logits = gate_.logits(fused, fused_width_, gate_col_);

  // q and k: optional pre-norm gate, then QK-norm + RoPE.
  const float* q_src = fused;
  int64_t q_src_ld = fused_width_;
  if (gate_on_query_pre_norm()) {
    gate_.forward(be, q_pre_.data(), fused, fused_width_, logits, N);
    q_src = q_pre_.data();
    q_src_ld = q_width_;
  }
  const float* k_src = fused + q_width_;
  int64_t k_src_ld = fused_width_;
  if (gate_on_key_pre_norm()) {
    gate_.forward(be, k_pre_.data(), k_src, fused_width_, logits, N);
    k_src = k_pre_.data();
    k_src_ld = kv_width_;
  }
  const float* q_norm_w = q_norm_ >= 0 ? params_.data(q_norm_) : nullptr;
  const float* k_norm_w = k_norm_ >= 0 ? params_.data(k_norm_) : nullptr;
  // Decoding rotates the one token by its position's row of the tables.
  const int64_t rope_row = cache ? cache->position * (D / 2) : 0;
  const float* cos = rope.cos.data() + rope_row;
  const float* sin = rope.sin.data() + rope_row;
  be.qknorm_rope_forward(q_rot_.data(), rstd_q_.data(), q_src, q_src_ld, q_norm_w, cos, sin, N, H,
                         D, seq_len, eps);
  be.qknorm_rope_forward(k_rot_.data(), rstd_k_.data(), k_src, k_src_ld, k_norm_w, cos, sin, N, K,
                         D, seq_len, eps);
}

// The attention core: the gates on q, k and v after RoPE, SDPA, the output transform and the
// SDPA-output gate. Everything it writes is recomputable from what project_and_rotate saved.
void Attention::core(Backend& be, int64_t batch, int64_t seq_len, const KvCacheSlot* cache) {
  const int64_t N = batch * seq_len, D = config_.head_dim, H = config_.num_attention_heads;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const float* fused = fused_.data();
  const AttentionGate::Logits logits = gate_.logits(fused, fused_width_, gate_col_);
  if (gate_on_query_post_rope())
    gate_.forward(be, q_post_.data(), q_rot_.data(), q_width_, logits, N);
  if (gate_on_key_post_rope())
    gate_.forward(be, k_post_.data(), k_rot_.data(), kv_width_, logits, N);
  if (gate_.at(GatePosition::value))
    gate_.forward(be, v_gated_.data(), fused + q_width_ + kv_width_, fused_width_, logits, N);
  const float *q_att = q_for_attention(), *k_att = k_for_attention(), *v_att = v_for_attention();

  const AttentionDims d = dims(batch, seq_len);
  if (cache) {
    be.copy(cache->keys + cache->position * kv_width_, k_att, kv_width_);
    be.copy(cache->values + cache->position * kv_width_, v_att, kv_width_);
    AttentionDims cached = d;
    cached.ld_k = cached.ld_v = kv_width_;
    be.attention_decode(sdpa_out_.data(), q_att, cache->keys, cache->values, cache->position + 1,
                        cached);
  } else {
    be.attention_forward(sdpa_out_.data(), lse_.data(), q_att, k_att, v_att, d);
  }

  const float* o = sdpa_out_.data();
  switch (config_.sdpa_output_transform) {
    case SdpaOutputTransform::rmsnorm:
      be.rmsnorm_forward(sdpa_transformed_.data(), rstd_sdpa_.data(), o, params_.data(sdpa_norm_),
                         N * H, D, eps);
      o = sdpa_transformed_.data();
      break;
    case SdpaOutputTransform::silu:
      be.silu_forward(sdpa_transformed_.data(), o, N * q_width_);
      o = sdpa_transformed_.data();
      break;
    case SdpaOutputTransform::none:
      break;
  }
  if (gate_.at(GatePosition::sdpa)) gate_.forward(be, sdpa_gated_.data(), o, q_width_, logits, N);
}

void Attention::forward(Backend& be, const float* x, float* out, const RopeTables& rope,
                        int64_t batch, int64_t seq_len, LayerAnalysis* analysis,
                        const KvCacheSlot* cache) {
  if (cache && (batch != 1 || seq_len != 1 || analysis)) {
    throw std::invalid_argument("Attention::forward: a KV cache decodes one token, unanalysed");
  }
  const int64_t N = batch * seq_len, C = config_.hidden_size, H = config_.num_attention_heads;
  project_and_rotate(be, x, rope, batch, seq_len, cache);
  core(be, batch, seq_len, cache);
  const AttentionGate::Logits logits = gate_.logits(fused_.data(), fused_width_, gate_col_);
  const float* o = core_output();
  if (gate_.at(GatePosition::dense)) {
    linear_forward(be, dense_pre_gate_.data(), C, o, q_width_, params_.data(o_proj_),
                   {N, q_width_, C});
    tp_.sum_partials(dense_pre_gate_.data(), N * C);
    gate_.forward(be, out, dense_pre_gate_.data(), C, logits, N);
  } else {
    linear_forward(be, out, C, o, q_width_, params_.data(o_proj_), {N, q_width_, C});
    tp_.sum_partials(out, N * C);
  }

  if (analysis) {
    be.probes().attention_first_token_prob(first_token_.data(), q_for_attention(),
                                           k_for_attention(), lse_.data(), dims(batch, seq_len));
    std::vector<float> host(static_cast<size_t>(batch * H));
    be.to_host(host.data(), first_token_.data(), batch * H);
    double mean = 0.0;
    for (float v : host) mean += v;
    analysis->first_token_attn_sum += mean / static_cast<double>(host.size());
    if (gate_.enabled()) gate_.accumulate_stats(be, *analysis, logits, N);
  }
}

void Attention::recompute_core(Backend& be, int64_t batch, int64_t seq_len) {
  core(be, batch, seq_len, nullptr);
}

std::vector<Tensor*> Attention::core_activations() {
  return {&q_post_, &k_post_,           &v_gated_,   &sdpa_out_,
          &lse_,    &sdpa_transformed_, &rstd_sdpa_, &sdpa_gated_};
}

std::vector<Tensor*> Attention::saved_activations() {
  std::vector<Tensor*> all = core_activations();
  for (Tensor* t :
       {&fused_, &q_pre_, &k_pre_, &q_rot_, &k_rot_, &rstd_q_, &rstd_k_, &dense_pre_gate_})
    all.push_back(t);
  return all;
}

void Attention::backward(Backend& be, const float* x, const float* dout, float* dx,
                         const RopeTables& rope, int64_t batch, int64_t seq_len,
                         AttentionScratch& s) {
  const int64_t N = batch * seq_len, C = config_.hidden_size, D = config_.head_dim;
  const int64_t H = config_.num_attention_heads, K = config_.num_key_value_heads;
  const float* fused = fused_.data();
  float* dfused = s.d_fused.data();
  const AttentionGate::Logits logits = gate_.logits(fused, fused_width_, gate_col_);
  float* gate_scratch = s.d_static_logits.data();
  auto gate_backward = [&](float* dy, int64_t dy_ld, const float* d_out, const float* y,
                           int64_t y_ld) {
    gate_.backward(be, dy, dy_ld, d_out, y, y_ld, logits, dfused, fused_width_, gate_col_,
                   gate_scratch, N);
  };

  // o_proj (and the dense gate behind it).
  const float* d_attn = dout;
  if (gate_.at(GatePosition::dense)) {
    gate_backward(s.d_dense.data(), C, dout, dense_pre_gate_.data(), C);
    d_attn = s.d_dense.data();
  }
  const bool transform = config_.sdpa_output_transform != SdpaOutputTransform::none;
  const float* o_pre_gate = transform ? sdpa_transformed_.data() : sdpa_out_.data();
  const float* o_final = core_output();
  linear_backward_weight(be, params_.grad(o_proj_), d_attn, C, o_final, q_width_, {N, q_width_, C});
  float* d_o = s.d_o.data();
  float* d_o_other = s.d_o2.data();
  linear_backward_input(be, d_o, q_width_, d_attn, C, params_.data(o_proj_), {N, q_width_, C},
                        false);
  if (gate_.at(GatePosition::sdpa)) {
    gate_backward(d_o_other, q_width_, d_o, o_pre_gate, q_width_);
    std::swap(d_o, d_o_other);
  }
  switch (config_.sdpa_output_transform) {
    case SdpaOutputTransform::rmsnorm:
      be.rmsnorm_backward(d_o_other, params_.grad(sdpa_norm_), d_o, sdpa_out_.data(),
                          params_.data(sdpa_norm_), rstd_sdpa_.data(), N * H, D, false);
      std::swap(d_o, d_o_other);
      break;
    case SdpaOutputTransform::silu:
      be.silu_backward(d_o_other, d_o, sdpa_out_.data(), N * q_width_);
      std::swap(d_o, d_o_other);
      break;
    case SdpaOutputTransform::none:
      break;
  }

  // SDPA: gradients land where each input came from (gated copies or fused columns).
  const AttentionDims d = dims(batch, seq_len);
  const float *q_att = q_for_attention(), *k_att = k_for_attention(), *v_att = v_for_attention();
  const bool v_gated = gate_.at(GatePosition::value);
  const float* v_raw = fused + q_width_ + kv_width_;
  float* dq_att = gate_on_query_post_rope() ? s.d_q2.data() : s.d_q.data();
  float* dk_att = gate_on_key_post_rope() ? s.d_k2.data() : s.d_k.data();
  float* dv_att = v_gated ? s.d_v.data() : dfused + q_width_ + kv_width_;
  be.attention_backward(dq_att, dk_att, dv_att, d_o, q_att, k_att, v_att, sdpa_out_.data(),
                        lse_.data(), d);
  if (v_gated)
    gate_backward(dfused + q_width_ + kv_width_, fused_width_, s.d_v.data(), v_raw, fused_width_);
  if (gate_on_query_post_rope())
    gate_backward(s.d_q.data(), q_width_, s.d_q2.data(), q_rot_.data(), q_width_);
  if (gate_on_key_post_rope())
    gate_backward(s.d_k.data(), kv_width_, s.d_k2.data(), k_rot_.data(), kv_width_);

  // QK-norm + RoPE, then the pre-norm gates.
  const bool q_pre = gate_on_query_pre_norm(), k_pre = gate_on_key_pre_norm();
  const float* q_src = q_pre ? q_pre_.data() : fused;
  const float* k_src = k_pre ? k_pre_.data() : fused + q_width_;
  float* dq_src = q_pre ? s.d_q2.data() : dfused;
  float* dk_src = k_pre ? s.d_k2.data() : dfused + q_width_;
  const int64_t q_ld = q_pre ? q_width_ : fused_width_, k_ld = k_pre ? kv_width_ : fused_width_;
  be.qknorm_rope_backward(dq_src, q_ld, q_norm_ >= 0 ? params_.grad(q_norm_) : nullptr,
                          s.d_q.data(), q_src, q_norm_ >= 0 ? params_.data(q_norm_) : nullptr,
                          rstd_q_.data(), rope.cos.data(), rope.sin.data(), N, H, D, seq_len);
  be.qknorm_rope_backward(dk_src, k_ld, k_norm_ >= 0 ? params_.grad(k_norm_) : nullptr,
                          s.d_k.data(), k_src, k_norm_ >= 0 ? params_.data(k_norm_) : nullptr,
                          rstd_k_.data(), rope.cos.data(), rope.sin.data(), N, K, D, seq_len);
  if (q_pre) gate_backward(dfused, fused_width_, s.d_q2.data(), fused, fused_width_);
  if (k_pre)
    gate_backward(dfused + q_width_, fused_width_, s.d_k2.data(), fused + q_width_, fused_width_);

  // The fused q|k|v|gate projection.
  linear_backward_weight(be, params_.grad(q_proj_), dfused, fused_width_, x, C,
                         {N, C, fused_width_});
  // A replicated (G5) gate's columns come last: all ranks but one leave them out of dx.
  const bool replicated_gate = gate_.at(GatePosition::dense) && gate_.input_dependent();
  const int64_t dx_columns =
      replicated_gate && !tp_.adds_replicated_input_gradient() ? gate_col_ : fused_width_;
  linear_backward_input(be, dx, C, dfused, fused_width_, params_.data(q_proj_), {N, C, dx_columns},
                        false);
  tp_.sum_partials(dx, N * C);
}

}  // namespace gatedlm
