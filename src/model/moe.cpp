#include "gatedlm/model/moe.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gatedlm/model/linear.h"

namespace gatedlm {
namespace {

int32_t* ids(const std::shared_ptr<Buffer>& b) { return static_cast<int32_t*>(b->data()); }

}  // namespace

void MoeScratch::reserve(Backend& be, const ModelConfig& c, int64_t rows) {
  const MoeConfig& m = *c.moe;
  if (d_router_logits.numel() >= rows * m.num_experts && d_router_logits.shape().size() == 2)
    return;
  const int64_t C = c.hidden_size, routed = rows * m.num_experts_per_tok;
  d_router_logits = be.empty({rows, m.num_experts});
  d_weights = be.empty({rows, m.num_experts_per_tok});
  d_permuted_out = be.empty({routed, C});
  d_permuted_in = be.empty({routed, C});
  d_shared_out = be.empty({rows, C});
  d_shared_logit = be.empty({rows, 1});
  prob_grad = be.empty({m.num_experts});
}

MoeLayer::MoeLayer(const ModelConfig& c, ParameterSet& params, const std::string& prefix)
    : moe_(*c.moe),
      hidden_(c.hidden_size),
      experts_(moe_.num_experts),
      top_k_(moe_.num_experts_per_tok),
      inter_(moe_.moe_intermediate_size),
      params_(params) {
  router_ = params.add(prefix + "gate.weight", {experts_, hidden_}, ParamInit::normal, true);
  for (int64_t e = 0; e < experts_; ++e) {
    const std::string p = prefix + "experts." + std::to_string(e) + ".";
    // gate_proj and up_proj adjacent: one GEMM per expert computes the fused gate|up.
    expert_gate_up_.push_back(
        params.add(p + "gate_proj.weight", {inter_, hidden_}, ParamInit::normal, true));
    params.add(p + "up_proj.weight", {inter_, hidden_}, ParamInit::normal, true);
    expert_down_.push_back(
        params.add(p + "down_proj.weight", {hidden_, inter_}, ParamInit::normal, true));
  }
  if (moe_.num_shared_experts > 0) {
    shared_ = std::make_unique<Mlp>(hidden_, moe_.num_shared_experts * inter_, params,
                                    prefix + "shared_expert.");
    if (moe_.shared_expert_gate)
      shared_gate_ =
          params.add(prefix + "shared_expert_gate.weight", {1, hidden_}, ParamInit::normal, true);
  }
}

MoeLayer::~MoeLayer() = default;

SwigluWeights MoeLayer::expert_weights(int64_t e) const {
  return {params_.data(expert_gate_up_[e]),
          params_.data(expert_down_[e]),
          params_.grad(expert_gate_up_[e]),
          params_.grad(expert_down_[e]),
          hidden_,
          inter_};
}

// The shared expert's gate: one logit per token scaling all `hidden` outputs.
GateSpec MoeLayer::shared_gate_spec() const {
  GateSpec spec;
  spec.heads = 1;
  spec.head_dim = hidden_;
  spec.elementwise = false;
  return spec;
}

void MoeLayer::reserve(Backend& be, int64_t rows, MlpScratch& mlp_scratch) {
  const int64_t routed = rows * top_k_;
  router_logits_ = be.empty({rows, experts_});
  probs_ = be.empty({rows, experts_});
  lse_ = be.empty({rows});
  weights_ = be.empty({rows, top_k_});
  prob_sum_ = be.empty({experts_});
  experts_ids_ = be.allocate_ids(routed);
  slot_ids_ = be.allocate_ids(routed);
  source_ids_ = be.allocate_ids(routed);
  permuted_in_ = be.empty({routed, hidden_});
  gate_up_act_ = be.empty({routed, 2 * inter_});
  hidden_act_ = be.empty({routed, inter_});
  permuted_out_ = be.empty({routed, hidden_});
  // An expert holds each token at most once, so its backward needs scratch for `rows` rows.
  mlp_scratch.reserve(be, rows, inter_);
  if (shared_) {
    shared_->reserve(be, rows);
    mlp_scratch.reserve(be, rows, shared_->intermediate());
    shared_out_ = be.empty({rows, hidden_});
    shared_logit_ = be.empty({rows, 1});
    shared_gated_ = be.empty({rows, hidden_});
  }
  host_experts_.resize(static_cast<size_t>(routed));
}

void MoeLayer::forward(Backend& be, const float* x, float* out, int64_t rows) {
  // Router: logits, softmax and top-k in fp32 whatever the model's precision.
  linear_forward(be, router_logits_.data(), experts_, x, hidden_, params_.data(router_),
                 {rows, hidden_, experts_});
  be.router_topk_forward(probs_.data(), lse_.data(), ids(experts_ids_), weights_.data(),
                         router_logits_.data(), experts_, rows, experts_, top_k_,
                         moe_.norm_topk_prob);

  // Dispatch plan on the host (the per-expert row counts size the GEMMs).
  be.ids_to_host(host_experts_.data(), ids(experts_ids_), rows * top_k_);
  plan_ = plan_dispatch(host_experts_.data(), rows, top_k_, experts_,
                        expert_capacity(moe_.capacity_factor, rows, top_k_, experts_));
  be.ids_from_host(ids(slot_ids_), plan_.slot.data(), rows * top_k_);
  be.ids_from_host(ids(source_ids_), plan_.source_row.data(), plan_.kept());

  stats_.routed.assign(plan_.routed.begin(), plan_.routed.end());
  stats_.dropped = static_cast<double>(plan_.dropped);
  stats_.tokens = static_cast<double>(rows);
  stats_.lse_sq_sum = be.sum_squares(lse_.data(), rows);
  be.fill(prob_sum_.data(), experts_, 0.0f);
  be.sum_rows_accumulate(prob_sum_.data(), probs_.data(), rows, experts_, experts_);
  host_prob_sum_.resize(static_cast<size_t>(experts_));
  be.to_host(host_prob_sum_.data(), prob_sum_.data(), experts_);
  stats_.prob_sum.assign(host_prob_sum_.begin(), host_prob_sum_.end());

  // Permute, one SwiGLU GEMM pair per expert over its rows, un-permute with the weights.
  be.gather_rows(permuted_in_.data(), x, hidden_, ids(source_ids_), plan_.kept(), hidden_);
  for (int64_t e = 0; e < experts_; ++e) {
    const int64_t begin = plan_.expert_offset[e], n = plan_.expert_offset[e + 1] - begin;
    if (n == 0) continue;
    swiglu_mlp_forward(be, expert_weights(e), permuted_in_.data() + begin * hidden_,
                       gate_up_act_.data() + begin * 2 * inter_,
                       hidden_act_.data() + begin * inter_, permuted_out_.data() + begin * hidden_,
                       n);
  }
  be.combine_rows(out, permuted_out_.data(), ids(slot_ids_), weights_.data(), rows, top_k_, hidden_,
                  false);

  if (shared_) {
    shared_->forward(be, x, shared_out_.data(), rows);
    if (shared_gate_ >= 0) {
      linear_forward(be, shared_logit_.data(), 1, x, hidden_, params_.data(shared_gate_),
                     {rows, hidden_, 1});
      be.gate_forward(shared_gated_.data(), shared_out_.data(), hidden_, shared_logit_.data(), 1,
                      rows, shared_gate_spec());
      be.add_inplace(out, shared_gated_.data(), rows * hidden_);
    } else {
      be.add_inplace(out, shared_out_.data(), rows * hidden_);
    }
  }
}

double MoeLayer::min_topk_margin(Backend& be) const {
  const int64_t rows = static_cast<int64_t>(stats_.tokens);
  double margin = std::numeric_limits<double>::infinity();
  if (top_k_ >= experts_) return margin;
  std::vector<float> probs(static_cast<size_t>(rows * experts_));
  be.to_host(probs.data(), probs_.data(), rows * experts_);
  for (int64_t r = 0; r < rows; ++r) {
    auto row = probs.begin() + r * experts_;
    std::sort(row, row + experts_, std::greater<float>());
    // The log-ratio of probabilities is the logit gap.
    margin = std::min(margin, std::log(static_cast<double>(row[top_k_ - 1])) -
                                  std::log(static_cast<double>(row[top_k_])));
  }
  return margin;
}

void MoeLayer::backward(Backend& be, const float* x, const float* dout, float* dx, int64_t rows,
                        MlpScratch& mlp_scratch, MoeScratch& s, const std::vector<float>& prob_grad,
                        float z_scale) {
  // The shared expert writes dx first; the routed experts and the router add to it.
  if (shared_) {
    const float* d_shared = dout;
    if (shared_gate_ >= 0) {
      be.gate_backward(s.d_shared_out.data(), hidden_, s.d_shared_logit.data(), 1, dout,
                       shared_out_.data(), hidden_, shared_logit_.data(), 1, rows,
                       shared_gate_spec());
      d_shared = s.d_shared_out.data();
    }
    shared_->backward(be, x, d_shared, dx, rows, mlp_scratch);
    if (shared_gate_ >= 0) {
      const LinearShape gate{rows, hidden_, 1};
      linear_backward_weight(be, params_.grad(shared_gate_), s.d_shared_logit.data(), 1, x, hidden_,
                             gate);
      linear_backward_input(be, dx, hidden_, s.d_shared_logit.data(), 1, params_.data(shared_gate_),
                            gate, true);
    }
  }

  be.combine_rows_backward(s.d_permuted_out.data(), s.d_weights.data(), dout, permuted_out_.data(),
                           ids(slot_ids_), weights_.data(), rows, top_k_, hidden_);
  for (int64_t e = 0; e < experts_; ++e) {
    const int64_t begin = plan_.expert_offset[e], n = plan_.expert_offset[e + 1] - begin;
    if (n == 0) continue;
    swiglu_mlp_backward(
        be, expert_weights(e), permuted_in_.data() + begin * hidden_,
        gate_up_act_.data() + begin * 2 * inter_, hidden_act_.data() + begin * inter_,
        s.d_permuted_out.data() + begin * hidden_, s.d_permuted_in.data() + begin * hidden_,
        mlp_scratch.d_gate_up.data(), mlp_scratch.d_hidden.data(), n);
  }
  // Un-permuting the input gradient is a combine with unit weights.
  be.combine_rows(dx, s.d_permuted_in.data(), ids(slot_ids_), nullptr, rows, top_k_, hidden_,
                  shared_ != nullptr);

  const float* prob_grad_device = nullptr;
  if (!prob_grad.empty()) {
    be.from_host(s.prob_grad.data(), prob_grad.data(), experts_);
    prob_grad_device = s.prob_grad.data();
  }
  be.router_topk_backward(s.d_router_logits.data(), experts_, s.d_weights.data(), probs_.data(),
                          lse_.data(), ids(experts_ids_), prob_grad_device, z_scale, rows, experts_,
                          top_k_, moe_.norm_topk_prob);
  const LinearShape router{rows, hidden_, experts_};
  linear_backward_weight(be, params_.grad(router_), s.d_router_logits.data(), experts_, x, hidden_,
                         router);
  linear_backward_input(be, dx, hidden_, s.d_router_logits.data(), experts_, params_.data(router_),
                        router, true);
}

}  // namespace gatedlm
