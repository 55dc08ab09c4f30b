// What a resume changed (train/config_diff.h): every differing key, dotted, with both values,
// and the metrics.jsonl event that records them.
#include <gtest/gtest.h>

#include "gatedlm/config/loader.h"
#include "gatedlm/train/config_diff.h"

namespace gatedlm {
namespace {

std::string resolved(const std::string& overrides) {
  return config_to_yaml(load_config_text("train: {steps: 10" + overrides + "}\n", "test"));
}

TEST(ConfigDiff, SameConfigHasNoChanges) {
  EXPECT_TRUE(config_diff(resolved(""), resolved("")).empty());
}

TEST(ConfigDiff, EveryChangedKeyWithBothValues) {
  const std::string before = resolved("");
  const std::string after = config_to_yaml(
      load_config_text("train: {steps: 20}\noptimizer: {lr: 0.001, betas: [0.9, 0.99]}\n", "test"));
  const std::vector<ConfigChange> changes = config_diff(before, after);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].key, "optimizer.betas");
  EXPECT_EQ(changes[0].to, "[0.9, 0.99]");
  EXPECT_EQ(changes[1].key, "optimizer.lr");
  EXPECT_EQ(changes[1].to, "0.001");
  EXPECT_EQ(changes[2].key, "train.steps");
  EXPECT_EQ(changes[2].from, "10");
  EXPECT_EQ(changes[2].to, "20");
}

TEST(ConfigDiff, KeysOnOneSideOnlyAndUnreadableText) {
  const std::vector<ConfigChange> changes = config_diff("a: 1\nb: {c: 2}\n", "a: 1\nd: 3\n");
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].key, "b.c");
  EXPECT_EQ(changes[0].to, "(absent)");
  EXPECT_EQ(changes[1].key, "d");
  EXPECT_EQ(changes[1].from, "(absent)");
  EXPECT_TRUE(config_diff("a: [1,", "a: 1\n").empty());
}

TEST(ConfigDiff, EventLine) {
  const nlohmann::json e = config_changed_event(6, {{"optimizer.lr", "0.003", "0.001"}});
  EXPECT_EQ(e.dump(), R"({"changes":[{"from":"0.003","key":"optimizer.lr","to":"0.001"}],)"
                      R"("event":"config_changed","step":6})");
}

}  // namespace
}  // namespace gatedlm
