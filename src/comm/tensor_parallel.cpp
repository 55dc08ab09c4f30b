#include "gatedlm/comm/tensor_parallel.h"

namespace gatedlm {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ModelConfig local_model_config(const ModelConfig& full, int64_t tensor) {
  ModelConfig local = full;
  local.num_attention_heads /= tensor;
  local.num_key_value_heads /= tensor;
  local.intermediate_size /= tensor;
  return local;
}

int tensor_split_dim(const std::string& name, const ModelConfig& full, bool split_vocab) {
  const bool dense_gate = full.attention_gate.position == GatePosition::dense;
  if (name == "model.embed_tokens.weight" || name == "lm_head.weight") return split_vocab ? 0 : -1;
  for (const char* rows : {"self_attn.q_proj.weight", "self_attn.k_proj.weight",
                           "self_attn.v_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight"})
    if (ends_with(name, rows)) return 0;
  if (ends_with(name, "self_attn.gate_proj.weight") || ends_with(name, "self_attn.gate_logits"))
    return dense_gate ? -1 : 0;  // the heads it gates, or the whole hidden state (G5)
  if (ends_with(name, "self_attn.o_proj.weight") || ends_with(name, "mlp.down_proj.weight"))
    return 1;
  return -1;
}

bool gradient_is_partial_per_shard(const std::string& name) {
  return ends_with(name, "self_attn.q_norm.weight") || ends_with(name, "self_attn.k_norm.weight") ||
         ends_with(name, "self_attn.sdpa_norm.weight");
}

}  // namespace gatedlm
