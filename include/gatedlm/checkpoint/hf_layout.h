// gatedlm <-> Hugging Face Qwen3: tensor names, shapes and config.json.
// Ungated models are the stock Qwen3 layout (gatedlm already uses its names). A G1 gate (sdpa,
// sigmoid, multiply, input-dependent, head-specific) uses the layout of the paper's official
// modeling_qwen3.py: gate_proj is folded into a widened q_proj whose rows, per KV group, are
// [G*D query rows | G (headwise) or G*D (elementwise) gate rows], G = heads / kv_heads, flagged
// by headwise_attn_output_gate / elementwise_attn_output_gate in config.json. Other variants
// have no public modelling code and are refused (docs/interop.md). MoE models are Qwen3-MoE
// (qwen3_moe) without shared experts or token dropping.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "gatedlm/checkpoint/safetensors.h"
#include "gatedlm/config/config.h"

namespace gatedlm {

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
                                       const std::string& where);
// HF tensors -> gatedlm tensors in declaration order. Unknown, missing or misshapen tensors are
// InputErrors naming them. A tied model may carry lm_head.weight only if it equals the embedding.
std::vector<NamedTensor> from_hf_tensors(const ModelConfig& model, std::vector<NamedTensor> tensors,
                                         const std::string& where);

// config.json of an exportable model; `torch_dtype` "float32" | "bfloat16".
nlohmann::json hf_config_json(const ModelConfig& model, int64_t max_position_embeddings,
                              const std::string& torch_dtype);
nlohmann::json hf_generation_config_json();
// The model section from a Qwen3 or Qwen3-MoE config.json. InputError "where: key: expected ..."
// for a missing key, a wrong type, or a model_type / option gatedlm does not implement.
ModelConfig model_config_from_hf(const nlohmann::json& config, const std::string& where);

}  // namespace gatedlm
