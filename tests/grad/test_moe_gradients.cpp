// Finite-difference checks of the MoE layer (router, routed experts, shared expert and its gate,
// capacity dropping, load-balancing and z-loss) and of whole MoE transformers. Top-k ties are
// avoided by construction: the data is drawn until every token's k-th and (k+1)-th router logits
// differ by more than any finite-difference step can move them, so the routing never flips
// while a gradient is measured.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "fd_check.h"
#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/model/moe.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm::test {
namespace {

struct MoeCase {
  std::string name;
  int64_t experts = 5, top_k = 2, shared = 0;
  bool shared_gate = true, normalize = true;
  double capacity_factor = 0.0;
  std::string scope = "micro_batch";
};
void PrintTo(const MoeCase& c, std::ostream* os) { *os << c.name; }

ModelConfig layer_config(const MoeCase& c) {
  ModelConfig m;
  m.hidden_size = 6;
  MoeConfig moe;
  moe.num_experts = c.experts;
  moe.num_experts_per_tok = c.top_k;
  moe.moe_intermediate_size = 4;
  moe.num_shared_experts = c.shared;
  moe.shared_expert_gate = c.shared_gate;
  moe.norm_topk_prob = c.normalize;
  moe.capacity_factor = c.capacity_factor;
  moe.router_aux_loss_coef = 0.3;
  moe.router_z_loss_coef = 0.05;
  moe.aux_loss_scope = c.scope;
  m.moe = moe;
  return m;
}

// Smallest gap, over tokens, between the k-th and (k+1)-th largest router logits.
double topk_margin(const std::vector<float>& x, const float* router, int64_t rows, int64_t hidden,
                   int64_t experts, int64_t k) {
  double margin = 1e30;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> logits(static_cast<size_t>(experts), 0.0);
    for (int64_t e = 0; e < experts; ++e)
      for (int64_t c = 0; c < hidden; ++c) logits[e] += x[r * hidden + c] * router[e * hidden + c];
    std::sort(logits.rbegin(), logits.rend());
    if (k < experts) margin = std::min(margin, logits[k - 1] - logits[k]);
  }
  return margin;
}

void check_layer(const MoeCase& c) {
  set_cpu_threads(1);
  auto backend = make_cpu_backend();
  Backend& be = *backend;
  const ModelConfig config = layer_config(c);
  const int64_t rows = 9, C = config.hidden_size, E = c.experts;
  ParameterSet params;
  MoeLayer layer(config, params, "mlp.");
  params.allocate(be);
  MlpScratch mlp_scratch;
  MoeScratch scratch;
  layer.reserve(be, rows, mlp_scratch);
  scratch.reserve(be, config, rows);
  RouterLosses losses(*config.moe, 1);

  // The largest logit change one finite-difference evaluation can cause (a step of at most
  // 2 * 2^-6 on one x or router element, times the largest element of the other factor).
  std::vector<float> host(static_cast<size_t>(params.numel())), x(rows * C), probe(rows * C);
  const float* router = host.data() + params.info(params.find("mlp.gate.weight")).offset;
  Rng rng(17);
  double margin = 0.0, reach = 0.0;
  for (int attempt = 0; attempt < 2000; ++attempt) {
    fill_normal(host, rng, 0.5);
    fill_normal(x, rng, 1.0);
    round_for_fd(host.data(), params.numel());
    round_for_fd(x.data(), rows * C);
    float largest = 0.0f;
    for (float v : x) largest = std::max(largest, std::fabs(v));
    for (int64_t i = 0; i < E * C; ++i) largest = std::max(largest, std::fabs(router[i]));
    reach = 2.0 * (2.0 / 64.0) * (largest + 2.0 / 64.0);
    margin = topk_margin(x, router, rows, C, E, c.top_k);
    if (margin > 2.0 * reach) break;
  }
  ASSERT_GT(margin, 2.0 * reach) << "no tie-free routing found";
  be.from_host(params.params().data(), host.data(), params.numel());
  fill_normal(probe, rng, 1.0);

  // loss = sum(out * probe) + aux and z terms, the model's objective for one micro-batch.
  std::vector<float> out(rows * C);
  Tensor out_dev = be.empty({rows, C}), x_dev = be.empty({rows, C});
  auto loss = [&] {
    be.from_host(x_dev.data(), x.data(), rows * C);
    layer.forward(be, x_dev.data(), out_dev.data(), rows);
    losses.begin_accumulation();
    losses.update({&layer.stats()}, true);
    be.to_host(out.data(), out_dev.data(), rows * C);
    double total = losses.objective();
    for (int64_t i = 0; i < rows * C; ++i) total += static_cast<double>(out[i]) * probe[i];
    return total;
  };
  loss();
  if (c.capacity_factor > 0) EXPECT_GT(layer.stats().dropped, 0) << "the case must drop tokens";
  std::vector<float> prob_grad;
  float z_scale = 0.0f;
  losses.gradients(0, 1.0f, prob_grad, z_scale);
  Tensor dout = be.empty({rows, C}), dx = be.empty({rows, C});
  be.from_host(dout.data(), probe.data(), rows * C);
  params.zero_grads();
  layer.backward(be, x_dev.data(), dout.data(), dx.data(), rows, mlp_scratch, scratch, prob_grad,
                 z_scale);

  std::vector<float> grads(static_cast<size_t>(params.numel())), dx_host(rows * C);
  be.to_host(grads.data(), params.grads().data(), params.numel());
  be.to_host(dx_host.data(), dx.data(), rows * C);
  std::vector<FdTarget> targets{{"x", x.data(), rows * C, dx_host}};
  for (const ParamInfo& p : params.infos())
    targets.push_back(
        {p.name, params.params().data() + p.offset, p.numel(),
         std::vector<float>(grads.begin() + p.offset, grads.begin() + p.offset + p.numel())});
  check_gradients(targets, loss, 16, 5);
}

std::vector<MoeCase> layer_cases() {
  std::vector<MoeCase> cases;
  cases.push_back({"top2_normalized"});
  MoeCase raw{"top2_raw_weights"};
  raw.normalize = false;
  cases.push_back(raw);
  MoeCase top1{"top1_of_4"};
  top1.experts = 4;
  top1.top_k = 1;
  cases.push_back(top1);
  MoeCase gated{"shared_gated"};
  gated.shared = 2;
  cases.push_back(gated);
  MoeCase ungated{"shared_ungated_raw"};
  ungated.shared = 1;
  ungated.shared_gate = false;
  ungated.normalize = false;
  cases.push_back(ungated);
  MoeCase dropping{"capacity_dropping"};
  dropping.capacity_factor = 0.6;
  cases.push_back(dropping);
  MoeCase global{"global_scope"};
  global.scope = "global_batch";
  cases.push_back(global);
  return cases;
}

class MoeLayerGradients : public ::testing::TestWithParam<MoeCase> {};
TEST_P(MoeLayerGradients, MatchFiniteDifferences) { check_layer(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Moe, MoeLayerGradients, ::testing::ValuesIn(layer_cases()),
                         [](const auto& info) { return info.param.name; });

// Whole MoE transformers: embedding to loss, with router losses, a dense first layer, and a G1
// gate on top. Weights are drawn until every MoE layer's routing margin is wide, so no
// finite-difference step flips a token's experts.
ModelConfig tiny_moe_model() {
  ModelConfig c;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  c.intermediate_size = 12;
  c.initializer_range = 0.4;
  MoeConfig moe;
  moe.num_experts = 4;
  moe.num_experts_per_tok = 2;
  moe.moe_intermediate_size = 6;
  moe.num_shared_experts = 1;
  moe.router_aux_loss_coef = 0.1;
  moe.router_z_loss_coef = 0.01;
  moe.first_k_dense_replace = 1;
  c.moe = moe;
  return c;
}

void check_model(const ModelConfig& config) {
  set_cpu_threads(1);
  auto backend = make_cpu_backend();
  Transformer model(config, *backend);
  ParameterSet& params = model.params();
  std::vector<float> host(static_cast<size_t>(params.numel()));
  Rng rng(29);
  const int64_t B = 2, T = 5;
  std::vector<int32_t> inputs(B * T), targets(B * T);
  double margin = 0.0;
  for (int attempt = 0; attempt < 500 && margin < 0.3; ++attempt) {
    for (const ParamInfo& p : params.infos()) {
      const bool router = p.name.find("mlp.gate.weight") != std::string::npos;
      for (int64_t i = 0; i < p.numel(); ++i)
        host[p.offset + i] =
            static_cast<float>(p.spec.init == ParamInit::normal ? rng.normal() * (router ? 1.5 : 0.4)
                                                           : 1.0 + rng.normal() * 0.3);
    }
    round_for_fd(host.data(), params.numel());
    backend->from_host(params.params().data(), host.data(), params.numel());
    for (int32_t& t : inputs) t = static_cast<int32_t>(rng.uniform_int(config.vocab_size));
    for (int32_t& t : targets) t = static_cast<int32_t>(rng.uniform_int(config.vocab_size));
    model.forward(inputs.data(), targets.data(), B, T);
    margin = model.min_routing_margin();
  }
  ASSERT_GE(margin, 0.3) << "no tie-free routing found";
  params.zero_grads();
  model.begin_accumulation();
  model.forward_backward(inputs.data(), targets.data(), B, T, 1.0f);
  EXPECT_GT(model.router_loss(), 0.0);
  std::vector<float> grads(static_cast<size_t>(params.numel()));
  backend->to_host(grads.data(), params.grads().data(), params.numel());
  std::vector<FdTarget> targets_fd;
  for (const ParamInfo& p : params.infos())
    targets_fd.push_back(
        {p.name, params.params().data() + p.offset, p.numel(),
         std::vector<float>(grads.begin() + p.offset, grads.begin() + p.offset + p.numel())});
  auto loss = [&] {
    return model.forward(inputs.data(), targets.data(), B, T) + model.router_loss();
  };
  check_gradients(targets_fd, loss, 6, 13);
}

TEST(MoeModelGradients, SharedExpertDenseFirstLayer) { check_model(tiny_moe_model()); }

TEST(MoeModelGradients, G1GateUnnormalizedNoShared) {
  ModelConfig c = tiny_moe_model();
  c.attention_gate.position = GatePosition::sdpa;
  c.moe->norm_topk_prob = false;
  c.moe->num_shared_experts = 0;
  c.moe->first_k_dense_replace = 0;
  c.moe->decoder_sparse_step = 2;  // layers 1 MoE, 0 and 2 dense
  check_model(c);
}

}  // namespace
}  // namespace gatedlm::test
