// Parameter roles (model/parameters.h): a parameter without a declared role is an error where
// it is declared, a fused group must be declared back to back, and the roles the layers declare
// are what tensor parallelism, gradient reduction and FLOP counting need, for every gate site.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/model/transformer.h"
#include "silent_group.h"

namespace gatedlm {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(ParameterRoles, AnUndeclaredRoleIsAnErrorAtDeclaration) {
  ParameterSet params;
  EXPECT_THROW(params.add("w", {2, 2}, ParamSpec{}), std::logic_error);
  ParamSpec no_gradient;
  no_gradient.split = TensorSplit::column;
  EXPECT_THROW(params.add("w", {2, 2}, no_gradient), std::logic_error);
  ParamSpec expert_without_index = weight_spec(TensorSplit::replicated);
  expert_without_index.gradient = GradientKind::expert;
  EXPECT_THROW(params.add("w", {2, 2}, expert_without_index), std::logic_error);
  ParamSpec index_without_expert = weight_spec(TensorSplit::replicated);
  index_without_expert.expert = 3;
  EXPECT_THROW(params.add("w", {2, 2}, index_without_expert), std::logic_error);
  EXPECT_NO_THROW(params.add("w", {2, 2}, weight_spec(TensorSplit::column)));
  EXPECT_TRUE(params.infos().empty() == false);
}

TEST(ParameterRoles, AFusedGroupMustBeDeclaredBackToBack) {
  auto backend = make_cpu_backend();
  ParamSpec fused = weight_spec(TensorSplit::column);
  fused.fused_group = "qkv";
  ParameterSet split_up;
  split_up.add("q", {2, 2}, fused);
  split_up.add("o", {2, 2}, weight_spec(TensorSplit::row));
  split_up.add("k", {2, 2}, fused);
  EXPECT_THROW(split_up.allocate(*backend), std::logic_error);
  ParameterSet adjacent;
  const auto q = adjacent.add("q", {2, 2}, fused);
  const auto k = adjacent.add("k", {2, 2}, fused);
  adjacent.add("o", {2, 2}, weight_spec(TensorSplit::row));
  EXPECT_NO_THROW(adjacent.allocate(*backend));
  EXPECT_TRUE(adjacent.contiguous({q, k}));
}

TEST(ParameterRoles, SplitDimensionsFollowTheSplitKindOnlyUnderTensorParallelism) {
  ParameterSet whole, shard(2);
  for (ParameterSet* set : {&whole, &shard}) {
    set->add("col", {4, 2}, weight_spec(TensorSplit::column));
    set->add("row", {2, 4}, weight_spec(TensorSplit::row));
    set->add("vocab", {8, 2}, weight_spec(TensorSplit::vocab));
    set->add("norm", {2}, norm_spec());
  }
  for (const ParamInfo& p : whole.infos()) EXPECT_EQ(p.split_dim, -1) << p.name;
  EXPECT_EQ(shard.infos()[0].split_dim, 0);
  EXPECT_EQ(shard.infos()[1].split_dim, 1);
  EXPECT_EQ(shard.infos()[2].split_dim, 0);
  EXPECT_EQ(shard.infos()[3].split_dim, -1);
}

ModelConfig tiny_config(GatePosition position, bool input_dependent = true) {
  ModelConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.intermediate_size = 48;
  c.sdpa_output_transform = SdpaOutputTransform::rmsnorm;  // declares sdpa_norm
  c.attention_gate.position = position;
  c.attention_gate.input_dependent = input_dependent;
  return c;
}

// What Megatron-style tensor parallelism does with each kind of tensor of the dense model,
// written out independently of the layers: the dimension shards cut (-1: replicated) and
// whether each shard's gradient is only its heads' share.
struct Expected {
  int split_dim;
  GradientKind gradient;
};

Expected expected_role(const std::string& name, GatePosition position) {
  for (const char* column : {"q_proj.weight", "k_proj.weight", "v_proj.weight",
                             "mlp.gate_proj.weight", "mlp.up_proj.weight"})
    if (ends_with(name, column)) return {0, GradientKind::local};
  if (ends_with(name, "o_proj.weight") || ends_with(name, "down_proj.weight"))
    return {1, GradientKind::local};
  if (ends_with(name, "self_attn.gate_proj.weight") || ends_with(name, "gate_logits"))
    return {position == GatePosition::dense ? -1 : 0, GradientKind::local};
  if (ends_with(name, "q_norm.weight") || ends_with(name, "k_norm.weight") ||
      ends_with(name, "sdpa_norm.weight"))
    return {-1, GradientKind::partial_over_tensor};
  if (name == "model.embed_tokens.weight" || name == "lm_head.weight")
    return {0, GradientKind::local};  // vocabulary-parallel
  return {-1, GradientKind::local};   // the block and final norms
}

TEST(ParameterRoles, LayersDeclareTheirTensorParallelRolesAtEveryGateSite) {
  auto backend = make_cpu_backend();
  SilentGroup pair(2);
  const TensorParallel tp{&pair, true};
  for (GatePosition position : {GatePosition::none, GatePosition::sdpa, GatePosition::value,
                                GatePosition::key, GatePosition::query, GatePosition::dense})
    for (bool input_dependent : {true, false}) {
      if (position == GatePosition::none && !input_dependent) continue;
      ModelConfig c = tiny_config(position, input_dependent);
      c.tie_word_embeddings = input_dependent;  // both with and without an lm_head
      Transformer model(c, *backend, tp);
      for (const ParamInfo& p : model.params().infos()) {
        const Expected want = expected_role(p.name, position);
        EXPECT_EQ(p.split_dim, want.split_dim) << p.name;
        EXPECT_EQ(p.spec.gradient, want.gradient) << p.name;
      }
    }
}

TEST(ParameterRoles, FlopsCountEveryGemmWeightAndNothingElse) {
  auto backend = make_cpu_backend();
  const ModelConfig c = tiny_config(GatePosition::sdpa);
  Transformer model(c, *backend);
  const int64_t C = c.hidden_size, q = c.num_attention_heads * c.head_dim,
                kv = c.num_key_value_heads * c.head_dim, gate = q,
                mlp = 3 * c.intermediate_size * C;
  const int64_t per_layer = C * (q + 2 * kv + gate) + q * C + mlp;
  const int64_t T = 16;
  const double expected =
      6.0 * static_cast<double>(c.vocab_size * C + c.num_hidden_layers * per_layer) +
      6.0 * c.num_hidden_layers * T * c.num_attention_heads * c.head_dim;
  EXPECT_DOUBLE_EQ(model.training_flops_per_token(T), expected);
}

}  // namespace
}  // namespace gatedlm
