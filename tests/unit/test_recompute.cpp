// Activation recomputation (Transformer::set_recompute, docs/recompute.md): selective and full
// give bitwise the gradients and loss of no recomputation, for dense models at every gate site
// and output transform and for MoE models (shared expert, a dense first layer), over two
// accumulated micro-batches; and they reserve fewer activation bytes, full fewest.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/core/rng.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm {
namespace {

ModelConfig base_config() {
  ModelConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  c.intermediate_size = 24;
  c.initializer_range = 0.3;
  return c;
}

struct Case {
  std::string name;
  ModelConfig config;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  std::vector<Case> out;
  auto gated = [](const std::string& name, GatePosition position, auto&& edit) {
    Case c{name, base_config()};
    c.config.attention_gate.position = position;
    edit(c.config);
    return c;
  };
  auto none = [](ModelConfig&) {};
  out.push_back({"ungated", base_config()});
  out.push_back(gated("sdpa_elementwise", GatePosition::sdpa, none));
  out.push_back(gated("sdpa_headwise_shared", GatePosition::sdpa, [](ModelConfig& c) {
    c.attention_gate.granularity = GateGranularity::headwise;
    c.attention_gate.sharing = GateSharing::head_shared;
  }));
  out.push_back(gated("value", GatePosition::value, none));
  out.push_back(gated("key_pre_norm", GatePosition::key, [](ModelConfig& c) {
    c.attention_gate.qk_gate_point = QkGatePoint::pre_norm;
  }));
  out.push_back(gated("query_post_rope", GatePosition::query, none));
  out.push_back(gated("dense", GatePosition::dense, none));
  out.push_back(gated("static_sdpa", GatePosition::sdpa,
                      [](ModelConfig& c) { c.attention_gate.input_dependent = false; }));
  out.push_back(gated("sdpa_rmsnorm_untied", GatePosition::sdpa, [](ModelConfig& c) {
    c.sdpa_output_transform = SdpaOutputTransform::rmsnorm;
    c.tie_word_embeddings = false;
  }));
  out.push_back(gated("silu_transform", GatePosition::none,
                      [](ModelConfig& c) { c.sdpa_output_transform = SdpaOutputTransform::silu; }));
  Case moe{"moe_shared_dense_first", base_config()};
  moe.config.attention_gate.position = GatePosition::sdpa;
  moe.config.moe.emplace();
  moe.config.moe->num_experts = 4;
  moe.config.moe->num_experts_per_tok = 2;
  moe.config.moe->moe_intermediate_size = 8;
  moe.config.moe->num_shared_experts = 1;
  moe.config.moe->first_k_dense_replace = 1;
  moe.config.moe->router_aux_loss_coef = 0.01;
  moe.config.moe->router_z_loss_coef = 0.001;
  out.push_back(moe);
  return out;
}

struct Outcome {
  std::vector<double> losses;
  std::vector<float> grads;
  size_t activation_bytes = 0;
};

// Two accumulated micro-batches of forward_backward from the same weights and tokens.
Outcome run(const ModelConfig& config, RecomputeMode mode) {
  set_cpu_threads(2);
  auto backend = make_cpu_backend();
  Transformer model(config, *backend);
  model.init_weights(3);
  model.set_recompute(mode);
  const int64_t B = 2, T = 7;
  model.reserve(B, T);
  Rng rng(11);
  std::vector<int32_t> inputs(B * T), targets(B * T);
  Outcome out;
  model.params().zero_grads();
  model.begin_accumulation();
  for (int micro = 0; micro < 2; ++micro) {
    for (int32_t& t : inputs) t = static_cast<int32_t>(rng.uniform_int(config.vocab_size));
    for (int32_t& t : targets) t = static_cast<int32_t>(rng.uniform_int(config.vocab_size));
    out.losses.push_back(model.forward_backward(inputs.data(), targets.data(), B, T, 0.5f));
  }
  out.grads.resize(static_cast<size_t>(model.params().numel()));
  backend->to_host(out.grads.data(), model.params().grads().data(), model.params().numel());
  out.activation_bytes = model.activation_bytes();
  return out;
}

class Recompute : public ::testing::TestWithParam<Case> {};

TEST_P(Recompute, GradientsAreBitwiseThoseOfStoringEverything) {
  const ModelConfig& c = GetParam().config;
  const Outcome stored = run(c, RecomputeMode::none);
  const Outcome selective = run(c, RecomputeMode::selective), full = run(c, RecomputeMode::full);
  for (RecomputeMode mode : {RecomputeMode::selective, RecomputeMode::full}) {
    const Outcome& again = mode == RecomputeMode::full ? full : selective;
    const char* name = mode == RecomputeMode::full ? "full" : "selective";
    EXPECT_EQ(again.losses, stored.losses) << name;
    ASSERT_EQ(again.grads.size(), stored.grads.size());
    EXPECT_EQ(
        std::memcmp(again.grads.data(), stored.grads.data(), stored.grads.size() * sizeof(float)),
        0)
        << name << ": gradients differ";
    EXPECT_LT(again.activation_bytes, stored.activation_bytes) << name;
  }
  EXPECT_LT(full.activation_bytes, selective.activation_bytes);
}

INSTANTIATE_TEST_SUITE_P(Model, Recompute, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(RecomputeMode, CannotChangeAfterReserve) {
  auto backend = make_cpu_backend();
  Transformer model(base_config(), *backend);
  model.set_recompute(RecomputeMode::full);
  model.reserve(1, 4);
  EXPECT_NO_THROW(model.set_recompute(RecomputeMode::full));
  EXPECT_THROW(model.set_recompute(RecomputeMode::none), std::logic_error);
}

}  // namespace
}  // namespace gatedlm
