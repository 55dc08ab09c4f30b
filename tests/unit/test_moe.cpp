// MoE routing on hand-built cases whose answers are known exactly: the load-balancing and z-loss
// values (micro-batch and global-batch scope, with and without a data-parallel reducer), the
// dispatch order and capacity dropping, and a whole layer with a hand-set router.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/model/moe.h"
#include "gatedlm/model/moe_dispatch.h"
#include "gatedlm/model/router_losses.h"

namespace gatedlm {
namespace {

MoeConfig two_experts(const std::string& scope) {
  MoeConfig m;
  m.num_experts = 2;
  m.num_experts_per_tok = 1;
  m.moe_intermediate_size = 1;
  m.router_aux_loss_coef = 0.1;
  m.router_z_loss_coef = 0.01;
  m.aux_loss_scope = scope;
  return m;
}

RoutingStats stats(std::vector<double> routed, std::vector<double> prob_sum, double tokens,
                   double lse_sq_sum) {
  RoutingStats s;
  s.routed = std::move(routed);
  s.prob_sum = std::move(prob_sum);
  s.tokens = tokens;
  s.lse_sq_sum = lse_sq_sum;
  return s;
}

// Micro-batch 1: both tokens go to expert 0, mean probs (0.7, 0.3): f = (1, 0),
// aux = 2 * (1 * 0.7) = 1.4; z = 3.0 / 2 = 1.5. Micro-batch 2: both to expert 1, mean probs
// (0.25, 0.75): alone f = (0, 1), aux = 2 * 0.75 = 1.5.
const RoutingStats kFirst = stats({2, 0}, {1.4, 0.6}, 2, 3.0);
const RoutingStats kSecond = stats({0, 2}, {0.5, 1.5}, 2, 1.0);

TEST(RouterLosses, MicroBatchScopeUsesEachBatchAlone) {
  RouterLosses losses(two_experts("micro_batch"), 1);
  losses.begin_accumulation();
  losses.update({&kFirst}, true);
  EXPECT_DOUBLE_EQ(losses.aux_loss(0), 1.4);
  EXPECT_DOUBLE_EQ(losses.z_loss(0), 1.5);
  EXPECT_DOUBLE_EQ(losses.objective(), 0.1 * 1.4 + 0.01 * 1.5);
  losses.update({&kSecond}, true);
  EXPECT_DOUBLE_EQ(losses.aux_loss(0), 1.5);
  EXPECT_DOUBLE_EQ(losses.z_loss(0), 0.5);
}

// Global batch, one process: micro-batch 2 sees the running counts (2, 2) of both batches:
// f = (0.5, 0.5), aux = 2 * (0.5 * 0.25 + 0.5 * 0.75) = 1.0. A new step starts over.
TEST(RouterLosses, GlobalScopeRunsOverTheStepsMicroBatches) {
  RouterLosses losses(two_experts("global_batch"), 1);
  losses.begin_accumulation();
  losses.update({&kFirst}, true);
  EXPECT_DOUBLE_EQ(losses.aux_loss(0), 1.4);
  losses.update({&kSecond}, true);
  EXPECT_DOUBLE_EQ(losses.aux_loss(0), 1.0);
  // Evaluation (training = false) uses the batch alone and leaves the running counts alone.
  losses.update({&kSecond}, false);
  EXPECT_DOUBLE_EQ(losses.aux_loss(0), 1.5);
  losses.begin_accumulation();
  losses.update({&kSecond}, true);
  EXPECT_DOUBLE_EQ(losses.aux_loss(0), 1.5);
}

// Two data-parallel ranks: this rank routes kFirst, the other rank both tokens to expert 1. The
// reducer sums the counts: f = (2, 2) / 4, aux = 2 * (0.5 * 0.7 + 0.5 * 0.3) = 1.0 with this
// rank's own mean probabilities.
TEST(RouterLosses, GlobalScopeSumsCountsAcrossRanks) {
  RouterLosses losses(two_experts("global_batch"), 1);
  std::vector<double> seen;
  losses.set_count_reducer([&](double* values, int64_t n) {
    seen.assign(values, values + n);
    const double other_rank[] = {0, 2, 2};  // counts per expert, then assignments
    for (int64_t i = 0; i < n; ++i) values[i] += other_rank[i];
  });
  losses.begin_accumulation();
  losses.update({&kFirst}, true);
  EXPECT_EQ(seen, (std::vector<double>{2, 0, 2}));
  EXPECT_DOUBLE_EQ(losses.aux_loss(0), 1.0);
  // Micro-batch scope never calls the reducer.
  RouterLosses local(two_experts("micro_batch"), 1);
  seen.clear();
  local.set_count_reducer([&](double* values, int64_t n) { seen.assign(values, values + n); });
  local.update({&kFirst}, true);
  EXPECT_TRUE(seen.empty());
}

// d objective / d probs[t, e] = loss_weight * coef / layers * E * f_e / tokens; the z term
// d/d lse_t^2 = loss_weight * z_coef / layers / tokens.
TEST(RouterLosses, GradientScales) {
  RouterLosses losses(two_experts("micro_batch"), 2);
  losses.update({&kFirst, &kSecond}, true);
  EXPECT_DOUBLE_EQ(losses.mean_aux_loss(), (1.4 + 1.5) / 2);
  std::vector<float> prob_grad;
  float z_scale = 0.0f;
  losses.gradients(1, 0.5f, prob_grad, z_scale);
  ASSERT_EQ(prob_grad.size(), 2u);
  EXPECT_FLOAT_EQ(prob_grad[0], 0.0f);
  EXPECT_FLOAT_EQ(prob_grad[1], static_cast<float>(0.5 * 0.1 / 2 * 2 * 1.0 / 2));
  EXPECT_FLOAT_EQ(z_scale, static_cast<float>(0.5 * 0.01 / 2 / 2));
}

TEST(MoeDispatch, CapacityIsCeilOfFactorTimesShare) {
  EXPECT_EQ(expert_capacity(0.0, 10, 2, 4), -1);
  EXPECT_EQ(expert_capacity(1.0, 10, 2, 4), 5);
  EXPECT_EQ(expert_capacity(1.25, 10, 2, 4), 7);  // ceil(6.25)
  EXPECT_EQ(expert_capacity(0.1, 3, 1, 8), 1);
}

// 5 tokens, top-2 of 3 experts. Expert 0 is chosen by tokens 0, 1, 2, 4; expert 1 by 0, 3;
// expert 2 by 1, 2, 3, 4. Dropless: expert blocks in token order.
const std::vector<int32_t> kChoices = {0, 1, 2, 0, 0, 2, 1, 2, 2, 0};

TEST(MoeDispatch, DroplessSortsByExpertThenToken) {
  const DispatchPlan plan = plan_dispatch(kChoices.data(), 5, 2, 3, -1);
  EXPECT_EQ(plan.expert_offset, (std::vector<int64_t>{0, 4, 6, 10}));
  EXPECT_EQ(plan.source_row, (std::vector<int32_t>{0, 1, 2, 4, 0, 3, 1, 2, 3, 4}));
  EXPECT_EQ(plan.slot, (std::vector<int32_t>{0, 4, 6, 1, 2, 7, 5, 8, 9, 3}));
  EXPECT_EQ(plan.routed, (std::vector<int64_t>{4, 2, 4}));
  EXPECT_EQ(plan.dropped, 0);
}

// Capacity 2: expert 0 keeps tokens 0 and 1 and drops tokens 2 and 4; expert 2 keeps 1 and 2
// and drops 3 and 4; expert 1 keeps both of its tokens. Exactly those four slots are -1.
TEST(MoeDispatch, CapacityDropsTheLatestTokensOfAFullExpert) {
  const DispatchPlan plan = plan_dispatch(kChoices.data(), 5, 2, 3, 2);
  EXPECT_EQ(plan.expert_offset, (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(plan.source_row, (std::vector<int32_t>{0, 1, 0, 3, 1, 2}));
  EXPECT_EQ(plan.slot, (std::vector<int32_t>{0, 2, 4, 1, -1, 5, 3, -1, -1, -1}));
  EXPECT_EQ(plan.routed, (std::vector<int64_t>{4, 2, 4}));  // before dropping
  EXPECT_EQ(plan.dropped, 4);
}

// A layer with a hand-set router on hidden 2, two experts, top-1: logits of the three tokens
// (1,0), (0,1), (1,1) under W = [[ln 3, 0], [0, ln 4]] are (ln 3, 0), (0, ln 4), (ln 3, ln 4),
// so the probabilities are (3/4, 1/4), (1/5, 4/5), (3/7, 4/7) and the tokens go to experts
// 0, 1, 1. f = (1/3, 2/3), aux = 2 * (f . mean probs); z = mean of (ln 4)^2, (ln 5)^2, (ln 7)^2.
TEST(MoeLayer, RouterLossesOfAHandSetRouter) {
  set_cpu_threads(1);
  auto backend = make_cpu_backend();
  ModelConfig config;
  config.hidden_size = 2;
  MoeConfig moe = two_experts("micro_batch");
  moe.norm_topk_prob = false;
  config.moe = moe;
  ParameterSet params;
  MoeLayer layer(config, params, "mlp.");
  params.allocate(*backend);
  Rng rng(1);
  params.initialize(rng, 0.5f);
  const float router[] = {std::log(3.0f), 0.0f, 0.0f, std::log(4.0f)};
  backend->from_host(params.data(params.find("mlp.gate.weight")), router, 4);
  MlpScratch scratch;
  layer.reserve(*backend, 3, scratch);
  const float x[] = {1, 0, 0, 1, 1, 1};
  Tensor x_dev = backend->empty({3, 2}), out = backend->empty({3, 2});
  backend->from_host(x_dev.data(), x, 6);
  layer.forward(*backend, x_dev.data(), out.data(), 3);
  EXPECT_EQ(layer.stats().routed, (std::vector<double>{1, 2}));
  RouterLosses losses(moe, 1);
  losses.update({&layer.stats()}, true);
  const double p0 = (0.75 + 0.2 + 3.0 / 7) / 3, p1 = (0.25 + 0.8 + 4.0 / 7) / 3;
  EXPECT_NEAR(losses.aux_loss(0), 2 * (p0 / 3 + 2 * p1 / 3), 1e-6);
  const double l4 = std::log(4.0), l5 = std::log(5.0), l7 = std::log(7.0);
  EXPECT_NEAR(losses.z_loss(0), (l4 * l4 + l5 * l5 + l7 * l7) / 3, 1e-5);
  EXPECT_NEAR(layer.min_topk_margin(*backend), std::log(4.0 / 3.0), 1e-6);
}

}  // namespace
}  // namespace gatedlm
