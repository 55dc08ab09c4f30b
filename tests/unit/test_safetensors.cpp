// safetensors reader/writer and the Hugging Face layout (checkpoint/hf_layout.h). The
// end-to-end export/import and PyTorch logits check is tests/reference/test_hf_export.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/checkpoint/hf_layout.h"
#include "gatedlm/checkpoint/safetensors.h"
#include "gatedlm/core/error.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("gatedlm_st_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::vector<float> ramp(int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin(static_cast<float>(i) * 0.37f) * scale;
  return v;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(Safetensors, F32RoundTripIsExact) {
  const std::string path = temp_path("f32.safetensors");
  std::vector<NamedTensor> in = {
      {"a.weight", {3, 5}, ramp(15, 1.5f)}, {"b", {7}, ramp(7, 1e-30f)}, {"scalar", {}, {42.0f}}};
  in[1].data[0] = -0.0f;
  in[1].data[1] = std::numeric_limits<float>::infinity();
  write_safetensors(path, in, SafetensorsDtype::f32);
  const SafetensorsFile out = read_safetensors(path);
  ASSERT_EQ(out.tensors.size(), 3u);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out.tensors[i].name, in[i].name);
    EXPECT_EQ(out.tensors[i].shape, in[i].shape);
    ASSERT_EQ(out.tensors[i].data.size(), in[i].data.size());
    EXPECT_EQ(std::memcmp(out.tensors[i].data.data(), in[i].data.data(), in[i].data.size() * 4), 0);
    EXPECT_EQ(out.dtypes.at(in[i].name), SafetensorsDtype::f32);
  }
  EXPECT_EQ(out.metadata.at("format"), "pt");
  // Header length, then JSON padded so the data is 8-byte aligned.
  const std::string bytes = read_all(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + (15 + 7 + 1) * 4);
  EXPECT_EQ(bytes[8], '{');
  fs::remove(path);
}

TEST(Safetensors, Bf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f).bits, 0x3F80);
  // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties to the even 1.0.
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F808000u)).bits, 0x3F80);
  // 1 + 3*2^-8 is halfway between odd 0x3F81 and even 0x3F82: rounds up to even.
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F818000u)).bits, 0x3F82);
  // Just above halfway rounds up; just below rounds down.
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F808001u)).bits, 0x3F81);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F807FFFu)).bits, 0x3F80);
  EXPECT_EQ(float_to_bf16(-2.0f).bits, 0xC000);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()).bits, 0x7F80);
  // The largest float rounds to infinity, as IEEE round-to-nearest does.
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()).bits, 0x7F80);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // A signalling NaN whose payload sits in the dropped bits must not become infinity.
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::bit_cast<float>(0x7F800001u)))));
  EXPECT_EQ(bf16_to_float(bf16_t{0x3F80}), 1.0f);
  EXPECT_EQ(f16_to_float(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_float(0xC000), -2.0f);
  EXPECT_EQ(f16_to_float(0x0001), std::ldexp(1.0f, -24));
}

TEST(Safetensors, Bf16FileHoldsRoundedValues) {
  const std::string path = temp_path("bf16.safetensors");
  const std::vector<NamedTensor> in = {{"w", {4, 8}, ramp(32, 3.0f)}};
  write_safetensors(path, in, SafetensorsDtype::bf16);
  const SafetensorsFile out = read_safetensors(path);
  ASSERT_EQ(out.tensors.size(), 1u);
  EXPECT_EQ(out.dtypes.at("w"), SafetensorsDtype::bf16);
  for (size_t i = 0; i < 32; ++i) {
    EXPECT_EQ(out.tensors[0].data[i], bf16_to_float(float_to_bf16(in[0].data[i])));
    EXPECT_NEAR(out.tensors[0].data[i], in[0].data[i], std::abs(in[0].data[i]) * (1.0f / 256));
  }
  EXPECT_EQ(read_all(path).size() % 2, 0u);
  fs::remove(path);
}

TEST(Safetensors, DamagedFilesAreInputErrors) {
  const std::string path = temp_path("bad.safetensors");
  write_safetensors(path, {{"w", {16}, ramp(16, 1.0f)}}, SafetensorsDtype::f32);
  const std::string good = read_all(path);
  auto expect_error = [&](const std::string& bytes, const std::string& needle) {
    write_all(path, bytes);
    try {
      read_safetensors(path);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  expect_error(good.substr(0, good.size() - 4), "truncated");
  expect_error(good.substr(0, 5), "too short");
  std::string huge = good;
  const uint64_t big = 1ull << 40;
  std::memcpy(huge.data(), &big, 8);
  expect_error(huge, "header length");
  std::string not_json = good;
  not_json[8] = 'x';
  expect_error(not_json, "JSON");
  uint64_t n = 0;
  std::memcpy(&n, good.data(), 8);
  std::string header = good.substr(8, n);
  auto with_header = [&](std::string h) {
    h.append((8 - h.size() % 8) % 8, ' ');
    const uint64_t len = h.size();
    return std::string(reinterpret_cast<const char*>(&len), 8) + h + good.substr(8 + n);
  };
  expect_error(with_header(R"({"w":{"dtype":"I64","shape":[8],"data_offsets":[0,64]}})"),
               "not supported");
  expect_error(with_header(R"({"w":{"dtype":"F32","shape":[15],"data_offsets":[0,64]}})"),
               "shape and dtype need");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},)"
                           R"("b":{"dtype":"F32","shape":[8],"data_offsets":[16,48]}})"),
               "overlap");
  // Found by fuzz_safetensors: a number beyond double range is nlohmann's out_of_range, not a
  // parse_error, and escaped as exit 1.
  expect_error(with_header(R"({"w":{"dtype":"F32","shape":[4e999],"data_offsets":[0,64]}})"),
               "not valid JSON");
  fs::remove(path);
}

TEST(Safetensors, DuplicateNamesAreRefused) {
  EXPECT_THROW(write_safetensors(temp_path("dup"), {{"a", {1}, {1.0f}}, {"a", {1}, {2.0f}}},
                                 SafetensorsDtype::f32),
               InputError);
  EXPECT_THROW(write_safetensors(temp_path("short"), {{"a", {2}, {1.0f}}}, SafetensorsDtype::f32),
               InputError);
}

ModelConfig tiny(GatePosition position, GateGranularity granularity) {
  ModelConfig m;
  m.vocab_size = 11;
  m.hidden_size = 6;
  m.num_hidden_layers = 2;
  m.num_attention_heads = 4;
  m.num_key_value_heads = 2;
  m.head_dim = 3;
  m.intermediate_size = 5;
  m.tie_word_embeddings = false;
  m.attention_gate.position = position;
  m.attention_gate.granularity = granularity;
  return m;
}

// Row r of a [rows, C] matrix whose entries encode (tag, row): tag*1000 + row.
std::vector<float> tagged(int64_t rows, int64_t C, float tag) {
  std::vector<float> v(static_cast<size_t>(rows * C));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) v[r * C + c] = tag * 1000 + static_cast<float>(r);
  return v;
}

TEST(HfLayout, PackFollowsTheOfficialGroupLayout) {
  // H=4, K=2 -> G=2, D=3. Per KV group: 6 query rows, then 2 (headwise) or 6 gate rows.
  for (const bool headwise : {true, false}) {
    const ModelConfig m = tiny(GatePosition::sdpa,
                               headwise ? GateGranularity::headwise : GateGranularity::elementwise);
    const int64_t C = m.hidden_size, W = headwise ? 4 : 12, gw = headwise ? 2 : 6;
    const auto q = tagged(12, C, 1), g = tagged(W, C, 2);
    const auto packed = pack_q_gate(m, q, g);
    ASSERT_EQ(packed.size(), static_cast<size_t>((12 + W) * C));
    std::vector<float> want_rows;
    for (int64_t k = 0; k < 2; ++k) {
      for (int64_t r = 0; r < 6; ++r) want_rows.push_back(1000 + static_cast<float>(k * 6 + r));
      for (int64_t r = 0; r < gw; ++r) want_rows.push_back(2000 + static_cast<float>(k * gw + r));
    }
    for (size_t r = 0; r < want_rows.size(); ++r)
      EXPECT_EQ(packed[r * C], want_rows[r]) << "row " << r << (headwise ? " headwise" : "");
    std::vector<float> q2, g2;
    unpack_q_gate(m, packed, q2, g2);
    EXPECT_EQ(q2, q);
    EXPECT_EQ(g2, g);
  }
}

std::vector<NamedTensor> model_tensors(const ModelConfig& m) {
  std::vector<NamedTensor> out;
  float tag = 1;
  for (const auto& [name, shape] : gatedlm_tensor_specs(m)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    out.push_back({name, shape, ramp(n, tag++)});
  }
  return out;
}

TEST(HfLayout, TensorsRoundTripExactly) {
  for (const auto& [pos, gran] : {std::pair{GatePosition::none, GateGranularity::elementwise},
                                  std::pair{GatePosition::sdpa, GateGranularity::headwise},
                                  std::pair{GatePosition::sdpa, GateGranularity::elementwise}}) {
    ModelConfig m = tiny(pos, gran);
    for (const bool tied : {false, true}) {
      m.tie_word_embeddings = tied;
      const auto ours = model_tensors(m);
      const auto hf = to_hf_tensors(m, ours, "test");
      for (const NamedTensor& t : hf)
        EXPECT_EQ(t.name.find("self_attn.gate_proj"), std::string::npos);
      EXPECT_EQ(hf.size() + (pos == GatePosition::sdpa ? 2 : 0), ours.size());
      const auto back = from_hf_tensors(m, hf, "test");
      ASSERT_EQ(back.size(), ours.size());
      for (size_t i = 0; i < ours.size(); ++i) {
        EXPECT_EQ(back[i].name, ours[i].name);
        EXPECT_EQ(back[i].shape, ours[i].shape);
        EXPECT_EQ(back[i].data, ours[i].data) << ours[i].name;
      }
    }
  }
}

TEST(HfLayout, MissingOrExtraTensorsNameThemselves) {
  const ModelConfig m = tiny(GatePosition::none, GateGranularity::elementwise);
  auto hf = to_hf_tensors(m, model_tensors(m), "test");
  auto missing = hf;
  missing.erase(missing.begin() + 3);
  try {
    from_hf_tensors(m, missing, "dir");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(hf[3].name), std::string::npos) << e.what();
  }
  auto extra = hf;
  extra.push_back({"model.layers.0.self_attn.q_proj.bias", {12}, ramp(12, 1)});
  EXPECT_THROW(from_hf_tensors(m, extra, "dir"), InputError);
}

TEST(HfLayout, UnsupportedVariantsAreRefusedByName) {
  EXPECT_EQ(hf_unsupported_reason(tiny(GatePosition::none, GateGranularity::elementwise)), "");
  EXPECT_EQ(hf_unsupported_reason(tiny(GatePosition::sdpa, GateGranularity::headwise)), "");
  EXPECT_NE(hf_unsupported_reason(tiny(GatePosition::value, GateGranularity::headwise)).find("G2"),
            std::string::npos);
  ModelConfig m = tiny(GatePosition::sdpa, GateGranularity::elementwise);
  m.attention_gate.activation = GateActivation::silu;
  EXPECT_NE(hf_unsupported_reason(m).find("activation"), std::string::npos);
  m = tiny(GatePosition::sdpa, GateGranularity::elementwise);
  m.attention_gate.input_dependent = false;
  EXPECT_NE(hf_unsupported_reason(m).find("static"), std::string::npos);
  m = tiny(GatePosition::none, GateGranularity::elementwise);
  m.qk_norm = false;
  EXPECT_NE(hf_unsupported_reason(m), "");
  EXPECT_THROW(to_hf_tensors(m, {}, "x"), InputError);
}

TEST(HfLayout, ConfigJsonRoundTrips) {
  for (const auto& [pos, gran] : {std::pair{GatePosition::none, GateGranularity::elementwise},
                                  std::pair{GatePosition::sdpa, GateGranularity::headwise},
                                  std::pair{GatePosition::sdpa, GateGranularity::elementwise}}) {
    ModelConfig m = tiny(pos, gran);
    m.rms_norm_eps = 1e-5;
    m.rope_theta = 1e6;
    const nlohmann::json j = hf_config_json(m, 4096, "bfloat16");
    EXPECT_EQ(j["architectures"], nlohmann::json::array({"Qwen3ForCausalLM"}));
    EXPECT_EQ(j["model_type"], "qwen3");
    EXPECT_EQ(j["torch_dtype"], "bfloat16");
    EXPECT_EQ(j["max_position_embeddings"], 4096);
    EXPECT_EQ(j["headwise_attn_output_gate"].get<bool>(),
              pos == GatePosition::sdpa && gran == GateGranularity::headwise);
    EXPECT_EQ(j["elementwise_attn_output_gate"].get<bool>(),
              pos == GatePosition::sdpa && gran == GateGranularity::elementwise);
    const ModelConfig back = model_config_from_hf(j, "config.json");
    EXPECT_EQ(back, m);
  }
  nlohmann::json bad =
      hf_config_json(tiny(GatePosition::none, GateGranularity::elementwise), 8, "float32");
  bad["hidden_size"] = "64";
  try {
    model_config_from_hf(bad, "cfg.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.json: hidden_size"), std::string::npos) << e.what();
  }
  bad = hf_config_json(tiny(GatePosition::none, GateGranularity::elementwise), 8, "float32");
  bad["model_type"] = "llama";
  EXPECT_THROW(model_config_from_hf(bad, "cfg.json"), InputError);
}

// Qwen3-MoE: 3 layers, the first dense, top-2 of 4 experts, a G1 gate on top.
ModelConfig tiny_moe() {
  ModelConfig m = tiny(GatePosition::sdpa, GateGranularity::headwise);
  m.num_hidden_layers = 3;
  MoeConfig moe;
  moe.num_experts = 4;
  moe.num_experts_per_tok = 2;
  moe.moe_intermediate_size = 7;
  moe.norm_topk_prob = false;
  moe.router_aux_loss_coef = 0.02;
  moe.first_k_dense_replace = 1;
  m.moe = moe;
  return m;
}

TEST(HfLayout, MoeSpecsAreTheModelsParameters) {
  auto backend = make_cpu_backend();
  const ModelConfig m = tiny_moe();
  Transformer model(m, *backend);
  const auto specs = gatedlm_tensor_specs(m);
  const auto& infos = model.params().infos();
  ASSERT_EQ(specs.size(), infos.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(specs[i].first, infos[i].name);
    EXPECT_EQ(specs[i].second, infos[i].shape) << infos[i].name;
  }
  EXPECT_NE(std::find_if(specs.begin(), specs.end(),
                         [](const auto& s) {
                           return s.first == "model.layers.2.mlp.experts.3.down_proj.weight";
                         }),
            specs.end());
}

TEST(HfLayout, MoeTensorsAndConfigJsonRoundTrip) {
  const ModelConfig m = tiny_moe();
  const auto ours = model_tensors(m);
  const auto back = from_hf_tensors(m, to_hf_tensors(m, ours, "test"), "test");
  ASSERT_EQ(back.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_EQ(back[i].data, ours[i].data) << ours[i].name;

  const nlohmann::json j = hf_config_json(m, 64, "float32");
  EXPECT_EQ(j["architectures"], nlohmann::json::array({"Qwen3MoeForCausalLM"}));
  EXPECT_EQ(j["model_type"], "qwen3_moe");
  EXPECT_EQ(j["num_experts"], 4);
  EXPECT_EQ(j["num_experts_per_tok"], 2);
  EXPECT_EQ(j["moe_intermediate_size"], 7);
  EXPECT_EQ(j["norm_topk_prob"], false);
  EXPECT_EQ(j["mlp_only_layers"], nlohmann::json::array({0}));
  EXPECT_EQ(j["decoder_sparse_step"], 1);
  EXPECT_DOUBLE_EQ(j["router_aux_loss_coef"].get<double>(), 0.01);  // HF's loss is k times ours
  EXPECT_EQ(model_config_from_hf(j, "config.json"), m);

  nlohmann::json bad = j;
  bad["mlp_only_layers"] = nlohmann::json::array({1});
  try {
    model_config_from_hf(bad, "cfg.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.json: mlp_only_layers"), std::string::npos);
  }
  bad = j;
  bad["num_experts_per_tok"] = 5;
  EXPECT_THROW(model_config_from_hf(bad, "cfg.json"), InputError);
}

TEST(HfLayout, MoeWithoutAQwen3MoeEquivalentIsRefused) {
  ModelConfig m = tiny_moe();
  EXPECT_EQ(hf_unsupported_reason(m), "");
  m.moe->num_shared_experts = 1;
  EXPECT_NE(hf_unsupported_reason(m).find("shared expert"), std::string::npos);
  m = tiny_moe();
  m.moe->capacity_factor = 1.25;
  EXPECT_NE(hf_unsupported_reason(m).find("dropless"), std::string::npos);
  EXPECT_THROW(hf_config_json(m, 8, "float32"), InputError);
}

}  // namespace
}  // namespace gatedlm
