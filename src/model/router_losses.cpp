#include "gatedlm/model/router_losses.h"

#include <numeric>

namespace gatedlm {

RouterLosses::RouterLosses(const MoeConfig& config, int64_t moe_layers)
    : config_(config),
      running_(static_cast<size_t>(moe_layers),
               std::vector<double>(static_cast<size_t>(config.num_experts + 1), 0.0)),
      frequency_(static_cast<size_t>(moe_layers),
                 std::vector<double>(static_cast<size_t>(config.num_experts), 0.0)),
      tokens_(static_cast<size_t>(moe_layers), 0.0),
      aux_(static_cast<size_t>(moe_layers), 0.0),
      z_(static_cast<size_t>(moe_layers), 0.0) {}

void RouterLosses::begin_accumulation() {
  for (auto& r : running_) std::fill(r.begin(), r.end(), 0.0);
}

void RouterLosses::update(const std::vector<const RoutingStats*>& layers, bool training) {
  const int64_t E = config_.num_experts, k = config_.num_experts_per_tok;
  const size_t width = static_cast<size_t>(E + 1);
  // counts[l] = [routed per expert..., assignments] of the token set f_e is taken over.
  std::vector<double> counts(layers.size() * width);
  for (size_t l = 0; l < layers.size(); ++l) {
    std::copy(layers[l]->routed.begin(), layers[l]->routed.end(), counts.begin() + l * width);
    counts[l * width + E] = layers[l]->tokens * static_cast<double>(k);
  }
  if (training && config_.aux_loss_scope == "global_batch") {
    if (reducer_) reducer_(counts.data(), static_cast<int64_t>(counts.size()));
    for (size_t l = 0; l < layers.size(); ++l) {
      for (size_t i = 0; i < width; ++i) running_[l][i] += counts[l * width + i];
      std::copy(running_[l].begin(), running_[l].end(), counts.begin() + l * width);
    }
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    const RoutingStats& s = *layers[l];
    const double assignments = counts[l * width + E];
    double aux = 0.0;
    for (int64_t e = 0; e < E; ++e) {
      frequency_[l][e] = assignments > 0 ? counts[l * width + e] / assignments : 0.0;
      aux += frequency_[l][e] * s.prob_sum[e] / s.tokens;
    }
    tokens_[l] = s.tokens;
    aux_[l] = static_cast<double>(E) * aux;
    z_[l] = s.lse_sq_sum / s.tokens;
  }
}

double RouterLosses::mean_aux_loss() const {
  return aux_.empty() ? 0.0 : std::accumulate(aux_.begin(), aux_.end(), 0.0) / aux_.size();
}

double RouterLosses::mean_z_loss() const {
  return z_.empty() ? 0.0 : std::accumulate(z_.begin(), z_.end(), 0.0) / z_.size();
}

double RouterLosses::objective() const {
  return config_.router_aux_loss_coef * mean_aux_loss() +
         config_.router_z_loss_coef * mean_z_loss();
}

void RouterLosses::gradients(int64_t layer, float loss_weight, std::vector<float>& prob_grad,
                             float& z_scale) const {
  const double per_layer = static_cast<double>(loss_weight) / static_cast<double>(layers());
  const double tokens = tokens_[layer];
  z_scale = static_cast<float>(per_layer * config_.router_z_loss_coef / tokens);
  prob_grad.clear();
  if (config_.router_aux_loss_coef == 0.0) return;
  const double scale =
      per_layer * config_.router_aux_loss_coef * static_cast<double>(config_.num_experts) / tokens;
  for (double f : frequency_[layer]) prob_grad.push_back(static_cast<float>(scale * f));
}

}  // namespace gatedlm
