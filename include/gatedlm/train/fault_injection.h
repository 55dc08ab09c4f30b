// Fault injection for the reliability tests (docs/reliability.md): off unless the environment
// asks for it, so that the stability.on_nonfinite policies can be tested end to end without a
// model that really diverges.
//   GATEDLM_FAULT_NAN_GRAD_STEPS=3,5   steps 3 and 5 (1-based) get a NaN gradient
//   GATEDLM_FAULT_NAN_LOSS_STEPS=4     step 4 reports a NaN loss
// A listed step fires once (a transient fault); list it twice to hit its replay too.
// Training logs a warning naming the variables whenever one is set.
#pragma once

#include <cstdint>
#include <vector>

#include "gatedlm/model/parameters.h"

namespace gatedlm {

class FaultInjection {
 public:
  // Reads the variables; a malformed list is an InputError naming the variable.
  static FaultInjection from_environment();
  bool enabled() const { return !nan_grad_steps_.empty() || !nan_loss_steps_.empty(); }
  // Called once per step after the backward pass: poisons the first gradient of `params` and/or
  // returns NaN instead of `loss` when `step` is listed. Each listing fires once: "6,6" hits
  // step 6 and, after a rollback, its replay.
  double apply(int64_t step, double loss, ParameterSet& params);

 private:
  std::vector<int64_t> nan_grad_steps_;
  std::vector<int64_t> nan_loss_steps_;
};

}  // namespace gatedlm
