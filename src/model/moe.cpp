#include "gatedlm/model/moe.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gatedlm/model/linear.h"

namespace gatedlm {
namespace {

int32_t* ids(const Tensor& t) { return t.data_as<int32_t>(); }

// Grows `t` to hold rows x width: under expert parallelism the rows an expert owner receives
// depend on the routing of every rank of its group.
void ensure_rows(Backend& be, Tensor& t, int64_t rows, int64_t width) {
  if (t.numel() < rows * width) t = be.empty({rows, width});
}

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

MoeLayer::MoeLayer(const ModelConfig& c, ParameterSet& params, const std::string& prefix,
                   const ExpertExchange& exchange)
    : moe_(*c.moe),
      exchange_(exchange),
      hidden_(c.hidden_size),
      experts_(moe_.num_experts),
      top_k_(moe_.num_experts_per_tok),
      inter_(moe_.moe_intermediate_size),
      params_(params) {
  // The router is replicated: every rank routes its own tokens.
  router_ =
      params.add(prefix + "gate.weight", {experts_, hidden_}, weight_spec(TensorSplit::replicated));
  const int64_t first = exchange_.first_expert(experts_);
  for (int64_t e = first; e < first + exchange_.local_experts(experts_); ++e) {
    const std::string p = prefix + "experts." + std::to_string(e) + ".";
    ParamSpec expert = weight_spec(TensorSplit::replicated);
    expert.gradient = GradientKind::expert;
    expert.expert = e;
    ParamSpec gate_up = expert;  // one GEMM per expert computes the fused gate|up
    gate_up.fused_group = p + "gate_up";
    expert_gate_up_.push_back(params.add(p + "gate_proj.weight", {inter_, hidden_}, gate_up));
    params.add(p + "up_proj.weight", {inter_, hidden_}, gate_up);
    expert_down_.push_back(params.add(p + "down_proj.weight", {hidden_, inter_}, expert));
  }
  if (moe_.num_shared_experts > 0) {
    shared_ = std::make_unique<Mlp>(hidden_, moe_.num_shared_experts * inter_, params,
                                    prefix + "shared_expert.");
    if (moe_.shared_expert_gate)
      shared_gate_ = params.add(prefix + "shared_expert_gate.weight", {1, hidden_},
                                weight_spec(TensorSplit::replicated));
  }
}

MoeLayer::~MoeLayer() = default;

SwigluWeights MoeLayer::expert_weights(int64_t local_expert) const {
  const ParameterSet::Id gate_up = expert_gate_up_[local_expert], down = expert_down_[local_expert];
  return {params_.data(gate_up),
          params_.data(down),
          params_.grad(gate_up),
          params_.grad(down),
          hidden_,
          inter_};
}

float* MoeLayer::expert_rows(Tensor& permuted, Tensor& received) const {
  return exchange_.distributed() ? received.data() : permuted.data();
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
  experts_ids_ = be.empty({routed}, DType::i32);
  slot_ids_ = be.empty({routed}, DType::i32);
  source_ids_ = be.empty({routed}, DType::i32);
  permuted_in_ = be.empty({routed, hidden_});
  gate_up_act_ = be.empty({routed, 2 * inter_});
  hidden_act_ = be.empty({routed, inter_});
  permuted_out_ = be.empty({routed, hidden_});
  // An expert holds each token at most once, so its backward needs scratch for `rows` rows
  // (under expert parallelism it runs once per sending rank, each sending its own micro-batch's).
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
  be.to_host(host_experts_.data(), ids(experts_ids_), rows * top_k_);
  plan_ = plan_dispatch(host_experts_.data(), rows, top_k_, experts_,
                        expert_capacity(moe_.capacity_factor, rows, top_k_, experts_));
  be.from_host(ids(slot_ids_), plan_.slot.data(), rows * top_k_);
  be.from_host(ids(source_ids_), plan_.source_row.data(), plan_.kept());

  stats_.routed.assign(plan_.routed.begin(), plan_.routed.end());
  stats_.dropped = static_cast<double>(plan_.dropped);
  stats_.tokens = static_cast<double>(rows);
  stats_.lse_sq_sum = be.sum_squares(lse_.data(), rows);
  be.fill(prob_sum_.data(), experts_, 0.0f);
  be.sum_rows_accumulate(prob_sum_.data(), probs_.data(), rows, experts_, experts_);
  host_prob_sum_.resize(static_cast<size_t>(experts_));
  be.to_host(host_prob_sum_.data(), prob_sum_.data(), experts_);
  stats_.prob_sum.assign(host_prob_sum_.begin(), host_prob_sum_.end());

  // Permute; send each row to its expert's owner (counts first); one SwiGLU GEMM pair per expert
  // (and sending rank) over its rows; send the results back; un-permute with the weights.
  be.gather_rows(permuted_in_.data(), x, hidden_, ids(source_ids_), plan_.kept(), hidden_);
  route_ = exchange_.plan(plan_.expert_offset);
  ensure_rows(be, gate_up_act_, route_.received, 2 * inter_);
  ensure_rows(be, hidden_act_, route_.received, inter_);
  if (exchange_.distributed()) {
    ensure_rows(be, received_in_, route_.received, hidden_);
    ensure_rows(be, received_out_, route_.received, hidden_);
    exchange_.dispatch(route_, permuted_in_.data(), received_in_.data(), hidden_);
  }
  const float* expert_in = expert_rows(permuted_in_, received_in_);
  float* expert_out = expert_rows(permuted_out_, received_out_);
  for (const ExpertChunk& c : route_.chunks)
    swiglu_mlp_forward(be, expert_weights(c.expert), expert_in + c.begin * hidden_,
                       gate_up_act_.data() + c.begin * 2 * inter_,
                       hidden_act_.data() + c.begin * inter_, expert_out + c.begin * hidden_,
                       c.rows);
  if (exchange_.distributed())
    exchange_.combine(route_, received_out_.data(), permuted_out_.data(), hidden_);
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

std::vector<Tensor*> MoeLayer::saved_activations() {
  std::vector<Tensor*> saved = {&permuted_in_, &gate_up_act_,  &hidden_act_, &permuted_out_,
                                &received_in_, &received_out_, &shared_out_, &shared_gated_};
  if (shared_)
    for (Tensor* t : shared_->saved_activations()) saved.push_back(t);
  return saved;
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
  // The output gradients travel to the experts' owners as the rows did, the input gradients back.
  if (exchange_.distributed()) {
    ensure_rows(be, s.d_received_out, route_.received, hidden_);
    ensure_rows(be, s.d_received_in, route_.received, hidden_);
    exchange_.dispatch(route_, s.d_permuted_out.data(), s.d_received_out.data(), hidden_);
  }
  const float* expert_in = expert_rows(permuted_in_, received_in_);
  const float* d_expert_out = expert_rows(s.d_permuted_out, s.d_received_out);
  float* d_expert_in = expert_rows(s.d_permuted_in, s.d_received_in);
  for (const ExpertChunk& c : route_.chunks)
    swiglu_mlp_backward(be, expert_weights(c.expert), expert_in + c.begin * hidden_,
                        gate_up_act_.data() + c.begin * 2 * inter_,
                        hidden_act_.data() + c.begin * inter_, d_expert_out + c.begin * hidden_,
                        d_expert_in + c.begin * hidden_, mlp_scratch.d_gate_up.data(),
                        mlp_scratch.d_hidden.data(), c.rows);
  if (exchange_.distributed())
    exchange_.combine(route_, s.d_received_in.data(), s.d_permuted_in.data(), hidden_);
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
