// gatedlm <-> Hugging Face Qwen3: tensor names, shapes and config.json.
// Ungated models are the stock Qwen3 layout (gatedlm already uses its names). A G1 gate (sdpa,
// sigmoid, multiply, input-dependent, head-specific) uses the layout of the paper's official
// modeling_qwen3.py: gate_proj is folded into a widened q_proj whose rows, per KV group, are
// [G*D query rows | G (headwise) or G*D (elementwise) gate rows], G = heads / kv_heads, flagged
// by headwise_attn_output_gate / elementwise_attn_output_gate in config.json. Other variants
// have no public modelling code and are refused (docs/interop.md). MoE models are Qwen3-MoE
// (qwen3_moe) without shared experts or token dropping.
// HfLayout::qwen3_next writes a G1 elementwise dense model as transformers' own Qwen3-Next with
// every layer full attention: q_proj holds, per head, [D query rows | D gate rows], and every
// RMSNorm weight is stored as w - 1 (Qwen3-Next's norms multiply by 1 + weight).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "gatedlm/checkpoint/safetensors.h"
#include "gatedlm/config/config.h"

namespace gatedlm {

enum class HfLayout {
  qwen3,       // stock Qwen3 / Qwen3-MoE; a G1 gate in the official gated-attention layout
  qwen3_next,  // transformers' Qwen3-Next, all layers full attention (G1 elementwise, dense)
};

// The layout `export` writes unless told: one that stock transformers loads (qwen3 ungated,
// qwen3_next for G1 elementwise dense). `why` is set and qwen3 returned when there is none
// (G1 headwise, G1 on MoE: only the official modelling file reads them).
HfLayout stock_hf_layout(const ModelConfig& model, std::string& why);
// The layout a config.json was written in (qwen3_next by its model_type).
HfLayout hf_layout_of(const nlohmann::json& config);

// Why `model` has no Hugging Face layout, or "" when it has one.
std::string hf_unsupported_reason(const ModelConfig& model);

// The gatedlm parameters of `model` (names and shapes, in declaration order), as a checkpoint
// of it holds them.
std::vector<std::pair<std::string, Shape>> gatedlm_tensor_specs(const ModelConfig& model);

// The widened q_proj of one layer from q_proj [H*D, C] and gate_proj [W, C] (W = H or H*D,
// rows head-major), and back.
std::vector<float> pack_q_gate(const ModelConfig& model, const std::vector<float>& q,
                               const std::vector<float>& gate);
void unpack_q_gate(const ModelConfig& model, const std::vector<float>& packed,
                   std::vector<float>& q, std::vector<float>& gate);

// gatedlm tensors (all of gatedlm_tensor_specs) -> HF tensors in the same order; `where` names
// the source in errors. InputError for an unsupported model or a missing/misshapen tensor.
std::vector<NamedTensor> to_hf_tensors(const ModelConfig& model, std::vector<NamedTensor> tensors,
                                       const std::string& where, HfLayout layout = HfLayout::qwen3);
// HF tensors -> gatedlm tensors in declaration order. Unknown, missing or misshapen tensors are
// InputErrors naming them. A tied model may carry lm_head.weight only if it equals the embedding.
std::vector<NamedTensor> from_hf_tensors(const ModelConfig& model, std::vector<NamedTensor> tensors,
                                         const std::string& where,
                                         HfLayout layout = HfLayout::qwen3);

// config.json of an exportable model; `torch_dtype` "float32" | "bfloat16".
nlohmann::json hf_config_json(const ModelConfig& model, int64_t max_position_embeddings,
                              const std::string& torch_dtype, HfLayout layout = HfLayout::qwen3);
// The model section from a Qwen3, Qwen3-MoE or (all full-attention, dense) Qwen3-Next
// config.json. InputError "where: key: expected ..."
// for a missing key, a wrong type, or a model_type / option gatedlm does not implement.
ModelConfig model_config_from_hf(const nlohmann::json& config, const std::string& where);

}  // namespace gatedlm
