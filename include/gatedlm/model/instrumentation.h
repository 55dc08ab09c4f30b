// The paper's measurements, collected from what the forward pass already has: F-Attn (first
// token attention), M-Act (max |activation| at four points) and the gate score. A null
// ModelAnalysis pointer in the forward pass costs nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "gatedlm/model/router_losses.h"

namespace gatedlm {

enum ActivationPoint { kAttnOutput = 0, kAttnResidual, kFfnOutput, kFfnResidual, kNumPoints };
inline constexpr const char* kActivationPointNames[kNumPoints] = {"attn_output", "attn_residual",
                                                                  "ffn_output", "ffn_residual"};

struct LayerAnalysis {
  double first_token_attn_sum = 0.0;  // sum over batches of the per-batch mean
  float max_act[kNumPoints] = {0, 0, 0, 0};
  double gate_sum = 0.0, gate_below = 0.0, gate_count = 0.0;
  // MoE layers: routing summed over the recorded forwards (empty expert_tokens: a dense layer).
  std::vector<double> expert_tokens;  // assignments per expert, before capacity dropping
  double moe_dropped = 0.0, moe_assignments = 0.0, aux_loss_sum = 0.0, z_loss_sum = 0.0;
  int64_t moe_batches = 0;

  void add_routing(const RoutingStats& stats, double aux_loss, double z_loss);
  bool is_moe() const { return !expert_tokens.empty(); }
  double expert_imbalance() const;  // max / mean tokens per expert (1 = balanced)
  double dropped_fraction() const;  // dropped / routed assignments
  double aux_loss() const { return moe_batches ? aux_loss_sum / moe_batches : 0.0; }
  double z_loss() const { return moe_batches ? z_loss_sum / moe_batches : 0.0; }
};

struct ModelAnalysis {
  std::vector<LayerAnalysis> layers;
  int64_t batches = 0;  // forward passes accumulated
  bool has_gate = false;

  void reset(int64_t num_layers, bool gated);
  double first_token_attn(int64_t layer) const;
  double gate_score(int64_t layer) const;
  double gate_sparsity(int64_t layer) const;
  // Means over layers (max_act: of the per-layer residual-stream maximum, ffn_residual).
  double mean_first_token_attn() const;
  double mean_max_act() const;
  double mean_gate_score() const;
  double mean_gate_sparsity() const;
};

}  // namespace gatedlm
