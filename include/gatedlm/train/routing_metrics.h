// MoE routing metrics as JSON, for metrics.jsonl train lines and `gatedlm analyze`.
#pragma once

#include <nlohmann/json.hpp>

#include "gatedlm/model/instrumentation.h"

namespace gatedlm {

// Over the MoE layers recorded in `analysis` (LayerAnalysis::add_routing):
// {"aux_loss": mean over layers, "z_loss": mean, "expert_imbalance": mean over layers of
//  max/mean tokens per expert, "max_expert_imbalance": the worst layer's, "dropped_fraction":
//  dropped / routed assignments, "tokens_per_expert": [[per expert] per MoE layer]}.
// null when no layer is MoE.
nlohmann::json routing_to_json(const ModelAnalysis& analysis);

// One MoE layer's {"tokens_per_expert", "expert_imbalance", "dropped_fraction", "aux_loss",
// "z_loss"}.
nlohmann::json layer_routing_to_json(const LayerAnalysis& layer);

}  // namespace gatedlm
