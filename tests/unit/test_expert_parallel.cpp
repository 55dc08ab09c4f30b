// Expert parallelism's host-side pieces on hand-built cases: the exchange plan of a local
// (single-rank) group, and the whole-model layout that checkpoints hold (every expert, in the
// order an unsplit model declares them) with the cut back to one rank's experts.
#include <gtest/gtest.h>

#include <vector>

#include "gatedlm/dist/expert_exchange.h"
#include "gatedlm/dist/expert_shards.h"

namespace gatedlm {
namespace {

ParamInfo info(const std::string& name, int64_t numel) {
  ParamInfo p;
  p.name = name;
  p.shape = {numel};
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

TEST(ExpertShards, RoutedExpertIndexReadsTheName) {
  EXPECT_EQ(routed_expert_index("model.layers.1.mlp.experts.12.down_proj.weight"), 12);
  EXPECT_EQ(routed_expert_index("model.layers.1.mlp.shared_expert.up_proj.weight"), -1);
  EXPECT_EQ(routed_expert_index("model.layers.1.mlp.gate.weight"), -1);
}

TEST(ExpertShards, WholeLayoutHoldsEveryExpertInDeclarationOrder) {
  // Rank 1 of 2 with 2 experts per rank: experts 2 and 3 of one layer, between replicated tensors.
  std::vector<ParamInfo> local = {info("l.mlp.gate.weight", 2), info("l.mlp.experts.2.w", 3),
                                  info("l.mlp.experts.3.w", 3), info("norm.weight", 1)};
  int64_t offset = 0;
  for (ParamInfo& p : local) {
    p.offset = offset;
    offset += p.numel();
  }
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

}  // namespace
}  // namespace gatedlm
