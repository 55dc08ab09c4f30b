#include "gatedlm/train/routing_metrics.h"

#include <algorithm>

namespace gatedlm {

nlohmann::json layer_routing_to_json(const LayerAnalysis& layer) {
  return {{"tokens_per_expert", layer.expert_tokens},
          {"expert_imbalance", layer.expert_imbalance()},
          {"dropped_fraction", layer.dropped_fraction()},
          {"aux_loss", layer.aux_loss()},
          {"z_loss", layer.z_loss()}};
}

nlohmann::json routing_to_json(const ModelAnalysis& analysis) {
  double aux = 0.0, z = 0.0, imbalance = 0.0, worst = 0.0, dropped = 0.0, assignments = 0.0;
  int64_t layers = 0;
  nlohmann::json tokens = nlohmann::json::array();
  for (const LayerAnalysis& l : analysis.layers) {
    if (!l.is_moe()) continue;
    ++layers;
    aux += l.aux_loss();
    z += l.z_loss();
    imbalance += l.expert_imbalance();
    worst = std::max(worst, l.expert_imbalance());
    dropped += l.moe_dropped;
    assignments += l.moe_assignments;
    tokens.push_back(l.expert_tokens);
  }
  if (layers == 0) return nullptr;
  return {{"aux_loss", aux / layers},
          {"z_loss", z / layers},
          {"expert_imbalance", imbalance / layers},
          {"max_expert_imbalance", worst},
          {"dropped_fraction", assignments > 0 ? dropped / assignments : 0.0},
          {"tokens_per_expert", tokens}};
}

}  // namespace gatedlm
