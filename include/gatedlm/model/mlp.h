// SwiGLU MLP: down(silu(gate(x)) * up(x)). gate_proj and up_proj are adjacent parameters, so a
// single GEMM produces the fused [rows, 2*intermediate] gate|up activations.
#pragma once

#include <string>

#include "gatedlm/backend/backend.h"
#include "gatedlm/config/config.h"
#include "gatedlm/dist/tensor_parallel.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

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
  void reserve(Backend& be, int64_t rows);
  void forward(Backend& be, const float* x, float* out, int64_t rows);
  void backward(Backend& be, const float* x, const float* dout, float* dx, int64_t rows,
                MlpScratch& scratch);

 private:
  int64_t hidden_, inter_;
  TensorParallel tp_;
  ParameterSet& params_;
  ParameterSet::Id gate_up_, down_;
  Tensor gate_up_act_, hidden_act_;
};

}  // namespace gatedlm
