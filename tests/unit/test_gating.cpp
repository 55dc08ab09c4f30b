// Gate instrumentation on hand-built cases whose answers are known exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm {
namespace {

ModelConfig small_model() {
  ModelConfig c;
  c.vocab_size = 13;
  c.hidden_size = 16;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  c.intermediate_size = 24;
  c.initializer_range = 0.5;
  return c;
}

void zero_param(ParameterSet& params, const std::string& name) {
  const auto id = params.find(name);
  ASSERT_GE(id, 0) << name;
  params.backend().fill(params.data(id), params.info(id).numel(), 0.0f);
}

// With q = 0 every score is equal, so causal attention is uniform: P[t, 0] = 1 / (t + 1) and
// F-Attn = mean over t = 1..T-1 of 1/(t+1), in every layer and head.
TEST(Instrumentation, FirstTokenAttentionIsExactForUniformAttention) {
  set_cpu_threads(2);
  auto backend = make_cpu_backend();
  ModelConfig config = small_model();
  Transformer model(config, *backend);
  model.init_weights(3);
  for (int l = 0; l < config.num_hidden_layers; ++l)
    zero_param(model.params(), "model.layers." + std::to_string(l) + ".self_attn.q_proj.weight");
  const int64_t B = 3, T = 9;
  std::vector<int32_t> tokens(B * T);
  for (int64_t i = 0; i < B * T; ++i) tokens[i] = static_cast<int32_t>(i * 7 % 13);
  ModelAnalysis analysis;
  analysis.reset(config.num_hidden_layers, false);
  model.forward(tokens.data(), tokens.data(), B, T, &analysis);
  double expected = 0.0;
  for (int64_t t = 1; t < T; ++t) expected += 1.0 / (t + 1);
  expected /= (T - 1);
  for (int l = 0; l < config.num_hidden_layers; ++l)
    EXPECT_NEAR(analysis.first_token_attn(l), expected, 1e-6) << "layer " << l;
  EXPECT_NEAR(analysis.mean_first_token_attn(), expected, 1e-6);
}

// A gate whose logits are all zero scores sigmoid(0) = 0.5 everywhere (none below 0.1); with
// silu, silu(0) = 0 everywhere (all below 0.1).
TEST(Instrumentation, GateScoreOfZeroLogits) {
  set_cpu_threads(2);
  auto backend = make_cpu_backend();
  for (auto [activation, score, sparsity] :
       {std::tuple{GateActivation::sigmoid, 0.5, 0.0}, std::tuple{GateActivation::silu, 0.0, 1.0},
        std::tuple{GateActivation::ns_sigmoid, 0.75, 0.0}}) {
    ModelConfig config = small_model();
    config.attention_gate.position = GatePosition::sdpa;
    config.attention_gate.activation = activation;
    Transformer model(config, *backend);
    model.init_weights(5);
    for (int l = 0; l < config.num_hidden_layers; ++l)
      zero_param(model.params(),
                 "model.layers." + std::to_string(l) + ".self_attn.gate_proj.weight");
    std::vector<int32_t> tokens(2 * 6, 4);
    ModelAnalysis analysis;
    analysis.reset(config.num_hidden_layers, true);
    model.forward(tokens.data(), tokens.data(), 2, 6, &analysis);
    EXPECT_DOUBLE_EQ(analysis.mean_gate_score(), score);
    EXPECT_DOUBLE_EQ(analysis.mean_gate_sparsity(), sparsity);
  }
}

// M-Act: with every block weight zero, attention and MLP outputs are 0 and the residual stream
// is the embedding, so the maxima are known.
TEST(Instrumentation, MaxActivationOfIdentityBlocks) {
  set_cpu_threads(2);
  auto backend = make_cpu_backend();
  ModelConfig config = small_model();
  Transformer model(config, *backend);
  model.init_weights(9);
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    zero_param(model.params(), p + "self_attn.o_proj.weight");
    zero_param(model.params(), p + "mlp.down_proj.weight");
  }
  std::vector<int32_t> tokens = {1, 5, 7, 1, 12, 0};
  std::vector<float> table(config.vocab_size * config.hidden_size);
  backend->to_host(table.data(),
                   model.params().data(model.params().find("model.embed_tokens.weight")),
                   table.size());
  float expected = 0.0f;
  for (int32_t t : tokens)
    for (int64_t i = 0; i < config.hidden_size; ++i)
      expected = std::max(expected, std::fabs(table[t * config.hidden_size + i]));
  ModelAnalysis analysis;
  analysis.reset(config.num_hidden_layers, false);
  model.forward(tokens.data(), tokens.data(), 1, 6, &analysis);
  for (const LayerAnalysis& l : analysis.layers) {
    EXPECT_EQ(l.max_act[kAttnOutput], 0.0f);
    EXPECT_EQ(l.max_act[kFfnOutput], 0.0f);
    EXPECT_EQ(l.max_act[kAttnResidual], expected);
    EXPECT_EQ(l.max_act[kFfnResidual], expected);
  }
}

}  // namespace
}  // namespace gatedlm
