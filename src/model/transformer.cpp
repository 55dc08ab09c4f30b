#include "gatedlm/model/transformer.h"

#include <cmath>
#include <limits>
#include <string>

#include "gatedlm/core/error.h"
#include "gatedlm/model/linear.h"
#include "gatedlm/model/rope.h"
#include "gatedlm/model/shard_layout.h"

namespace gatedlm {

struct Transformer::Block {
  ParameterSet::Id norm1, norm2;
  Attention attention;
  std::unique_ptr<Mlp> mlp;       // a dense block
  std::unique_ptr<MoeLayer> moe;  // or an MoE block
  Tensor normed1, rstd1, mid, normed2, rstd2;

  // Everything the block's forward saves for its backward.
  std::vector<Tensor*> saved_activations() {
    std::vector<Tensor*> saved = {&normed1, &rstd1, &mid, &normed2, &rstd2};
    for (Tensor* t : attention.saved_activations()) saved.push_back(t);
    for (Tensor* t : moe ? moe->saved_activations() : mlp->saved_activations()) saved.push_back(t);
    return saved;
  }

  Block(const ModelConfig& c, ParameterSet& params, const std::string& prefix, bool is_moe,
        const TensorParallel& tp, const ExpertExchange& ep)
      : norm1(params.add(prefix + "input_layernorm.weight", {c.hidden_size}, norm_spec())),
        norm2(params.add(prefix + "post_attention_layernorm.weight", {c.hidden_size}, norm_spec())),
        attention(c, params, prefix + "self_attn.", tp) {
    // MoE under tensor parallelism is rejected by config validation.
    if (is_moe)
      moe = std::make_unique<MoeLayer>(c, params, prefix + "mlp.", ep);
    else
      mlp = std::make_unique<Mlp>(c, params, prefix + "mlp.", tp);
  }
};

Transformer::Transformer(const ModelConfig& c, Backend& backend, const TensorParallel& tp,
                         const ExpertExchange& ep)
    : config_(c),
      local_config_(local_model_config(c, tp.size())),
      tp_(tp),
      vocab_(c.vocab_size, tp),
      ep_(ep),
      backend_(backend),
      params_(tp.size()) {
  const int64_t V = vocab_.local_vocab();
  // The embedding and LM head: vocabulary-parallel when tensor parallelism splits the vocabulary.
  ParamSpec table = weight_spec(tp.splits_vocab() ? TensorSplit::vocab : TensorSplit::replicated);
  table.matmul = false;  // the LM head's FLOPs are counted from the config (tied or not)
  ParamSpec embedding = table;
  embedding.decay = WeightDecay::embedding;
  embed_ = params_.add("model.embed_tokens.weight", {V, c.hidden_size}, embedding);
  int64_t moe_layers = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const bool is_moe = c.moe && c.moe->is_moe_layer(l);
    moe_layers += is_moe;
    blocks_.push_back(std::make_unique<Block>(
        local_config_, params_, "model.layers." + std::to_string(l) + ".", is_moe, tp, ep));
  }
  if (moe_layers > 0) router_losses_ = std::make_unique<RouterLosses>(*c.moe, moe_layers);
  final_norm_ = params_.add("model.norm.weight", {c.hidden_size}, norm_spec());
  if (!c.tie_word_embeddings) lm_head_ = params_.add("lm_head.weight", {V, c.hidden_size}, table);
  params_.allocate(backend_);
}

Transformer::~Transformer() = default;

void Transformer::init_weights(uint64_t seed) {
  Rng rng = Rng::stream(seed, StreamId::init);
  const auto std = static_cast<float>(config_.initializer_range);
  if (tp_.size() == 1 && ep_.size() == 1) {
    params_.initialize(rng, std);
    return;
  }
  // A shard starts from its slice of the whole model's draw, so any TP or EP size trains the same.
  const std::vector<ParamInfo>& local = params_.infos();
  std::vector<float> shard;
  if (ep_.size() > 1) {  // (MoE under TP is refused by validate_config)
    const int64_t per_rank = ep_.local_experts(config_.moe->num_experts);
    const std::vector<ParamInfo> whole =
        whole_expert_infos(local, ep_.rank(), ep_.size(), per_rank);
    shard = cut_expert_values(draw_initial_values(whole, rng, std), whole, local);
  } else {
    const std::vector<float> whole =
        draw_initial_values(whole_model_infos(local, tp_.size()), rng, std);
    shard = cut_shard_values(whole, local, tp_.rank(), tp_.size());
  }
  backend_.from_host(params_.params().data(), shard.data(), params_.numel());
}

void Transformer::build_rope(int64_t seq_len) {
  const int64_t half = config_.head_dim / 2;
  // Rebuilt whenever seq_len changes: dynamic NTK depends on the window length.
  const RopeParameters rope =
      compute_rope_parameters(config_.head_dim, config_.rope_theta, config_.rope_scaling, seq_len);
  std::vector<float> cos_host, sin_host;
  build_rope_tables(rope, seq_len, cos_host, sin_host);
  rope_.cos = backend_.empty({seq_len, half});
  rope_.sin = backend_.empty({seq_len, half});
  backend_.from_host(rope_.cos.data(), cos_host.data(), seq_len * half);
  backend_.from_host(rope_.sin.data(), sin_host.data(), seq_len * half);
  rope_.seq_len = seq_len;
}

void Transformer::set_recompute(RecomputeMode mode) {
  if (reserved_rows_ > 0 && mode != recompute_)
    throw std::logic_error("Transformer::set_recompute after reserve()");
  recompute_ = mode;
}

namespace {

// Points `to`'s tensors at `from`'s buffers (the previous ones are freed).
void share(const std::vector<Tensor*>& to, const std::vector<Tensor*>& from) {
  for (size_t i = 0; i < to.size(); ++i) *to[i] = *from[i];
}

}  // namespace

// Under recomputation a layer's shareable activations point at the first such layer's buffers,
// right after it allocated its own, so the peak is one layer's worth above the shared set.
void Transformer::reserve_blocks(int64_t rows) {
  const int64_t C = config_.hidden_size;
  Backend& be = backend_;
  Block* first_dense = nullptr;
  Block* first_moe = nullptr;
  for (auto& b : blocks_) {
    b->attention.reserve(be, rows);
    if (b->moe)
      b->moe->reserve(be, rows, mlp_scratch_);
    else
      b->mlp->reserve(be, rows);
    b->normed1 = be.empty({rows, C});
    b->rstd1 = be.empty({rows});
    b->mid = be.empty({rows, C});
    b->normed2 = be.empty({rows, C});
    b->rstd2 = be.empty({rows});
    Block*& donor = b->moe ? first_moe : first_dense;
    if (!donor) {
      donor = b.get();
      continue;
    }
    if (recompute_ == RecomputeMode::full)
      share(b->saved_activations(), donor->saved_activations());
    else if (recompute_ == RecomputeMode::selective)
      share(b->attention.core_activations(), donor->attention.core_activations());
  }
}

void Transformer::reserve(int64_t batch, int64_t seq_len) {
  if (seq_len != rope_.seq_len) build_rope(seq_len);
  const int64_t rows = batch * seq_len;
  if (rows <= reserved_rows_) return;
  const int64_t C = config_.hidden_size;
  Backend& be = backend_;
  const size_t bytes_before = be.allocated_bytes();
  reserve_blocks(rows);
  attn_scratch_.reserve(be, local_config_, rows);
  mlp_scratch_.reserve(be, rows, local_config_.intermediate_size);
  if (router_losses_) moe_scratch_.reserve(be, config_, rows);
  residual_.clear();
  for (int64_t l = 0; l <= config_.num_hidden_layers; ++l) residual_.push_back(be.empty({rows, C}));
  final_normed_ = be.empty({rows, C});
  final_rstd_ = be.empty({rows});
  logits_ = be.empty({rows, vocab_.local_vocab()});
  vocab_.reserve(be, rows);
  losses_ = be.empty({rows});
  d_residual_ = be.empty({rows, C});
  d_normed_ = be.empty({rows, C});
  block_out_ = be.empty({rows, C});
  ids_ = be.empty({rows}, DType::i32);
  targets_ = be.empty({rows}, DType::i32);
  host_losses_.resize(rows);
  reserved_rows_ = rows;
  // Growing frees the smaller buffers as it replaces them: the change is what was added.
  activation_bytes_ += be.allocated_bytes() - bytes_before;
}

double Transformer::forward(const int32_t* inputs, const int32_t* targets, int64_t batch,
                            int64_t seq_len, ModelAnalysis* analysis) {
  const double loss = run_forward(inputs, targets, batch, seq_len, 0.0f, analysis);
  update_router_losses(false);
  if (analysis) record_routing(*analysis);
  return loss;
}

double Transformer::forward_backward(const int32_t* inputs, const int32_t* targets, int64_t batch,
                                     int64_t seq_len, float loss_weight) {
  const float grad_scale = loss_weight / static_cast<float>(batch * seq_len);
  const double loss = run_forward(inputs, targets, batch, seq_len, grad_scale, nullptr);
  update_router_losses(true);
  run_backward(batch, seq_len, loss_weight);
  return loss;
}

void Transformer::begin_accumulation() {
  if (router_losses_) router_losses_->begin_accumulation();
}

void Transformer::set_expert_count_reducer(ExpertCountReducer reducer) {
  if (router_losses_) router_losses_->set_count_reducer(std::move(reducer));
}

void Transformer::update_router_losses(bool training) {
  if (!router_losses_) return;
  std::vector<const RoutingStats*> stats;
  for (const auto& b : blocks_)
    if (b->moe) stats.push_back(&b->moe->stats());
  router_losses_->update(stats, training);
}

double Transformer::min_routing_margin() {
  double margin = std::numeric_limits<double>::infinity();
  for (const auto& b : blocks_)
    if (b->moe) margin = std::min(margin, b->moe->min_topk_margin(backend_));
  return margin;
}

void Transformer::record_routing(ModelAnalysis& analysis) const {
  int64_t moe_index = 0;
  for (size_t l = 0; l < blocks_.size(); ++l) {
    if (!blocks_[l]->moe) continue;
    analysis.layers[l].add_routing(blocks_[l]->moe->stats(), router_losses_->aux_loss(moe_index),
                                   router_losses_->z_loss(moe_index));
    ++moe_index;
  }
}

const float* Transformer::decode_step(int32_t token, KvCache& cache) {
  if (vocab_.split())
    throw RuntimeFailure(
        "decoding needs the whole vocabulary's logits on one rank; it is not "
        "supported with a vocabulary-parallel (parallel.tensor > 1) model");
  run_forward(&token, nullptr, 1, 1, 0.0f, nullptr, &cache);
  cache.advance();
  return logits_.data();
}

double Transformer::run_forward(const int32_t* inputs, const int32_t* targets, int64_t batch,
                                int64_t seq_len, float grad_scale, ModelAnalysis* analysis,
                                KvCache* cache) {
  reserve(batch, cache ? cache->capacity() : seq_len);  // decoding: RoPE rows for every position
  Backend& be = backend_;
  const int64_t N = batch * seq_len, C = config_.hidden_size, V = vocab_.local_vocab();
  const float eps = static_cast<float>(config_.rms_norm_eps);
  auto* ids = ids_.data_as<int32_t>();
  auto* tgt = targets_.data_as<int32_t>();
  vocab_.ids_from_host(be, ids, inputs, N);
  if (targets) vocab_.ids_from_host(be, tgt, targets, N);

  vocab_.embedding_forward(be, residual_[0].data(), ids, params_.data(embed_), N, C);
  const ModelAnalysis analysis_before = analysis && tp_.size() > 1 ? *analysis : ModelAnalysis{};
  for (size_t l = 0; l < blocks_.size(); ++l) {
    const KvCacheSlot slot = cache ? cache->slot(static_cast<int64_t>(l)) : KvCacheSlot{};
    forward_block(l, batch, seq_len, analysis ? &analysis->layers[l] : nullptr,
                  cache ? &slot : nullptr, true);
  }
  if (analysis) {
    ++analysis->batches;
    if (tp_.size() > 1) sum_analysis_over_shards(*analysis, analysis_before);
  }
  be.rmsnorm_forward(final_normed_.data(), final_rstd_.data(), residual_.back().data(),
                     params_.data(final_norm_), N, C, eps);
  const float* head = params_.data(lm_head_ >= 0 ? lm_head_ : embed_);
  linear_forward(be, logits_.data(), V, final_normed_.data(), C, head, {N, C, V});
  if (!targets) return 0.0;  // decoding: the logits are the result
  vocab_.cross_entropy(be, losses_.data(), logits_.data(), tgt, N, grad_scale);
  be.to_host(host_losses_.data(), losses_.data(), N);
  double total = 0.0;
  for (int64_t i = 0; i < N; ++i) total += host_losses_[i];
  return total / static_cast<double>(N);
}

void Transformer::forward_block(size_t l, int64_t batch, int64_t seq_len, LayerAnalysis* layer,
                                const KvCacheSlot* cache, bool write_output) {
  Backend& be = backend_;
  Block& b = *blocks_[l];
  const int64_t N = batch * seq_len, C = config_.hidden_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const float* x = residual_[l].data();
  be.rmsnorm_forward(b.normed1.data(), b.rstd1.data(), x, params_.data(b.norm1), N, C, eps);
  b.attention.forward(be, b.normed1.data(), block_out_.data(), rope_, batch, seq_len, layer, cache);
  if (layer)
    layer->max_act[kAttnOutput] =
        std::max(layer->max_act[kAttnOutput], be.probes().max_abs(block_out_.data(), N * C));
  be.add(b.mid.data(), x, block_out_.data(), N * C);
  be.rmsnorm_forward(b.normed2.data(), b.rstd2.data(), b.mid.data(), params_.data(b.norm2), N, C,
                     eps);
  if (b.moe)
    b.moe->forward(be, b.normed2.data(), block_out_.data(), N);
  else
    b.mlp->forward(be, b.normed2.data(), block_out_.data(), N);
  if (!write_output) return;
  float* out = residual_[l + 1].data();
  be.add(out, b.mid.data(), block_out_.data(), N * C);
  if (layer) {
    auto& m = layer->max_act;
    m[kAttnResidual] = std::max(m[kAttnResidual], be.probes().max_abs(b.mid.data(), N * C));
    m[kFfnOutput] = std::max(m[kFfnOutput], be.probes().max_abs(block_out_.data(), N * C));
    m[kFfnResidual] = std::max(m[kFfnResidual], be.probes().max_abs(out, N * C));
  }
}

void Transformer::run_backward(int64_t batch, int64_t seq_len, float loss_weight) {
  Backend& be = backend_;
  const int64_t N = batch * seq_len, C = config_.hidden_size, V = vocab_.local_vocab();
  const ParameterSet::Id head = lm_head_ >= 0 ? lm_head_ : embed_;
  const float* dlogits = logits_.data();  // cross_entropy left the gradient in place
  linear_backward_weight(be, params_.grad(head), dlogits, V, final_normed_.data(), C, {N, C, V});
  linear_backward_input(be, d_normed_.data(), C, dlogits, V, params_.data(head), {N, C, V}, false);
  vocab_.sum_input_gradient(d_normed_.data(), N * C);
  float* dres = d_residual_.data();
  be.rmsnorm_backward(dres, params_.grad(final_norm_), d_normed_.data(), residual_.back().data(),
                      params_.data(final_norm_), final_rstd_.data(), N, C, false);
  std::vector<float> prob_grad;
  float z_scale = 0.0f;
  int64_t moe_index = router_losses_ ? router_losses_->layers() : 0;
  for (size_t l = blocks_.size(); l-- > 0;) {
    Block& b = *blocks_[l];
    // Under recomputation layers share buffers that the last block's forward wrote last, so
    // every other block first recomputes what its backward reads.
    const bool recompute = recompute_ != RecomputeMode::none && l + 1 < blocks_.size();
    if (recompute && recompute_ == RecomputeMode::full)
      forward_block(l, batch, seq_len, nullptr, nullptr, false);
    if (b.moe) {
      router_losses_->gradients(--moe_index, loss_weight, prob_grad, z_scale);
      b.moe->backward(be, b.normed2.data(), dres, d_normed_.data(), N, mlp_scratch_, moe_scratch_,
                      prob_grad, z_scale);
    } else {
      b.mlp->backward(be, b.normed2.data(), dres, d_normed_.data(), N, mlp_scratch_);
    }
    be.rmsnorm_backward(dres, params_.grad(b.norm2), d_normed_.data(), b.mid.data(),
                        params_.data(b.norm2), b.rstd2.data(), N, C, true);
    if (recompute && recompute_ == RecomputeMode::selective)
      b.attention.recompute_core(be, batch, seq_len);
    b.attention.backward(be, b.normed1.data(), dres, d_normed_.data(), rope_, batch, seq_len,
                         attn_scratch_);
    be.rmsnorm_backward(dres, params_.grad(b.norm1), d_normed_.data(), residual_[l].data(),
                        params_.data(b.norm1), b.rstd1.data(), N, C, true);
    if (gradient_ready_) gradient_ready_(params_.infos()[b.norm1].offset);  // the block's first
  }
  be.embedding_backward(params_.grad(embed_), dres, ids_.data_as<int32_t>(), N, C);
  if (gradient_ready_) gradient_ready_(0);
}

// Each shard measured its own heads: F-Attn is the mean over shards (equal head counts) and the
// gate sums add up. Only this forward's contribution is combined (analysis accumulates).
void Transformer::sum_analysis_over_shards(ModelAnalysis& analysis, const ModelAnalysis& before) {
  std::vector<double> added;
  for (size_t l = 0; l < analysis.layers.size(); ++l) {
    const LayerAnalysis &now = analysis.layers[l], &was = before.layers[l];
    added.insert(added.end(),
                 {now.first_token_attn_sum - was.first_token_attn_sum, now.gate_sum - was.gate_sum,
                  now.gate_below - was.gate_below, now.gate_count - was.gate_count});
  }
  tp_.group->all_reduce(added.data(), static_cast<int64_t>(added.size()));
  for (size_t l = 0; l < analysis.layers.size(); ++l) {
    LayerAnalysis& layer = analysis.layers[l];
    const LayerAnalysis& was = before.layers[l];
    const double* sums = added.data() + 4 * l;
    layer.first_token_attn_sum = was.first_token_attn_sum + sums[0] / tp_.size();
    layer.gate_sum = was.gate_sum + sums[1];
    layer.gate_below = was.gate_below + sums[2];
    layer.gate_count = was.gate_count + sums[3];
  }
}

double Transformer::training_flops_per_token(int64_t seq_len) const {
  // GEMM weights (ParamSpec::matmul) plus the LM head, tied or not; a routed expert counts k/E
  // of its weights (the share of tokens that reach it), the router all of its own. Under
  // expert parallelism a rank holds E/e experts and runs them for e ranks' tokens.
  double matmul_params = static_cast<double>(config_.vocab_size * config_.hidden_size);
  for (const ParamInfo& p : params_.infos()) {
    if (!p.spec.matmul) continue;
    double used = static_cast<double>(p.numel());
    if (p.routed_expert())
      used *= static_cast<double>(config_.moe->num_experts_per_tok * ep_.size()) /
              static_cast<double>(config_.moe->num_experts);
    matmul_params += used;
  }
  const double attention =
      6.0 * config_.num_hidden_layers * seq_len * config_.num_attention_heads * config_.head_dim;
  return 6.0 * matmul_params + attention;
}

}  // namespace gatedlm
