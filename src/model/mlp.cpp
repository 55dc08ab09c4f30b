#include "gatedlm/model/mlp.h"

#include "gatedlm/model/linear.h"

namespace gatedlm {

void swiglu_mlp_forward(Backend& be, const SwigluWeights& w, const float* x, float* gate_up_act,
                        float* hidden_act, float* out, int64_t rows) {
  linear_forward(be, gate_up_act, 2 * w.inter, x, w.hidden, w.gate_up,
                 {rows, w.hidden, 2 * w.inter});
  be.swiglu_forward(hidden_act, gate_up_act, rows, w.inter);
  linear_forward(be, out, w.hidden, hidden_act, w.inter, w.down, {rows, w.inter, w.hidden});
}

void swiglu_mlp_backward(Backend& be, const SwigluWeights& w, const float* x,
                         const float* gate_up_act, const float* hidden_act, const float* dout,
                         float* dx, float* d_gate_up, float* d_hidden, int64_t rows) {
  const LinearShape down{rows, w.inter, w.hidden}, gate_up{rows, w.hidden, 2 * w.inter};
  linear_backward_weight(be, w.d_down, dout, w.hidden, hidden_act, w.inter, down);
  linear_backward_input(be, d_hidden, w.inter, dout, w.hidden, w.down, down, false);
  be.swiglu_backward(d_gate_up, d_hidden, gate_up_act, rows, w.inter);
  linear_backward_weight(be, w.d_gate_up, d_gate_up, 2 * w.inter, x, w.hidden, gate_up);
  linear_backward_input(be, dx, w.hidden, d_gate_up, 2 * w.inter, w.gate_up, gate_up, false);
}

void MlpScratch::reserve(Backend& be, int64_t rows, int64_t intermediate) {
  if (d_gate_up.numel() >= rows * 2 * intermediate) return;
  d_gate_up = be.empty({rows, 2 * intermediate});
  d_hidden = be.empty({rows, intermediate});
}

Mlp::Mlp(const ModelConfig& c, ParameterSet& params, const std::string& prefix,
         const TensorParallel& tp)
    : Mlp(c.hidden_size, c.intermediate_size, params, prefix, tp) {}

Mlp::Mlp(int64_t hidden, int64_t intermediate, ParameterSet& params, const std::string& prefix,
         const TensorParallel& tp)
    : hidden_(hidden), inter_(intermediate), tp_(tp), params_(params) {
  // gate_proj and up_proj are one column-parallel GEMM over [gate | up].
  ParamSpec gate_up = weight_spec(TensorSplit::column);
  gate_up.fused_group = prefix + "gate_up";
  gate_up_ = params.add(prefix + "gate_proj.weight", {inter_, hidden_}, gate_up);
  params.add(prefix + "up_proj.weight", {inter_, hidden_}, gate_up);
  down_ = params.add(prefix + "down_proj.weight", {hidden_, inter_}, weight_spec(TensorSplit::row));
}

SwigluWeights Mlp::weights() const {
  return {params_.data(gate_up_),
          params_.data(down_),
          params_.grad(gate_up_),
          params_.grad(down_),
          hidden_,
          inter_};
}

void Mlp::reserve(Backend& be, int64_t rows) {
  gate_up_act_ = be.empty({rows, 2 * inter_});
  hidden_act_ = be.empty({rows, inter_});
}

void Mlp::forward(Backend& be, const float* x, float* out, int64_t rows) {
  swiglu_mlp_forward(be, weights(), x, gate_up_act_.data(), hidden_act_.data(), out, rows);
  tp_.sum_partials(out, rows * hidden_);
}

void Mlp::backward(Backend& be, const float* x, const float* dout, float* dx, int64_t rows,
                   MlpScratch& s) {
  swiglu_mlp_backward(be, weights(), x, gate_up_act_.data(), hidden_act_.data(), dout, dx,
                      s.d_gate_up.data(), s.d_hidden.data(), rows);
  tp_.sum_partials(dx, rows * hidden_);
}

}  // namespace gatedlm
