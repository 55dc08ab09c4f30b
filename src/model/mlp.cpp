#include "gatedlm/model/mlp.h"

#include "gatedlm/model/linear.h"

namespace gatedlm {

void MlpScratch::reserve(Backend& be, int64_t rows, int64_t intermediate) {
  d_gate_up = be.empty({rows, 2 * intermediate});
  d_hidden = be.empty({rows, intermediate});
}

Mlp::Mlp(const ModelConfig& c, ParameterSet& params, const std::string& prefix,
         const TensorParallel& tp)
    : hidden_(c.hidden_size), inter_(c.intermediate_size), tp_(tp), params_(params) {
  gate_up_ = params.add(prefix + "gate_proj.weight", {inter_, hidden_}, ParamInit::normal, true);
  params.add(prefix + "up_proj.weight", {inter_, hidden_}, ParamInit::normal, true);
  down_ = params.add(prefix + "down_proj.weight", {hidden_, inter_}, ParamInit::normal, true);
}

void Mlp::reserve(Backend& be, int64_t rows) {
  gate_up_act_ = be.empty({rows, 2 * inter_});
  hidden_act_ = be.empty({rows, inter_});
}

void Mlp::forward(Backend& be, const float* x, float* out, int64_t rows) {
  linear_forward(be, gate_up_act_.data(), 2 * inter_, x, hidden_, params_.data(gate_up_),
                 {rows, hidden_, 2 * inter_});
  be.swiglu_forward(hidden_act_.data(), gate_up_act_.data(), rows, inter_);
  linear_forward(be, out, hidden_, hidden_act_.data(), inter_, params_.data(down_),
                 {rows, inter_, hidden_});
  tp_.sum_partials(out, rows * hidden_);
}

void Mlp::backward(Backend& be, const float* x, const float* dout, float* dx, int64_t rows,
                   MlpScratch& s) {
  const LinearShape down{rows, inter_, hidden_}, gate_up{rows, hidden_, 2 * inter_};
  linear_backward_weight(be, params_.grad(down_), dout, hidden_, hidden_act_.data(), inter_, down);
  linear_backward_input(be, s.d_hidden.data(), inter_, dout, hidden_, params_.data(down_), down,
                        false);
  be.swiglu_backward(s.d_gate_up.data(), s.d_hidden.data(), gate_up_act_.data(), rows, inter_);
  linear_backward_weight(be, params_.grad(gate_up_), s.d_gate_up.data(), 2 * inter_, x, hidden_,
                         gate_up);
  linear_backward_input(be, dx, hidden_, s.d_gate_up.data(), 2 * inter_, params_.data(gate_up_),
                        gate_up, false);
  tp_.sum_partials(dx, rows * hidden_);
}

}  // namespace gatedlm
