// Host-side dispatch of routed tokens to experts: a stable counting sort of the (token, choice)
// assignments by expert, and capacity dropping. The permuted buffer holds expert 0's tokens,
// then expert 1's, ..., each expert's in token order, so every expert runs one GEMM over a
// contiguous block of rows.
#pragma once

#include <cstdint>
#include <vector>

namespace gatedlm {

struct DispatchPlan {
  std::vector<int64_t> expert_offset;  // [experts + 1]: expert e owns permuted rows [o[e], o[e+1])
  std::vector<int32_t> source_row;     // [kept]: the token row each permuted row copies
  std::vector<int32_t> slot;           // [rows * k]: permuted row of (token, choice), -1 = dropped
  std::vector<int64_t> routed;         // [experts]: assignments the router made, before dropping
  int64_t dropped = 0;                 // assignments over capacity
  int64_t kept() const { return static_cast<int64_t>(source_row.size()); }
};

// Tokens an expert may take: ceil(factor * rows * k / experts); -1 (no limit) when factor <= 0.
int64_t expert_capacity(double capacity_factor, int64_t rows, int64_t k, int64_t num_experts);

// experts: [rows, k] router choices. Over capacity an expert keeps its earliest tokens (lowest
// row index) and drops the rest: the documented drop policy (docs/moe.md).
DispatchPlan plan_dispatch(const int32_t* experts, int64_t rows, int64_t k, int64_t num_experts,
                           int64_t capacity);

}  // namespace gatedlm
