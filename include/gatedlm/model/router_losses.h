// The router's auxiliary losses over all MoE layers of a model: the Switch-style load-balancing
// loss and the router z-loss, with the load-balancing statistics taken over the micro-batch or
// the global batch (every micro-batch of the optimizer step so far, on every data-parallel rank,
// Megatron's running global aux loss). docs/moe.md gives the exact definitions.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "gatedlm/config/config.h"

namespace gatedlm {

// What one MoE layer's forward measured on its tokens (host values).
struct RoutingStats {
  std::vector<double> routed;    // [experts] assignments per expert before dropping
  std::vector<double> prob_sum;  // [experts] sum over tokens of the router probabilities
  double tokens = 0.0;
  double dropped = 0.0;     // assignments over capacity
  double lse_sq_sum = 0.0;  // sum over tokens of logsumexp(router logits)^2
};

// Sums `n` values in place across the data-parallel ranks (all-reduce). The data-parallel
// engine hands one in; without it the "global batch" is this process's accumulation steps.
using ExpertCountReducer = std::function<void(double* values, int64_t n)>;

class RouterLosses {
 public:
  RouterLosses(const MoeConfig& config, int64_t moe_layers);
  void set_count_reducer(ExpertCountReducer reducer) { reducer_ = std::move(reducer); }
  // Starts an optimizer step: the global-batch counts start over.
  void begin_accumulation();
  // After a forward: computes every layer's losses from `layers` (one per MoE layer). With
  // `training` and the global_batch scope the counts are summed across ranks and added to the
  // step's running counts first; otherwise the micro-batch's own counts are used.
  void update(const std::vector<const RoutingStats*>& layers, bool training);

  int64_t layers() const { return static_cast<int64_t>(aux_.size()); }
  double aux_loss(int64_t layer) const { return aux_[layer]; }  // E * sum_e f_e P_e
  double z_loss(int64_t layer) const { return z_[layer]; }      // mean logsumexp^2
  double mean_aux_loss() const;
  double mean_z_loss() const;
  // router_aux_loss_coef * mean aux + router_z_loss_coef * mean z: what training adds to the
  // cross-entropy.
  double objective() const;
  // The objective's gradient, times loss_weight, on router probability probs[t, e] (the same for
  // every token; empty when the aux coefficient is 0) and per token on logsumexp^2 (z_scale).
  void gradients(int64_t layer, float loss_weight, std::vector<float>& prob_grad,
                 float& z_scale) const;

 private:
  MoeConfig config_;
  ExpertCountReducer reducer_;
  std::vector<std::vector<double>> running_;    // [layer][experts + 1]: counts, then assignments
  std::vector<std::vector<double>> frequency_;  // [layer][experts]: f_e of the last update
  std::vector<double> tokens_, aux_, z_;
};

}  // namespace gatedlm
