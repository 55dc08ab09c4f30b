// Whole-model finite-difference checks: the full Transformer (embedding, blocks, final norm,
// LM head, cross-entropy) for the dense variants and for every valid attention-gate
// combination (position x granularity x sharing x combine/activation x input dependence, and
// both QK gate points), plus the two SDPA-output controls.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fd_check.h"
#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm::test {
namespace {

ModelConfig tiny_model() {
  ModelConfig c;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  c.intermediate_size = 12;
  c.rms_norm_eps = 1e-6;
  c.initializer_range = 0.4;
  return c;
}

struct ModelCase {
  std::string name;
  ModelConfig config;
};
// Keeps test names readable (and ctest's discovered names free of byte dumps).
void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

// Every parameter random (norm weights around 1, static gate logits around 1) so no gradient
// path is hidden behind a constant start. Static logits sit away from 0 because a gate near 0
// in front of QK-norm puts the norm in its eps regime, where the loss curves too sharply for a
// finite-difference step to resolve.
void randomize(ParameterSet& params, Rng& rng) {
  std::vector<float> host(static_cast<size_t>(params.numel()));
  for (const ParamInfo& p : params.infos()) {
    for (int64_t i = 0; i < p.numel(); ++i) {
      const double base = p.spec.init == ParamInit::normal ? 0.0 : 1.0;
      const double std = p.spec.init == ParamInit::normal ? 0.4 : 0.3;
      host[p.offset + i] = static_cast<float>(base + rng.normal() * std);
    }
  }
  round_for_fd(host.data(), params.numel());
  params.backend().from_host(params.params().data(), host.data(), params.numel());
}

void check_model(const ModelConfig& config, int samples_per_tensor) {
  set_cpu_threads(1);
  auto backend = make_cpu_backend();
  Transformer model(config, *backend);
  Rng rng(7);
  randomize(model.params(), rng);
  const int64_t B = 2, T = 5;
  std::vector<int32_t> inputs(B * T), targets(B * T);
  for (int32_t& t : inputs) t = static_cast<int32_t>(rng.uniform_int(config.vocab_size));
  for (int32_t& t : targets) t = static_cast<int32_t>(rng.uniform_int(config.vocab_size));

  ParameterSet& params = model.params();
  params.zero_grads();
  model.forward_backward(inputs.data(), targets.data(), B, T, 1.0f);
  std::vector<FdTarget> targets_fd;
  for (const ParamInfo& p : params.infos()) {
    FdTarget t{p.name, params.params().data() + p.offset, p.numel(),
               std::vector<float>(params.grads().data() + p.offset,
                                  params.grads().data() + p.offset + p.numel())};
    targets_fd.push_back(std::move(t));
  }
  auto loss = [&] { return model.forward(inputs.data(), targets.data(), B, T); };
  check_gradients(targets_fd, loss, samples_per_tensor, 11);
}

std::vector<ModelCase> dense_cases() {
  std::vector<ModelCase> cases;
  cases.push_back({"gqa_qknorm_tied", tiny_model()});
  ModelCase untied{"untied", tiny_model()};
  untied.config.tie_word_embeddings = false;
  cases.push_back(untied);
  ModelCase no_qk{"no_qk_norm_mha", tiny_model()};
  no_qk.config.qk_norm = false;
  no_qk.config.num_key_value_heads = 4;
  cases.push_back(no_qk);
  ModelCase mqa{"mqa", tiny_model()};
  mqa.config.num_key_value_heads = 1;
  cases.push_back(mqa);
  for (auto transform : {SdpaOutputTransform::rmsnorm, SdpaOutputTransform::silu}) {
    ModelCase c{transform == SdpaOutputTransform::rmsnorm ? "sdpa_rmsnorm" : "sdpa_silu",
                tiny_model()};
    c.config.sdpa_output_transform = transform;
    cases.push_back(c);
  }
  return cases;
}

const char* position_name(GatePosition p) {
  switch (p) {
    case GatePosition::sdpa:
      return "sdpa";
    case GatePosition::value:
      return "value";
    case GatePosition::key:
      return "key";
    case GatePosition::query:
      return "query";
    case GatePosition::dense:
      return "dense";
    default:
      return "none";
  }
}

const char* activation_name(GateActivation a) {
  switch (a) {
    case GateActivation::sigmoid:
      return "sigmoid";
    case GateActivation::silu:
      return "silu";
    case GateActivation::ns_sigmoid:
      return "ns_sigmoid";
    default:
      return "identity";
  }
}

std::vector<ModelCase> gate_cases() {
  std::vector<ModelCase> cases;
  const std::pair<GateCombine, GateActivation> combos[] = {
      {GateCombine::multiply, GateActivation::sigmoid},
      {GateCombine::multiply, GateActivation::silu},
      {GateCombine::multiply, GateActivation::ns_sigmoid},
      {GateCombine::multiply, GateActivation::identity},
      {GateCombine::add, GateActivation::silu},
      {GateCombine::add, GateActivation::identity}};
  for (GatePosition pos : {GatePosition::sdpa, GatePosition::value, GatePosition::key,
                           GatePosition::query, GatePosition::dense}) {
    const bool qk = pos == GatePosition::key || pos == GatePosition::query;
    const bool dense = pos == GatePosition::dense;
    for (GateGranularity gran : {GateGranularity::elementwise, GateGranularity::headwise}) {
      if (dense && gran == GateGranularity::headwise) continue;
      for (int sharing = 0; sharing < (dense ? 1 : 3); ++sharing) {
        for (auto [combine, act] : combos) {
          for (bool input_dependent : {true, false}) {
            for (QkGatePoint point : {QkGatePoint::post_rope, QkGatePoint::pre_norm}) {
              if (!qk && point == QkGatePoint::pre_norm) continue;
              ModelCase c{"", tiny_model()};
              AttentionGateConfig& g = c.config.attention_gate;
              g.position = pos;
              g.granularity = gran;
              g.sharing = sharing ? GateSharing::head_shared : GateSharing::head_specific;
              g.shared_average = sharing == 2 ? SharedAverage::logits : SharedAverage::scores;
              g.combine = combine;
              g.activation = act;
              g.input_dependent = input_dependent;
              g.qk_gate_point = point;
              c.name = std::string(position_name(pos)) + "_" +
                       (gran == GateGranularity::elementwise ? "elem" : "head") + "_" +
                       (sharing == 0   ? "specific"
                        : sharing == 1 ? "shared_scores"
                                       : "shared_logits") +
                       "_" + (combine == GateCombine::add ? "add_" : "mul_") +
                       activation_name(act) + (input_dependent ? "" : "_static") +
                       (qk ? (point == QkGatePoint::pre_norm ? "_prenorm" : "_postrope") : "");
              cases.push_back(c);
            }
          }
        }
      }
    }
  }
  return cases;
}

class DenseModelGradients : public ::testing::TestWithParam<ModelCase> {};
TEST_P(DenseModelGradients, MatchFiniteDifferences) { check_model(GetParam().config, 24); }
INSTANTIATE_TEST_SUITE_P(Model, DenseModelGradients, ::testing::ValuesIn(dense_cases()),
                         [](const auto& info) { return info.param.name; });

class GatedModelGradients : public ::testing::TestWithParam<ModelCase> {};
TEST_P(GatedModelGradients, MatchFiniteDifferences) { check_model(GetParam().config, 8); }
INSTANTIATE_TEST_SUITE_P(Gate, GatedModelGradients, ::testing::ValuesIn(gate_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(GateCases, CoverEveryValidCombination) {
  // 3 positions with heads (sdpa, value) x 2 granularities x 3 sharings x 6 combine/act x 2,
  // key/query the same x 2 gate points, dense x 6 x 2.
  EXPECT_EQ(gate_cases().size(), 2u * 2 * 3 * 6 * 2 + 2u * 2 * 3 * 6 * 2 * 2 + 6u * 2);
}

}  // namespace
}  // namespace gatedlm::test
