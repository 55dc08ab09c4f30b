// SwiGLU MLP: down(silu(gate(x)) * up(x)). gate_proj and up_proj are adjacent parameters, so a
// single GEMM produces the fused [rows, 2*intermediate] gate|up activations.
#pragma once

#include <string>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/comm/tensor_parallel.h"
#include "gatedlm/config/config.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// One SwiGLU MLP's weights (fused gate|up [2*inter, hidden], down [hidden, inter]) and their
// gradients: the dense MLP, the shared expert and every routed expert run through these.
struct SwigluWeights {
  const float* gate_up;
  const float* down;
  float* d_gate_up;
  float* d_down;
  int64_t hidden, inter;
};

// Saves gate_up_act [rows, 2*inter] and hidden_act [rows, inter] for the backward.
void swiglu_mlp_forward(Backend& be, const SwigluWeights& w, const float* x, float* gate_up_act,
                        float* hidden_act, float* out, int64_t rows);
// dx is overwritten; the weight gradients accumulate. d_gate_up [rows, 2*inter] and d_hidden
// [rows, inter] are scratch.
void swiglu_mlp_backward(Backend& be, const SwigluWeights& w, const float* x,
                         const float* gate_up_act, const float* hidden_act, const float* dout,
                         float* dx, float* d_gate_up, float* d_hidden, int64_t rows);

// Gradient buffers shared by every MLP's backward.
struct MlpScratch {
  Tensor d_gate_up, d_hidden;
  void reserve(Backend& be, int64_t rows, int64_t intermediate);
};

class Mlp {
 public:
  // config: of this tensor-parallel shard; tp sums the partial results of its columns.
  Mlp(const ModelConfig& config, ParameterSet& params, const std::string& prefix,
      const TensorParallel& tp = {});
  Mlp(int64_t hidden, int64_t intermediate, ParameterSet& params, const std::string& prefix,
      const TensorParallel& tp = {});
  void reserve(Backend& be, int64_t rows);
  void forward(Backend& be, const float* x, float* out, int64_t rows);
  void backward(Backend& be, const float* x, const float* dout, float* dx, int64_t rows,
                MlpScratch& scratch);
  int64_t intermediate() const { return inter_; }
  // What forward saves for backward (shared between layers under train.recompute: full).
  std::vector<Tensor*> saved_activations() { return {&gate_up_act_, &hidden_act_}; }

 private:
  SwigluWeights weights() const;
  int64_t hidden_, inter_;
  TensorParallel tp_;
  ParameterSet& params_;
  ParameterSet::Id gate_up_, down_;
  Tensor gate_up_act_, hidden_act_;
};

}  // namespace gatedlm
