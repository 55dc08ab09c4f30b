// Expert parallelism's host-side pieces on hand-built cases: the exchange plan of a local
// (single-rank) group, and the whole-model layout that checkpoints hold (every expert, in the
// order an unsplit model declares them) with the cut back to one rank's experts.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "gatedlm/checkpoint/expert_slices.h"
#include "gatedlm/checkpoint/format.h"
#include "gatedlm/comm/expert_exchange.h"
#include "gatedlm/model/moe.h"
#include "gatedlm/model/shard_layout.h"
#include "temp_dir_test.h"

namespace gatedlm {
namespace {

ParamInfo info(const std::string& name, int64_t numel, int64_t expert = -1) {
  ParamInfo p;
  p.name = name;
  p.shape = {numel};
  p.spec = weight_spec(TensorSplit::replicated);
  if (expert >= 0) {
    p.spec.gradient = GradientKind::expert;
    p.spec.expert = expert;
  }
  return p;
}

TEST(ExpertExchange, LocalPlanRunsEachExpertOverItsBlock) {
  // Experts 0..3 own sorted rows [0,2), [2,2), [2,5), [5,6): one chunk per non-empty expert.
  const ExpertRoute route = ExpertExchange().plan({0, 2, 2, 5, 6});
  ASSERT_EQ(route.chunks.size(), 3u);
  EXPECT_EQ(route.chunks[1].expert, 2);
  EXPECT_EQ(route.chunks[1].begin, 2);
  EXPECT_EQ(route.chunks[1].rows, 3);
  EXPECT_EQ(route.received, 6);
  EXPECT_EQ(route.send_rows, std::vector<int64_t>{6});
}

TEST(ExpertShards, ExpertsAreWhatTheMoeLayerDeclares) {
  // Routed experts carry their global index in the spec; the router is replicated, and the
  // shared expert is an ordinary MLP (column- and row-parallel as Megatron's shared expert;
  // MoE under tensor parallelism is refused by validate_config for now).
  ModelConfig c;
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.moe.emplace();
  c.moe->num_experts = 4;
  c.moe->num_experts_per_tok = 2;
  c.moe->moe_intermediate_size = 4;
  c.moe->num_shared_experts = 1;
  ParameterSet params;
  MoeLayer layer(c, params, "model.layers.0.mlp.", ExpertExchange());
  int experts = 0;
  for (const ParamInfo& p : params.infos()) {
    if (p.routed_expert()) {
      ++experts;
      EXPECT_NE(p.name.find("experts." + std::to_string(p.spec.expert) + "."), std::string::npos)
          << p.name;
    } else {
      EXPECT_EQ(p.spec.gradient, GradientKind::local) << p.name;
      const bool shared = p.name.find("shared_expert.") != std::string::npos;
      if (!shared) EXPECT_EQ(p.spec.split, TensorSplit::replicated) << p.name;
    }
  }
  EXPECT_EQ(experts, 4 * 3);  // gate, up and down of each
}

// Rank `rank` of 2 with 2 experts per rank: its two experts of one layer, between replicated
// tensors.
std::vector<ParamInfo> rank_infos(int rank) {
  std::vector<ParamInfo> local = {
      info("l.mlp.gate.weight", 2),
      info("l.mlp.experts." + std::to_string(2 * rank) + ".w", 3, 2 * rank),
      info("l.mlp.experts." + std::to_string(2 * rank + 1) + ".w", 3, 2 * rank + 1),
      info("norm.weight", 1)};
  int64_t offset = 0;
  for (ParamInfo& p : local) {
    p.offset = offset;
    offset += p.numel();
  }
  return local;
}

TEST(ExpertShards, WholeLayoutHoldsEveryExpertInDeclarationOrder) {
  const std::vector<ParamInfo> local = rank_infos(1);
  const std::vector<ParamInfo> whole = whole_expert_infos(local, 1, 2, 2);
  std::vector<std::string> names;
  for (const ParamInfo& p : whole) names.push_back(p.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"l.mlp.gate.weight", "l.mlp.experts.0.w", "l.mlp.experts.1.w",
                                      "l.mlp.experts.2.w", "l.mlp.experts.3.w", "norm.weight"}));
  EXPECT_EQ(whole.back().offset, 2 + 4 * 3);
  // Whole values 0, 1, 2, ...: rank 1 keeps the router, experts 2 and 3 and the norm.
  std::vector<float> values(15);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  EXPECT_EQ(cut_expert_values(values, whole, local),
            (std::vector<float>{0, 1, 8, 9, 10, 11, 12, 13, 14}));
}

class ExpertCheckpointTest : public TempDirTest {
 protected:
  ExpertCheckpointTest() : TempDirTest("gatedlm_experts_") {}
};

// Each expert rank writes its own file, and reads back only the replicated tensors and its own
// experts: it resumes even when the other rank's file is gone.
TEST_F(ExpertCheckpointTest, EachRankWritesAndReadsJustItsExperts) {
  const std::vector<ParamInfo> whole = whole_expert_infos(rank_infos(0), 0, 2, 2);
  std::vector<float> values(15);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  std::vector<CheckpointState> ranks(2);
  for (int r = 0; r < 2; ++r) {
    const std::vector<ParamInfo> local = rank_infos(r);
    CheckpointState& s = ranks[static_cast<size_t>(r)];
    s.step = 5;
    s.config_yaml = "model: {}\n";
    for (const ParamInfo& p : local) s.tensors.push_back({p.name, p.shape, p.offset});
    s.params = cut_expert_values(values, whole, local);
    for (float v : s.params) {
      s.exp_avg.push_back(-v);
      s.exp_avg_sq.push_back(2 * v);
    }
    const ShardedLayout layout = expert_sharded_layout(local, r, 2, 2);
    EXPECT_EQ(layout.tensors[4].name, "l.mlp.experts.3.w");  // the same whole model on each rank
    EXPECT_EQ(layout.files[1], "model-ep01-of-02.h5");
    write_shard_file(file(layout.files[static_cast<size_t>(r)]), s.step,
                     expert_file_slots(local, layout, r),
                     {s.params.data(), s.exp_avg.data(), s.exp_avg_sq.data()}, layout, r);
    if (r == 0) write_checkpoint_file(file("model.h5"), s, &layout);
  }
  const CheckpointState all = read_checkpoint_file(file("model.h5"), &whole);
  EXPECT_EQ(all.params, values);
  for (int r = 0; r < 2; ++r) {
    const CheckpointSlices slices = expert_slices(whole, r, 2);
    const CheckpointState got = read_checkpoint_file(file("model.h5"), &whole, true, &slices);
    const CheckpointState& wrote = ranks[static_cast<size_t>(r)];
    ASSERT_EQ(got.tensors.size(), wrote.tensors.size());
    for (size_t i = 0; i < got.tensors.size(); ++i) {
      EXPECT_EQ(got.tensors[i].name, wrote.tensors[i].name);
      EXPECT_EQ(got.tensors[i].offset, wrote.tensors[i].offset);
    }
    EXPECT_EQ(got.params, wrote.params) << "rank " << r;
    EXPECT_EQ(got.exp_avg, wrote.exp_avg);
    EXPECT_EQ(got.exp_avg_sq, wrote.exp_avg_sq);
  }
  std::filesystem::remove(file("model-ep01-of-02.h5"));
  const CheckpointSlices rank0 = expert_slices(whole, 0, 2);
  EXPECT_EQ(read_checkpoint_file(file("model.h5"), &whole, true, &rank0).params, ranks[0].params);
  EXPECT_THROW(read_checkpoint_file(file("model.h5"), &whole), CheckpointCorrupt);
}

}  // namespace
}  // namespace gatedlm
