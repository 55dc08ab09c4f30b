#include "gatedlm/model/instrumentation.h"

#include <algorithm>
#include <cstddef>
#include <numeric>

namespace gatedlm {

void LayerAnalysis::add_routing(const RoutingStats& stats, double aux_loss, double z_loss) {
  expert_tokens.resize(stats.routed.size(), 0.0);
  for (size_t e = 0; e < stats.routed.size(); ++e) expert_tokens[e] += stats.routed[e];
  moe_assignments += std::accumulate(stats.routed.begin(), stats.routed.end(), 0.0);
  moe_dropped += stats.dropped;
  aux_loss_sum += aux_loss;
  z_loss_sum += z_loss;
  ++moe_batches;
}

double LayerAnalysis::expert_imbalance() const {
  if (expert_tokens.empty() || moe_assignments <= 0) return 0.0;
  const double mean = moe_assignments / static_cast<double>(expert_tokens.size());
  return *std::max_element(expert_tokens.begin(), expert_tokens.end()) / mean;
}

double LayerAnalysis::dropped_fraction() const {
  return moe_assignments > 0 ? moe_dropped / moe_assignments : 0.0;
}

void ModelAnalysis::reset(int64_t num_layers, bool gated) {
  layers.assign(static_cast<std::size_t>(num_layers), LayerAnalysis{});
  batches = 0;
  has_gate = gated;
}

double ModelAnalysis::first_token_attn(int64_t layer) const {
  return batches ? layers[layer].first_token_attn_sum / batches : 0.0;
}
double ModelAnalysis::gate_score(int64_t layer) const {
  const auto& l = layers[layer];
  return l.gate_count > 0 ? l.gate_sum / l.gate_count : 0.0;
}
double ModelAnalysis::gate_sparsity(int64_t layer) const {
  const auto& l = layers[layer];
  return l.gate_count > 0 ? l.gate_below / l.gate_count : 0.0;
}

namespace {
template <typename F>
double mean_over_layers(const ModelAnalysis& a, F f) {
  if (a.layers.empty()) return 0.0;
  double total = 0.0;
  for (std::size_t i = 0; i < a.layers.size(); ++i) total += f(static_cast<int64_t>(i));
  return total / static_cast<double>(a.layers.size());
}
}  // namespace

double ModelAnalysis::mean_first_token_attn() const {
  return mean_over_layers(*this, [&](int64_t l) { return first_token_attn(l); });
}
double ModelAnalysis::mean_max_act() const {
  return mean_over_layers(*this, [&](int64_t l) { return layers[l].max_act[kFfnResidual]; });
}
double ModelAnalysis::mean_gate_score() const {
  return mean_over_layers(*this, [&](int64_t l) { return gate_score(l); });
}
double ModelAnalysis::mean_gate_sparsity() const {
  return mean_over_layers(*this, [&](int64_t l) { return gate_sparsity(l); });
}

}  // namespace gatedlm
