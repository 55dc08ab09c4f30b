// Mixture-of-experts feed-forward layer (Qwen2/3-MoE): a linear router, softmax, top-k routing
// with optional renormalisation, fine-grained SwiGLU experts, an optional shared expert, and
// optional capacity dropping. Tokens are permuted by expert, each expert runs one GEMM pair over
// its contiguous block of rows, and a weighted combine un-permutes them. docs/moe.md. Under expert
// parallelism (an ExpertExchange with a group) this rank holds only its share of the experts and
// the sorted rows travel to their owners and back (docs/parallelism.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/comm/expert_exchange.h"
#include "gatedlm/config/config.h"
#include "gatedlm/model/mlp.h"
#include "gatedlm/model/moe_dispatch.h"
#include "gatedlm/model/parameters.h"
#include "gatedlm/model/router_losses.h"

namespace gatedlm {

// Gradient buffers shared by every MoE layer's backward.
struct MoeScratch {
  Tensor d_router_logits, d_weights, d_permuted_out, d_permuted_in, d_shared_out, d_shared_logit,
      prob_grad;
  Tensor d_received_out, d_received_in;  // expert parallel: the rows this rank's experts ran
  void reserve(Backend& be, const ModelConfig& config, int64_t rows);
};

class MoeLayer {
 public:
  // With a distributed `exchange` only this rank's experts are built (global names).
  MoeLayer(const ModelConfig& config, ParameterSet& params, const std::string& prefix,
           const ExpertExchange& exchange = {});
  ~MoeLayer();
  // Sizes this layer's activations; grows the shared MLP scratch to what the experts need.
  void reserve(Backend& be, int64_t rows, MlpScratch& mlp_scratch);
  // Routes and computes out [rows, hidden]; stats() then describes this batch's routing.
  void forward(Backend& be, const float* x, float* out, int64_t rows);
  // dx is overwritten; parameter gradients accumulate. prob_grad and z_scale are the router
  // losses' gradient (RouterLosses::gradients).
  void backward(Backend& be, const float* x, const float* dout, float* dx, int64_t rows,
                MlpScratch& mlp_scratch, MoeScratch& scratch, const std::vector<float>& prob_grad,
                float z_scale);
  const RoutingStats& stats() const { return stats_; }
  // The expert and shared-expert activations forward saves for backward (shared between layers
  // under train.recompute: full); the routing tensors (rows x experts) stay per layer.
  std::vector<Tensor*> saved_activations();
  // Smallest gap, over the last forward's tokens, between the k-th and (k+1)-th largest router
  // logits (infinity when k = E). Copies the probabilities to the host: for tests, which keep
  // routing ties away from finite-difference steps.
  double min_topk_margin(Backend& be) const;

 private:
  SwigluWeights expert_weights(int64_t local_expert) const;
  // The rows this rank's experts run over: the permuted buffer itself when every expert is
  // local, else what the exchange received.
  float* expert_rows(Tensor& permuted, Tensor& received) const;
  GateSpec shared_gate_spec() const;

  MoeConfig moe_;
  ExpertExchange exchange_;
  int64_t hidden_, experts_, top_k_, inter_;
  ParameterSet& params_;
  ParameterSet::Id router_;
  std::vector<ParameterSet::Id> expert_gate_up_, expert_down_;  // this rank's experts
  std::unique_ptr<Mlp> shared_;
  ParameterSet::Id shared_gate_ = -1;

  Tensor router_logits_, probs_, lse_, weights_, prob_sum_;
  std::vector<float> host_prob_sum_;            // [experts], reused every forward
  Tensor experts_ids_, slot_ids_, source_ids_;  // int32
  Tensor permuted_in_, gate_up_act_, hidden_act_, permuted_out_;
  Tensor received_in_, received_out_;  // expert parallel: [route_.received, hidden]
  Tensor shared_out_, shared_logit_, shared_gated_;
  std::vector<int32_t> host_experts_;
  DispatchPlan plan_;
  ExpertRoute route_;
  RoutingStats stats_;
};

}  // namespace gatedlm
