#include "gatedlm/checkpoint/hf_layout.h"

#include <map>
#include <set>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

bool gated(const ModelConfig& m) { return m.attention_gate.position == GatePosition::sdpa; }
bool headwise(const ModelConfig& m) {
  return m.attention_gate.granularity == GateGranularity::headwise;
}
int64_t gate_width(const ModelConfig& m) {
  return headwise(m) ? m.num_attention_heads : m.num_attention_heads * m.head_dim;
}
std::string layer_prefix(int64_t l) { return "model.layers." + std::to_string(l) + "."; }

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

const char* position_label(GatePosition p) {
  switch (p) {
    case GatePosition::value:
      return "G2 (value)";
    case GatePosition::key:
      return "G3 (key)";
    case GatePosition::query:
      return "G4 (query)";
    case GatePosition::dense:
      return "G5 (dense)";
    default:
      return "G1 (sdpa)";
  }
}

}  // namespace

std::string hf_unsupported_reason(const ModelConfig& m) {
  const AttentionGateConfig& g = m.attention_gate;
  const std::string no_code =
      " has no public Hugging Face modelling code (the official "
      "modeling_qwen3.py expresses only the G1 gate: sigmoid, "
      "multiplicative, input-dependent, head-specific)";
  if (m.moe && m.moe->num_shared_experts > 0)
    return "model.moe.num_shared_experts > 0: Hugging Face Qwen3-MoE has no shared expert";
  if (m.moe && m.moe->capacity_factor > 0)
    return "model.moe.capacity_factor > 0 (token dropping): Hugging Face Qwen3-MoE is dropless";
  if (!m.qk_norm)
    return "model.qk_norm=false has no Hugging Face Qwen3 layout (Qwen3 always applies QK-norm)";
  if (m.sdpa_output_transform != SdpaOutputTransform::none)
    return "model.sdpa_output_transform (a paper control)" + no_code;
  if (g.position == GatePosition::none) return "";
  if (g.position != GatePosition::sdpa)
    return std::string("model.attention_gate.position: a ") + position_label(g.position) + " gate" +
           no_code;
  if (!g.input_dependent)
    return "model.attention_gate.input_dependent=false (static gate)" + no_code;
  if (g.sharing != GateSharing::head_specific)
    return "model.attention_gate.sharing=head_shared" + no_code;
  if (g.combine != GateCombine::multiply) return "model.attention_gate.combine=add" + no_code;
  if (g.activation != GateActivation::sigmoid)
    return "model.attention_gate.activation other than sigmoid" + no_code;
  if (m.num_key_value_heads <= 0 || m.num_attention_heads % m.num_key_value_heads != 0)
    return "num_attention_heads must be a multiple of num_key_value_heads";
  return "";
}

HfLayout stock_hf_layout(const ModelConfig& m, std::string& why) {
  why.clear();
  if (!gated(m)) return HfLayout::qwen3;
  if (headwise(m) || m.moe) {
    why = std::string(headwise(m) ? "a G1 headwise gate" : "a G1 gate on an MoE model") +
          " has no layout that stock transformers loads (its Qwen3-Next gate is elementwise, "
          "on dense layers); --layout official writes the layout of the paper's "
          "modeling_qwen3.py (github.com/qiuzh20/gated_attention), which loads with that file";
    return HfLayout::qwen3;
  }
  return HfLayout::qwen3_next;
}

HfLayout hf_layout_of(const nlohmann::json& config) {
  return config.is_object() && config.value("model_type", std::string()) == "qwen3_next"
             ? HfLayout::qwen3_next
             : HfLayout::qwen3;
}

std::vector<std::pair<std::string, Shape>> gatedlm_tensor_specs(const ModelConfig& m) {
  const int64_t C = m.hidden_size, D = m.head_dim, q = m.num_attention_heads * D,
                kv = m.num_key_value_heads * D;
  std::vector<std::pair<std::string, Shape>> out;
  out.push_back({"model.embed_tokens.weight", {m.vocab_size, C}});
  for (int64_t l = 0; l < m.num_hidden_layers; ++l) {
    const std::string p = layer_prefix(l), a = p + "self_attn.";
    out.push_back({p + "input_layernorm.weight", {C}});
    out.push_back({p + "post_attention_layernorm.weight", {C}});
    out.push_back({a + "q_proj.weight", {q, C}});
    out.push_back({a + "k_proj.weight", {kv, C}});
    out.push_back({a + "v_proj.weight", {kv, C}});
    if (gated(m)) out.push_back({a + "gate_proj.weight", {gate_width(m), C}});
    out.push_back({a + "o_proj.weight", {C, q}});
    if (m.qk_norm) {
      out.push_back({a + "q_norm.weight", {D}});
      out.push_back({a + "k_norm.weight", {D}});
    }
    if (m.moe && m.moe->is_moe_layer(l)) {
      // Qwen3-MoE names, as the MoE layer declares them (shared experts are refused above).
      const int64_t M = m.moe->moe_intermediate_size;
      out.push_back({p + "mlp.gate.weight", {m.moe->num_experts, C}});
      for (int64_t e = 0; e < m.moe->num_experts; ++e) {
        const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
        out.push_back({x + "gate_proj.weight", {M, C}});
        out.push_back({x + "up_proj.weight", {M, C}});
        out.push_back({x + "down_proj.weight", {C, M}});
      }
      continue;
    }
    out.push_back({p + "mlp.gate_proj.weight", {m.intermediate_size, C}});
    out.push_back({p + "mlp.up_proj.weight", {m.intermediate_size, C}});
    out.push_back({p + "mlp.down_proj.weight", {C, m.intermediate_size}});
  }
  out.push_back({"model.norm.weight", {C}});
  if (!m.tie_word_embeddings) out.push_back({"lm_head.weight", {m.vocab_size, C}});
  return out;
}

// Row blocks of the widened q_proj: per KV group k, G query heads' D rows each, then the
// group's gate rows (G or G*D). Pack and unpack walk the same blocks.
namespace {
template <typename Fn>
void for_each_block(const ModelConfig& m, Fn&& fn) {
  const int64_t H = m.num_attention_heads, K = m.num_key_value_heads, D = m.head_dim;
  const int64_t G = H / K, gate_rows = headwise(m) ? G : G * D;
  int64_t dst = 0;
  for (int64_t k = 0; k < K; ++k) {
    fn(/*is_gate=*/false, k * G * D, G * D, dst);
    dst += G * D;
    fn(/*is_gate=*/true, k * gate_rows, gate_rows, dst);
    dst += gate_rows;
  }
}
}  // namespace

namespace {

// Qwen3-Next's q_proj: per head h, D query rows then D gate rows.
template <typename Fn>
void for_each_head_block(const ModelConfig& m, Fn&& fn) {
  const int64_t D = m.head_dim;
  for (int64_t h = 0; h < m.num_attention_heads; ++h) {
    fn(/*is_gate=*/false, h * D, D, 2 * h * D);
    fn(/*is_gate=*/true, h * D, D, 2 * h * D + D);
  }
}

template <typename Blocks>
std::vector<float> pack_with(const ModelConfig& m, const std::vector<float>& q,
                             const std::vector<float>& gate, Blocks&& blocks) {
  const int64_t C = m.hidden_size;
  std::vector<float> packed(q.size() + gate.size());
  blocks(m, [&](bool is_gate, int64_t src_row, int64_t rows, int64_t dst_row) {
    const std::vector<float>& src = is_gate ? gate : q;
    std::copy_n(src.begin() + src_row * C, rows * C, packed.begin() + dst_row * C);
  });
  return packed;
}

template <typename Blocks>
void unpack_with(const ModelConfig& m, const std::vector<float>& packed, std::vector<float>& q,
                 std::vector<float>& gate, Blocks&& blocks) {
  const int64_t C = m.hidden_size;
  q.assign(static_cast<size_t>(m.num_attention_heads * m.head_dim * C), 0.0f);
  gate.assign(static_cast<size_t>(gate_width(m) * C), 0.0f);
  blocks(m, [&](bool is_gate, int64_t src_row, int64_t rows, int64_t dst_row) {
    std::vector<float>& dst = is_gate ? gate : q;
    std::copy_n(packed.begin() + dst_row * C, rows * C, dst.begin() + src_row * C);
  });
}

const auto kGroupBlocks = [](const ModelConfig& m, auto&& fn) { for_each_block(m, fn); };
const auto kHeadBlocks = [](const ModelConfig& m, auto&& fn) { for_each_head_block(m, fn); };

std::vector<float> pack_for(HfLayout layout, const ModelConfig& m, const std::vector<float>& q,
                            const std::vector<float>& gate) {
  return layout == HfLayout::qwen3_next ? pack_with(m, q, gate, kHeadBlocks)
                                        : pack_with(m, q, gate, kGroupBlocks);
}

void unpack_for(HfLayout layout, const ModelConfig& m, const std::vector<float>& packed,
                std::vector<float>& q, std::vector<float>& gate) {
  if (layout == HfLayout::qwen3_next)
    unpack_with(m, packed, q, gate, kHeadBlocks);
  else
    unpack_with(m, packed, q, gate, kGroupBlocks);
}

// Qwen3-Next's RMSNorms scale by (1 + weight): its weight is gatedlm's minus one.
bool is_norm(const std::string& name) {
  return name.ends_with("layernorm.weight") || name.ends_with("_norm.weight") ||
         name == "model.norm.weight";
}
void shift_norm(std::vector<float>& w, float by) {
  for (float& x : w) x = static_cast<float>(static_cast<double>(x) + by);
}

}  // namespace

std::vector<float> pack_q_gate(const ModelConfig& m, const std::vector<float>& q,
                               const std::vector<float>& gate) {
  return pack_for(HfLayout::qwen3, m, q, gate);
}

void unpack_q_gate(const ModelConfig& m, const std::vector<float>& packed, std::vector<float>& q,
                   std::vector<float>& gate) {
  unpack_for(HfLayout::qwen3, m, packed, q, gate);
}

namespace {

std::map<std::string, NamedTensor> by_name(std::vector<NamedTensor> tensors,
                                           const std::string& where) {
  std::map<std::string, NamedTensor> out;
  for (NamedTensor& t : tensors) {
    const std::string name = t.name;
    if (!out.emplace(name, std::move(t)).second)
      throw InputError(where + ": tensor '" + name + "' appears twice");
  }
  return out;
}

NamedTensor take(std::map<std::string, NamedTensor>& tensors, const std::string& name,
                 const Shape& shape, const std::string& where) {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw InputError(where + ": tensor '" + name + "' is missing");
  if (it->second.shape != shape)
    throw InputError(where + ": tensor '" + name + "' has shape " + shape_str(it->second.shape) +
                     ", expected " + shape_str(shape));
  NamedTensor t = std::move(it->second);
  tensors.erase(it);
  return t;
}

void require_exportable(const ModelConfig& m, const std::string& where) {
  const std::string why = hf_unsupported_reason(m);
  if (!why.empty()) throw InputError(where + ": cannot convert to the Hugging Face layout: " + why);
}

// Qwen3-Next expresses exactly the G1 elementwise gate on dense layers.
void require_layout(const ModelConfig& m, HfLayout layout, const std::string& where) {
  if (layout == HfLayout::qwen3_next && (!gated(m) || headwise(m) || m.moe))
    throw InputError(where +
                     ": the Qwen3-Next layout holds a G1 elementwise gate on a dense model only");
}

}  // namespace

std::vector<NamedTensor> to_hf_tensors(const ModelConfig& m, std::vector<NamedTensor> tensors,
                                       const std::string& where, HfLayout layout) {
  require_exportable(m, where);
  require_layout(m, layout, where);
  auto pool = by_name(std::move(tensors), where);
  std::vector<NamedTensor> out;
  for (const auto& [name, shape] : gatedlm_tensor_specs(m)) {
    if (gated(m) && name.ends_with("self_attn.gate_proj.weight")) continue;  // folded into q
    NamedTensor t = take(pool, name, shape, where);
    if (gated(m) && name.ends_with("self_attn.q_proj.weight")) {
      const std::string gate_name = name.substr(0, name.size() - 13) + "gate_proj.weight";
      const NamedTensor g = take(pool, gate_name, {gate_width(m), m.hidden_size}, where);
      t.data = pack_for(layout, m, t.data, g.data);
      t.shape[0] += gate_width(m);
    }
    if (layout == HfLayout::qwen3_next && is_norm(name)) shift_norm(t.data, -1.0f);
    out.push_back(std::move(t));
  }
  if (!pool.empty())
    throw InputError(where + ": tensor '" + pool.begin()->first + "' is not part of the model");
  return out;
}

std::vector<NamedTensor> from_hf_tensors(const ModelConfig& m, std::vector<NamedTensor> tensors,
                                         const std::string& where, HfLayout layout) {
  require_exportable(m, where);
  require_layout(m, layout, where);
  auto pool = by_name(std::move(tensors), where);
  std::vector<NamedTensor> out;
  std::map<std::string, NamedTensor> gates;  // unpacked, placed at their declaration slot
  for (const auto& [name, shape] : gatedlm_tensor_specs(m)) {
    if (gated(m) && name.ends_with("self_attn.gate_proj.weight")) {
      out.push_back(std::move(gates.at(name)));
      continue;
    }
    if (gated(m) && name.ends_with("self_attn.q_proj.weight")) {
      NamedTensor packed = take(pool, name, {shape[0] + gate_width(m), shape[1]}, where);
      NamedTensor q{name, shape, {}};
      const std::string gate_name = name.substr(0, name.size() - 13) + "gate_proj.weight";
      NamedTensor g{gate_name, {gate_width(m), m.hidden_size}, {}};
      unpack_for(layout, m, packed.data, q.data, g.data);
      gates.emplace(gate_name, std::move(g));
      out.push_back(std::move(q));
      continue;
    }
    NamedTensor t = take(pool, name, shape, where);
    if (layout == HfLayout::qwen3_next && is_norm(name)) shift_norm(t.data, 1.0f);
    out.push_back(std::move(t));
  }
  // Some tied checkpoints still store lm_head; accept it only when it is the embedding.
  if (m.tie_word_embeddings) {
    auto it = pool.find("lm_head.weight");
    if (it != pool.end()) {
      if (it->second.data != out.front().data)
        throw InputError(where +
                         ": tie_word_embeddings is true but lm_head.weight differs from "
                         "model.embed_tokens.weight");
      pool.erase(it);
    }
  }
  if (!pool.empty())
    throw InputError(where + ": tensor '" + pool.begin()->first +
                     "' is not part of a Qwen3 model with this config.json");
  return out;
}

nlohmann::json hf_config_json(const ModelConfig& m, int64_t max_position_embeddings,
                              const std::string& torch_dtype, HfLayout layout) {
  require_exportable(m, "config.json");
  require_layout(m, layout, "config.json");
  nlohmann::json rope_scaling = nullptr;
  if (m.rope_scaling) {
    const RopeScalingConfig& r = *m.rope_scaling;
    rope_scaling = {{"rope_type", r.type}, {"type", r.type}, {"factor", r.factor}};
    if (r.original_max_position_embeddings > 0)
      rope_scaling["original_max_position_embeddings"] = r.original_max_position_embeddings;
    if (r.type == "yarn") {
      rope_scaling["beta_fast"] = r.beta_fast;
      rope_scaling["beta_slow"] = r.beta_slow;
    }
  }
  const bool g = gated(m);
  nlohmann::json out = {
      {"architectures", {m.moe ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM"}},
      {"model_type", m.moe ? "qwen3_moe" : "qwen3"},
      {"hidden_size", m.hidden_size},
      {"intermediate_size", m.intermediate_size},
      {"num_hidden_layers", m.num_hidden_layers},
      {"num_attention_heads", m.num_attention_heads},
      {"num_key_value_heads", m.num_key_value_heads},
      {"head_dim", m.head_dim},
      {"hidden_act", "silu"},
      {"rms_norm_eps", m.rms_norm_eps},
      {"rope_theta", m.rope_theta},
      {"rope_scaling", rope_scaling},
      {"vocab_size", m.vocab_size},
      {"tie_word_embeddings", m.tie_word_embeddings},
      {"max_position_embeddings", max_position_embeddings},
      {"max_window_layers", m.num_hidden_layers},
      {"use_sliding_window", false},
      {"sliding_window", nullptr},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"initializer_range", m.initializer_range},
      {"use_cache", true},
      {"torch_dtype", torch_dtype},
      {"transformers_version", "4.51.0"},
      // The official gated-attention modeling_qwen3.py reads both flags; stock Qwen3 ignores them.
      {"headwise_attn_output_gate", g && headwise(m)},
      {"elementwise_attn_output_gate", g && !headwise(m)},
  };
  if (layout == HfLayout::qwen3_next) {
    // Every layer full (softmax) attention with its gate, and a dense MLP; RoPE on every dim.
    out["architectures"] = {"Qwen3NextForCausalLM"};
    out["model_type"] = "qwen3_next";
    out.erase("headwise_attn_output_gate");
    out.erase("elementwise_attn_output_gate");
    out.erase("max_window_layers");
    out["layer_types"] =
        std::vector<std::string>(static_cast<size_t>(m.num_hidden_layers), "full_attention");
    out["full_attention_interval"] = 1;
    out["partial_rotary_factor"] = 1.0;
    std::vector<int64_t> all(static_cast<size_t>(m.num_hidden_layers));
    for (size_t l = 0; l < all.size(); ++l) all[l] = static_cast<int64_t>(l);
    out["mlp_only_layers"] = all;
    out["num_experts"] = 0;
    out["decoder_sparse_step"] = 1;
    out["transformers_version"] = "4.57.0";
    return out;
  }
  if (m.moe) {
    const MoeConfig& moe = *m.moe;
    nlohmann::json dense_layers = nlohmann::json::array();
    for (int64_t l = 0; l < moe.first_k_dense_replace; ++l) dense_layers.push_back(l);
    out["num_experts"] = moe.num_experts;
    out["num_experts_per_tok"] = moe.num_experts_per_tok;
    out["moe_intermediate_size"] = moe.moe_intermediate_size;
    out["norm_topk_prob"] = moe.norm_topk_prob;
    out["decoder_sparse_step"] = moe.decoder_sparse_step;
    out["mlp_only_layers"] = dense_layers;
    out["output_router_logits"] = false;
    // Hugging Face's load-balancing loss is k times gatedlm's (docs/moe.md): same strength.
    out["router_aux_loss_coef"] =
        moe.router_aux_loss_coef / static_cast<double>(moe.num_experts_per_tok);
  }
  return out;
}

namespace {

struct HfReader {
  const nlohmann::json& j;
  std::string where;

  InputError error(const std::string& key, const std::string& what) const {
    return InputError(where + ": " + key + ": " + what);
  }
  bool has(const std::string& key) const { return j.contains(key) && !j[key].is_null(); }
  int64_t integer(const std::string& key) const {
    if (!has(key)) throw error(key, "missing (expected an integer)");
    if (!j[key].is_number_integer()) throw error(key, "expected an integer, got " + j[key].dump());
    return j[key].get<int64_t>();
  }
  int64_t integer(const std::string& key, int64_t fallback) const {
    return has(key) ? integer(key) : fallback;
  }
  double number(const std::string& key) const {
    if (!has(key)) throw error(key, "missing (expected a number)");
    if (!j[key].is_number()) throw error(key, "expected a number, got " + j[key].dump());
    return j[key].get<double>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j[key].is_boolean()) throw error(key, "expected true or false, got " + j[key].dump());
    return j[key].get<bool>();
  }
};

// The MoE keys of a qwen3_moe config.json. mlp_only_layers must be the first layers (gatedlm's
// first_k_dense_replace); the aux coefficient is scaled back by k (hf_config_json).
MoeConfig moe_config_from_hf(const HfReader& r) {
  MoeConfig moe;
  moe.num_experts = r.integer("num_experts");
  moe.num_experts_per_tok = r.integer("num_experts_per_tok");
  moe.moe_intermediate_size = r.integer("moe_intermediate_size");
  moe.norm_topk_prob = r.boolean("norm_topk_prob", false);  // Qwen3MoeConfig's default
  moe.decoder_sparse_step = r.integer("decoder_sparse_step", 1);
  if (r.has("router_aux_loss_coef"))
    moe.router_aux_loss_coef =
        r.number("router_aux_loss_coef") * static_cast<double>(moe.num_experts_per_tok);
  if (r.has("mlp_only_layers")) {
    const nlohmann::json& layers = r.j["mlp_only_layers"];
    if (!layers.is_array()) throw r.error("mlp_only_layers", "expected a list of layer indices");
    for (size_t i = 0; i < layers.size(); ++i)
      if (!layers[i].is_number_integer() || layers[i].get<int64_t>() != static_cast<int64_t>(i))
        throw r.error(
            "mlp_only_layers",
            "expected the first layers in order ([0, 1, ..., k-1]), got " + layers.dump());
    moe.first_k_dense_replace = static_cast<int64_t>(layers.size());
  }
  if (moe.num_experts < 1 || moe.num_experts_per_tok < 1 ||
      moe.num_experts_per_tok > moe.num_experts || moe.moe_intermediate_size < 1 ||
      moe.decoder_sparse_step < 1)
    throw r.error("num_experts",
                  "expected 1 <= num_experts_per_tok <= num_experts, "
                  "moe_intermediate_size >= 1 and decoder_sparse_step >= 1");
  return moe;
}

// What gatedlm reads of Qwen3-Next: all layers full attention (no Gated DeltaNet), RoPE on every
// dim, dense MLPs (its MoE has a shared expert gatedlm's Qwen3-MoE lacks).
void check_qwen3_next_is_gated_qwen3(const HfReader& r) {
  const nlohmann::json& types = r.j.value("layer_types", nlohmann::json());
  if (!types.is_array())
    throw r.error("layer_types", "expected a list (\"full_attention\" for every layer)");
  for (const nlohmann::json& t : types)
    if (t != "full_attention")
      throw r.error("layer_types", "expected \"full_attention\" for every layer, got " + t.dump() +
                                       " (Gated DeltaNet layers are not implemented)");
  if (r.has("partial_rotary_factor") && r.number("partial_rotary_factor") != 1.0)
    throw r.error("partial_rotary_factor", "expected 1.0 (RoPE on every dim)");
  if (r.integer("num_experts", 0) > 0) {
    const nlohmann::json& dense = r.j.value("mlp_only_layers", nlohmann::json::array());
    if (!dense.is_array() || dense.size() != types.size())
      throw r.error("num_experts",
                    "expected 0 or every layer in mlp_only_layers (Qwen3-Next's "
                    "MoE blocks are not implemented)");
  }
}

}  // namespace

ModelConfig model_config_from_hf(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where + ": expected a JSON object");
  HfReader r{j, where};
  const std::string type = j.value("model_type", std::string());
  if (type != "qwen3" && type != "qwen3_moe" && type != "qwen3_next")
    throw r.error("model_type", "expected \"qwen3\", \"qwen3_moe\" or \"qwen3_next\", got " +
                                    j.value("model_type", nlohmann::json()).dump());
  if (type == "qwen3_next") check_qwen3_next_is_gated_qwen3(r);
  if (r.boolean("attention_bias", false))
    throw r.error("attention_bias", "true is not supported (gatedlm projections have no bias)");
  if (r.boolean("use_sliding_window", false))
    throw r.error("use_sliding_window", "true is not supported (full causal attention only)");
  if (r.has("hidden_act") && j["hidden_act"] != "silu")
    throw r.error("hidden_act", "expected \"silu\", got " + j["hidden_act"].dump());

  ModelConfig m;
  m.vocab_size = r.integer("vocab_size");
  m.hidden_size = r.integer("hidden_size");
  m.num_hidden_layers = r.integer("num_hidden_layers");
  m.num_attention_heads = r.integer("num_attention_heads");
  m.num_key_value_heads = r.integer("num_key_value_heads", m.num_attention_heads);
  m.head_dim =
      r.integer("head_dim", m.num_attention_heads > 0 ? m.hidden_size / m.num_attention_heads : 0);
  m.intermediate_size = r.integer("intermediate_size");
  m.rms_norm_eps = r.number("rms_norm_eps");
  m.rope_theta = r.number("rope_theta");
  m.qk_norm = true;
  m.tie_word_embeddings = r.boolean("tie_word_embeddings", false);  // Qwen3Config's default
  if (r.has("initializer_range")) m.initializer_range = r.number("initializer_range");
  if (r.has("rope_scaling")) {
    const nlohmann::json& s = j["rope_scaling"];
    if (!s.is_object()) throw r.error("rope_scaling", "expected an object or null");
    HfReader rs{s, where + ": rope_scaling"};
    RopeScalingConfig rc;
    rc.type = s.value("rope_type", s.value("type", std::string()));
    if (rc.type.empty()) throw rs.error("rope_type", "missing");
    rc.factor = rs.number("factor");
    // HF falls back to max_position_embeddings as the original length (dynamic always does).
    const int64_t max_pos = r.integer("max_position_embeddings", 0);
    rc.original_max_position_embeddings =
        rc.type == "dynamic" ? max_pos : rs.integer("original_max_position_embeddings", max_pos);
    if (rs.has("beta_fast")) rc.beta_fast = rs.number("beta_fast");
    if (rs.has("beta_slow")) rc.beta_slow = rs.number("beta_slow");
    m.rope_scaling = rc;
  }
  const bool hw = r.boolean("headwise_attn_output_gate", false);
  const bool ew = r.boolean("elementwise_attn_output_gate", false);
  if (hw && ew)
    throw r.error("headwise_attn_output_gate",
                  "and elementwise_attn_output_gate cannot both be true");
  if (type == "qwen3_next") {  // its gate: elementwise, sigmoid, per head
    m.attention_gate.position = GatePosition::sdpa;
    m.attention_gate.granularity = GateGranularity::elementwise;
  } else if (hw || ew) {
    m.attention_gate.position = GatePosition::sdpa;
    m.attention_gate.granularity = hw ? GateGranularity::headwise : GateGranularity::elementwise;
  }
  if (m.num_key_value_heads <= 0 || m.num_attention_heads % m.num_key_value_heads != 0)
    throw r.error("num_key_value_heads", "must divide num_attention_heads (" +
                                             std::to_string(m.num_attention_heads) + ")");
  if (type == "qwen3_moe") m.moe = moe_config_from_hf(r);
  return m;
}

}  // namespace gatedlm
