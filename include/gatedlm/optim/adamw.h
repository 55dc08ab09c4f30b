// AdamW over a ParameterSet: decoupled weight decay, none on norms and static gate logits
// (ParamInfo::weight_decay), the embedding per optimizer.decay_embeddings.
#pragma once

#include <cstdint>

#include "gatedlm/config/config.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

class AdamW {
 public:
  AdamW(const OptimizerConfig& config, ParameterSet& params);
  // One update with the gradients currently in params.grads(); increments the step count.
  void step(float lr);
  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t step) { step_ = step; }
  Tensor& first_moment() { return m_; }
  Tensor& second_moment() { return v_; }
  bool decays(const ParamInfo& info) const;

 private:
  OptimizerConfig config_;
  ParameterSet& params_;
  Tensor m_, v_;
  int64_t step_ = 0;
};

// Global L2 norm of all gradients (double accumulation).
double global_grad_norm(ParameterSet& params);
// Scales gradients so their norm is at most max_norm (torch clip_grad_norm_ semantics:
// coefficient max_norm / (norm + 1e-6), applied only when below 1). Returns the coefficient.
double clip_grad_norm(ParameterSet& params, double norm, double max_norm);

}  // namespace gatedlm
