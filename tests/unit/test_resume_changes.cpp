// Resuming with a new rope_theta, rope_scaling or seq_len (train/resume_changes.h): each change
// is reported, and the loaders' window positions are rescaled to the new length.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gatedlm/config/loader.h"
#include "gatedlm/train/resume_changes.h"

namespace gatedlm {
namespace {

Config config(int64_t seq_len, double theta, const std::string& extra = "") {
  return load_config_text(
      "model: {hidden_size: 64, num_attention_heads: 4, head_dim: 16, "
      "rope_theta: " +
          std::to_string(theta) + extra +
          "}\ntrain: {steps: 10, seq_len: " + std::to_string(seq_len) + "}\n",
      "test");
}

CheckpointState saved_at(const Config& written_with, int64_t train_cursor, int64_t val_cursor) {
  CheckpointState state;
  state.config_yaml = config_to_yaml(written_with);
  LoaderState train, val;
  train.cursor = train_cursor;
  train.epoch = 2;
  val.cursor = val_cursor;
  state.loaders = {{"train", train}, {"val", val}};
  return state;
}

TEST(ResumeChanges, NothingChangedLeavesTheStateAlone) {
  CheckpointState state = saved_at(config(32, 10000), 301, 7);
  EXPECT_TRUE(apply_resume_changes(state, config(32, 10000)).empty());
  EXPECT_EQ(state.loaders[0].second.cursor, 301);
  EXPECT_EQ(state.loaders[1].second.cursor, 7);
}

TEST(ResumeChanges, ThetaAndSeqLenAreReportedAndPositionsRescaled) {
  CheckpointState state = saved_at(config(32, 10000), 301, 7);
  const std::vector<std::string> changes = apply_resume_changes(state, config(64, 100000));
  EXPECT_EQ(changes, (std::vector<std::string>{"model.rope_theta 10000 -> 100000",
                                               "train.seq_len 32 -> 64"}));
  // Window 301 of 32 tokens starts at token 9632: window 150 of 64 tokens holds it.
  EXPECT_EQ(state.loaders[0].second.cursor, 150);
  EXPECT_EQ(state.loaders[0].second.epoch, 2);
  EXPECT_EQ(state.loaders[1].second.cursor, 3);
}

TEST(ResumeChanges, RopeScalingIsReported) {
  CheckpointState state = saved_at(config(32, 10000), 0, 0);
  const std::vector<std::string> changes = apply_resume_changes(
      state,
      config(32, 10000,
             ", rope_scaling: {type: yarn, factor: 4, original_max_position_embeddings: 32}"));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0],
            "model.rope_scaling none -> {type: yarn, factor: 4, original_max_position_embeddings: "
            "32}");
}

}  // namespace
}  // namespace gatedlm
