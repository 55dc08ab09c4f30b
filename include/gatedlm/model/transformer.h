// The Qwen3-style decoder: embedding, N pre-norm blocks (attention with its gate, SwiGLU MLP),
// final RMSNorm, tied or untied LM head and a fused softmax cross-entropy. Every layer is an
// explicit forward/backward pair; activations are allocated once by reserve().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/comm/tensor_parallel.h"
#include "gatedlm/config/config.h"
#include "gatedlm/model/attention.h"
#include "gatedlm/model/instrumentation.h"
#include "gatedlm/model/mlp.h"
#include "gatedlm/model/moe.h"
#include "gatedlm/model/parameters.h"
#include "gatedlm/model/vocab_parallel.h"

namespace gatedlm {

class Transformer {
 public:
  // With a tensor-parallel group this is one shard: blocks built from local_model_config, its
  // parameters local slices (ParamInfo::split_dim says how each is cut). With a distributed
  // expert exchange its MoE layers hold only this rank's experts (comm/expert_exchange.h).
  Transformer(const ModelConfig& config, Backend& backend, const TensorParallel& tp = {},
              const ExpertExchange& ep = {});
  ~Transformer();

  // normal(0, initializer_range) for every linear and the embedding, ones for norms, zeros for
  // static gate logits, drawn from Rng::stream(seed, StreamId::init) in declaration order.
  void init_weights(uint64_t seed);
  // Activation recomputation (train.recompute, docs/recompute.md), before the first reserve():
  // selective shares the attention core's buffers between layers and recomputes each layer's
  // core before its backward; full shares every block activation and recomputes the whole
  // block forward from its input (the residual stream, kept per layer). Gradients are bitwise
  // those of none: the same kernels run on the same inputs.
  void set_recompute(RecomputeMode mode);
  RecomputeMode recompute() const { return recompute_; }
  // Sizes activation buffers for batch x seq_len tokens (re-allocates only to grow).
  void reserve(int64_t batch, int64_t seq_len);
  // Bytes the activation buffers reserve() allocated (saved activations, the residual stream,
  // gradient scratch, logits), as the backend counted them: per micro-batch of the reserved size.
  size_t activation_bytes() const { return activation_bytes_; }

  // Mean cross-entropy of the batch (host token arrays [batch, seq_len]). Keeps the logits.
  double forward(const int32_t* inputs, const int32_t* targets, int64_t batch, int64_t seq_len,
                 ModelAnalysis* analysis = nullptr);
  // Forward and backward: parameter gradients += loss_weight * d(mean loss + router_loss())/
  // d(theta). Returns the mean cross-entropy.
  double forward_backward(const int32_t* inputs, const int32_t* targets, int64_t batch,
                          int64_t seq_len, float loss_weight);

  // MoE models (no-ops for dense ones). begin_accumulation() starts an optimizer step: the
  // global-batch load-balancing counts start over. The reducer sums expert counts across
  // data-parallel ranks. router_loss() is the aux + z objective of the last forward.
  void begin_accumulation();
  void set_expert_count_reducer(ExpertCountReducer reducer);
  // Called during backward whenever every parameter at flat offset >= ready_from has its
  // gradient (after each block, in reverse order, then 0): data-parallel overlap.
  using GradientReadyHook = std::function<void(int64_t ready_from)>;
  void set_gradient_ready_hook(GradientReadyHook hook) { gradient_ready_ = std::move(hook); }
  double router_loss() const { return router_losses_ ? router_losses_->objective() : 0.0; }
  const RouterLosses* router_losses() const { return router_losses_.get(); }
  // Adds the last forward's routing (tokens per expert, drops, aux and z losses) to `analysis`.
  void record_routing(ModelAnalysis& analysis) const;
  // The smallest top-k routing margin of the last forward over MoE layers (MoeLayer::
  // min_topk_margin; tests use it to stay clear of routing ties).
  double min_routing_margin();
  // Incremental decoding (model/kv_cache.h): runs `token` at position cache.length() of one
  // sequence, stores its keys and values in the cache and returns its next-token logits
  // ([vocab] on the device, valid until the next call): the last row forward() would give over
  // the whole sequence, at the cost of one position.
  const float* decode_step(int32_t token, KvCache& cache);

  // [batch*seq_len, vocab] after forward() (vocabulary-parallel: this rank's vocabulary slice)
  const Tensor& logits() const { return logits_; }
  // Host copy of the per-token losses [batch*seq_len] of the last forward (row b*T + t).
  const float* token_losses() const { return host_losses_.data(); }
  ParameterSet& params() { return params_; }
  const ModelConfig& config() const { return config_; }
  Backend& backend() { return backend_; }
  // Training FLOPs per token: 6 x (matmul parameters) + 6 x layers x seq_len x heads x head_dim
  // (causal attention: QK^T and PV on the unmasked half, forward + backward).
  double training_flops_per_token(int64_t seq_len) const;

 private:
  struct Block;
  double run_forward(const int32_t* inputs, const int32_t* targets, int64_t batch, int64_t seq_len,
                     float grad_scale, ModelAnalysis* analysis, KvCache* cache = nullptr);
  void run_backward(int64_t batch, int64_t seq_len, float loss_weight);
  void update_router_losses(bool training);
  void build_rope(int64_t seq_len);
  void sum_analysis_over_shards(ModelAnalysis& analysis, const ModelAnalysis& before);
  void reserve_blocks(int64_t rows);
  // Block l's forward from residual_[l]; write_output adds its result into residual_[l + 1]
  // (a full recompute before backward only needs what the block saves).
  void forward_block(size_t l, int64_t batch, int64_t seq_len, LayerAnalysis* layer,
                     const KvCacheSlot* cache, bool write_output);

  ModelConfig config_;
  ModelConfig local_config_;  // of this tensor-parallel shard (config_ when not split)
  TensorParallel tp_;
  VocabParallel vocab_;
  ExpertExchange ep_;
  Backend& backend_;
  ParameterSet params_;
  ParameterSet::Id embed_, final_norm_, lm_head_ = -1;
  std::vector<std::unique_ptr<Block>> blocks_;
  RopeTables rope_;
  AttentionScratch attn_scratch_;
  MlpScratch mlp_scratch_;
  MoeScratch moe_scratch_;
  std::unique_ptr<RouterLosses> router_losses_;  // null for a dense model
  GradientReadyHook gradient_ready_;
  int64_t reserved_rows_ = 0;
  RecomputeMode recompute_ = RecomputeMode::none;
  size_t activation_bytes_ = 0;
  Tensor ids_, targets_;          // int32 token ids and targets
  std::vector<Tensor> residual_;  // [layers + 1] x [rows, hidden]
  Tensor final_normed_, final_rstd_, logits_, losses_, d_residual_, d_normed_, block_out_;
  std::vector<float> host_losses_;
};

}  // namespace gatedlm
