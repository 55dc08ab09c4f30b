// Incremental decoding with a KV cache against the full forward, and sampling.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/core/rng.h"
#include "gatedlm/infer/generate.h"
#include "gatedlm/model/kv_cache.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm {
namespace {

ModelConfig decode_model(const std::string& variant) {
  ModelConfig c;
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 4;
  c.head_dim = 8;
  c.intermediate_size = 48;
  c.initializer_range = 0.2;  // large weights: attention far from uniform, so errors would show
  if (variant == "gqa") c.num_key_value_heads = 2;
  if (variant == "g1") c.attention_gate.position = GatePosition::sdpa;
  if (variant == "g2-gqa") {
    c.attention_gate.position = GatePosition::value;
    c.num_key_value_heads = 1;
  }
  if (variant == "g3-headwise") {
    c.attention_gate.position = GatePosition::key;
    c.attention_gate.granularity = GateGranularity::headwise;
  }
  if (variant == "g5-static-rmsnorm") {
    c.attention_gate.position = GatePosition::dense;
    c.attention_gate.input_dependent = false;
    c.sdpa_output_transform = SdpaOutputTransform::rmsnorm;
    c.tie_word_embeddings = false;
  }
  return c;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> tokens(n);
  for (auto& t : tokens) t = static_cast<int32_t>(rng.uniform_int(vocab));
  return tokens;
}

class DecodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeTest, IncrementalLogitsEqualFullForward) {
  const ModelConfig config = decode_model(GetParam());
  auto backend = make_cpu_backend();
  Transformer model(config, *backend);
  model.init_weights(5);
  const int64_t T = 70;  // > one 64-row attention block of the full forward
  const std::vector<int32_t> tokens = random_tokens(T + 1, config.vocab_size, 9);
  model.forward(tokens.data(), tokens.data() + 1, 1, T);
  std::vector<float> full(T * config.vocab_size);
  backend->to_host(full.data(), model.logits().data(), T * config.vocab_size);

  KvCache cache(*backend, config, T);
  std::vector<float> step(config.vocab_size);
  double worst = 0.0, scale = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    const float* logits = model.decode_step(tokens[t], cache);
    backend->to_host(step.data(), logits, config.vocab_size);
    for (int64_t v = 0; v < config.vocab_size; ++v) {
      const float expected = full[t * config.vocab_size + v];
      worst = std::max(worst, static_cast<double>(std::fabs(step[v] - expected)));
      scale = std::max(scale, static_cast<double>(std::fabs(expected)));
    }
  }
  EXPECT_EQ(cache.length(), T);
  EXPECT_GT(scale, 0.5) << "logits this small would hide errors";
  // fp32: the two paths sum in different orders (GEMM over T rows vs one row).
  EXPECT_LT(worst, 2e-5 * std::max(1.0, scale)) << "largest |logit| " << scale;
}

INSTANTIATE_TEST_SUITE_P(Variants, DecodeTest,
                         ::testing::Values("baseline", "gqa", "g1", "g2-gqa", "g3-headwise",
                                           "g5-static-rmsnorm"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

TEST(DecodeAttentionTest, GenericDefaultMatchesTheCpuKernel) {
  auto backend = make_cpu_backend();
  AttentionDims d;
  d.batch = 2;
  d.heads = 4;
  d.kv_heads = 2;
  d.head_dim = 8;
  d.ld_q = 4 * 8;
  d.ld_k = d.ld_v = 2 * 8;
  d.scale = 0.35f;
  const int64_t L = 13;
  Rng rng(3);
  auto fill = [&](int64_t n) {
    Tensor t = backend->empty({n});
    std::vector<float> host(n);
    for (auto& x : host) x = static_cast<float>(rng.normal());
    backend->from_host(t.data(), host.data(), n);
    return t;
  };
  const Tensor q = fill(d.batch * d.ld_q), k = fill(d.batch * L * d.ld_k),
               v = fill(d.batch * L * d.ld_v);
  Tensor fast = backend->empty({d.batch * d.ld_q}), generic = backend->empty({d.batch * d.ld_q});
  backend->attention_decode(fast.data(), q.data(), k.data(), v.data(), L, d);
  backend->attention_decode_by_forward(generic.data(), q.data(), k.data(), v.data(), L, d);
  std::vector<float> a(d.batch * d.ld_q), b(d.batch * d.ld_q);
  backend->to_host(a.data(), fast.data(), a.size());
  backend->to_host(b.data(), generic.data(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << i;
}

TEST(GenerateTest, GreedyIsDeterministicAndFollowsTheArgmax) {
  const ModelConfig config = decode_model("g1");
  auto backend = make_cpu_backend();
  Transformer model(config, *backend);
  model.init_weights(11);
  const std::vector<int32_t> prompt = {3, 14, 15, 92, 65};
  SamplingOptions greedy;
  greedy.temperature = 0.0;
  greedy.max_new_tokens = 12;
  const std::vector<int32_t> first = generate(model, prompt, greedy);
  const std::vector<int32_t> second = generate(model, prompt, greedy);
  ASSERT_EQ(first.size(), 12u);
  EXPECT_EQ(first, second);
  // Each greedy token is the argmax of a full forward over everything before it.
  std::vector<int32_t> sequence = prompt;
  for (const int32_t next : first) {
    const auto T = static_cast<int64_t>(sequence.size());
    model.forward(sequence.data(), sequence.data(), 1, T);  // targets unused here
    std::vector<float> last(config.vocab_size);
    backend->to_host(last.data(), model.logits().data() + (T - 1) * config.vocab_size,
                     config.vocab_size);
    Rng unused(0);
    EXPECT_EQ(next, sample_token(last, greedy, unused));
    sequence.push_back(next);
  }
  // Stops after the stop token.
  greedy.stop_token = first[3];
  const std::vector<int32_t> stopped = generate(model, prompt, greedy);
  EXPECT_EQ(stopped.back(), first[3]);
  EXPECT_LE(stopped.size(), 4u);
}

TEST(GenerateTest, SamplingFollowsTemperatureAndTopK) {
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(3.0f), -50.0f};
  SamplingOptions options;
  Rng rng(1);
  std::vector<int> counts(4, 0);
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) ++counts[sample_token(logits, options, rng)];
  // Probabilities 1/6, 2/6, 3/6, ~0; the binomial standard deviation is below 0.002.
  EXPECT_NEAR(counts[0] / double(draws), 1.0 / 6, 0.01);
  EXPECT_NEAR(counts[1] / double(draws), 2.0 / 6, 0.01);
  EXPECT_NEAR(counts[2] / double(draws), 3.0 / 6, 0.01);
  options.top_k = 2;  // only ids 2 and 1: 3/5 and 2/5
  counts.assign(4, 0);
  for (int i = 0; i < draws; ++i) ++counts[sample_token(logits, options, rng)];
  EXPECT_EQ(counts[0] + counts[3], 0);
  EXPECT_NEAR(counts[2] / double(draws), 0.6, 0.01);
  // Seeded sampling repeats.
  Rng a = Rng::stream(4, StreamId::sample), b = Rng::stream(4, StreamId::sample);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(sample_token(logits, options, a), sample_token(logits, options, b));
}

}  // namespace
}  // namespace gatedlm
