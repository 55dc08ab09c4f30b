// Every backend gate spec: granularity x sharing (x what is averaged) x combine/activation x
// static, shared by the finite-difference checks and the CUDA parity tests.
#pragma once

#include <vector>

#include "gatedlm/backend/backend.h"

namespace gatedlm::test {

struct GateCase {
  bool elementwise, shared, average_logits, additive, is_static;
  GateActivationKind act;
};

inline std::vector<GateCase> all_gate_cases() {
  std::vector<GateCase> cases;
  const GateActivationKind mult_acts[] = {GateActivationKind::sigmoid, GateActivationKind::silu,
                                          GateActivationKind::ns_sigmoid,
                                          GateActivationKind::identity};
  const GateActivationKind add_acts[] = {GateActivationKind::silu, GateActivationKind::identity};
  for (bool elementwise : {true, false})
    for (int sharing : {0, 1, 2})  // specific, shared(scores), shared(logits)
      for (bool is_static : {false, true}) {
        for (auto act : mult_acts)
          cases.push_back({elementwise, sharing > 0, sharing == 2, false, is_static, act});
        for (auto act : add_acts)
          cases.push_back({elementwise, sharing > 0, sharing == 2, true, is_static, act});
      }
  return cases;
}

inline GateSpec gate_spec(const GateCase& c, int64_t heads, int64_t head_dim) {
  GateSpec s;
  s.heads = heads;
  s.head_dim = head_dim;
  s.elementwise = c.elementwise;
  s.head_shared = c.shared;
  s.shared_average_logits = c.average_logits;
  s.additive = c.additive;
  s.activation = c.act;
  return s;
}

}  // namespace gatedlm::test
