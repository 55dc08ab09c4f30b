#include "gatedlm/model/moe_dispatch.h"

#include <cmath>

namespace gatedlm {

int64_t expert_capacity(double capacity_factor, int64_t rows, int64_t k, int64_t num_experts) {
  if (capacity_factor <= 0.0) return -1;
  return static_cast<int64_t>(std::ceil(capacity_factor * static_cast<double>(rows * k) /
                                        static_cast<double>(num_experts)));
}

DispatchPlan plan_dispatch(const int32_t* experts, int64_t rows, int64_t k, int64_t num_experts,
                           int64_t capacity) {
  DispatchPlan plan;
  plan.routed.assign(static_cast<size_t>(num_experts), 0);
  for (int64_t i = 0; i < rows * k; ++i) ++plan.routed[experts[i]];
  plan.expert_offset.assign(static_cast<size_t>(num_experts + 1), 0);
  for (int64_t e = 0; e < num_experts; ++e) {
    const int64_t kept = capacity < 0 ? plan.routed[e] : std::min(plan.routed[e], capacity);
    plan.expert_offset[e + 1] = plan.expert_offset[e] + kept;
    plan.dropped += plan.routed[e] - kept;
  }
  plan.source_row.resize(static_cast<size_t>(plan.expert_offset[num_experts]));
  plan.slot.assign(static_cast<size_t>(rows * k), -1);
  std::vector<int64_t> next(plan.expert_offset.begin(), plan.expert_offset.end() - 1);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < k; ++j) {
      const int32_t e = experts[r * k + j];
      if (next[e] == plan.expert_offset[e + 1]) continue;  // over capacity: dropped
      plan.slot[r * k + j] = static_cast<int32_t>(next[e]);
      plan.source_row[next[e]++] = static_cast<int32_t>(r);
    }
  }
  return plan;
}

}  // namespace gatedlm
