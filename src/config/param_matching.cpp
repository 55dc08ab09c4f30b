#include "gatedlm/config/param_matching.h"

#include "gatedlm/core/error.h"

namespace gatedlm {

int64_t attention_gate_width(const ModelConfig& model) {
  const AttentionGateConfig& gate = model.attention_gate;
  const bool elementwise = gate.granularity == GateGranularity::elementwise;
  const int64_t head_dim = elementwise ? model.head_dim : 1;
  switch (gate.position) {
    case GatePosition::none:
      return 0;
    case GatePosition::sdpa:
    case GatePosition::query:
      return model.num_attention_heads * head_dim;
    case GatePosition::key:
    case GatePosition::value:
      return model.num_key_value_heads * head_dim;
    case GatePosition::dense:
      return model.hidden_size;
  }
  return 0;
}

int64_t extra_attention_parameters_per_layer(const ModelConfig& model) {
  const int64_t width = attention_gate_width(model);
  int64_t extra = model.attention_gate.input_dependent ? model.hidden_size * width : width;
  if (model.sdpa_output_transform == SdpaOutputTransform::rmsnorm) extra += model.head_dim;
  return extra;
}

void apply_param_matching(Config& config) {
  ModelConfig& model = config.model;
  if (!model.match_params_of_ungated) return;
  const int64_t per_mlp_row = 3 * model.hidden_size;  // one unit of intermediate_size
  const int64_t extra = extra_attention_parameters_per_layer(model);
  const int64_t narrowing = (extra + per_mlp_row / 2) / per_mlp_row;
  const int64_t narrowed = model.intermediate_size - narrowing;
  if (narrowed < 1) {
    throw InputError(config.locations.locate(
        "model.match_params_of_ungated",
        "model.match_params_of_ungated: the gate adds " + std::to_string(extra) +
            " parameters per layer, more than the MLP's " +
            std::to_string(per_mlp_row * model.intermediate_size) +
            "; it cannot be matched by narrowing intermediate_size"));
  }
  model.intermediate_size = narrowed;
  model.match_params_of_ungated = false;
}

}  // namespace gatedlm
