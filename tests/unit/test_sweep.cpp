// Sweep specs (expansion, run names, error locations), the stability monitor's verdicts and the
// TensorBoard record checksum.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gatedlm/core/error.h"
#include "gatedlm/sweep/spec.h"
#include "gatedlm/train/stability.h"
#include "gatedlm/train/tensorboard.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

class SweepSpecFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("gatedlm_test_sweep_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write("base.yaml",
          "model: {hidden_size: 64, num_attention_heads: 4, head_dim: 16}\n"
          "train: {steps: 10}\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::string error_of(const std::string& spec) {
    try {
      load_sweep_spec(spec);
    } catch (const InputError& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected an InputError";
    return "";
  }

  fs::path dir_;
};

TEST_F(SweepSpecFiles, VariantsCrossTheGridAndSeeds) {
  const std::string spec = write("s.yaml",
                                 "base: base.yaml\n"
                                 "out_dir: out/here\n"
                                 "variants:\n"
                                 "  baseline: {}\n"
                                 "  g1: {model.attention_gate.position: sdpa}\n"
                                 "grid:\n"
                                 "  optimizer.lr: [1.0e-3, 4.0e-3, 1.6e-2]\n"
                                 "  train.seq_len: [32]\n"
                                 "seeds: [1, 2]\n");
  const SweepSpec s = load_sweep_spec(spec);
  ASSERT_EQ(s.runs.size(), 2u * 3u * 2u);
  EXPECT_EQ(s.out_dir, "out/here");
  EXPECT_EQ(s.runs[0].name, "baseline_lr-1.0e-3_seed-1");
  EXPECT_EQ(s.runs[1].name, "baseline_lr-1.0e-3_seed-2");
  EXPECT_EQ(s.runs[2].name, "baseline_lr-4.0e-3_seed-1");
  EXPECT_EQ(s.runs[11].name, "g1_lr-1.6e-2_seed-2");
  EXPECT_EQ(s.runs[11].dir, "out/here/g1_lr-1.6e-2_seed-2");
  const Config& c = s.runs[11].config;
  EXPECT_EQ(c.model.attention_gate.position, GatePosition::sdpa);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 1.6e-2);
  EXPECT_EQ(c.train.seq_len, 32);
  EXPECT_EQ(c.train.seed, 2u);
  EXPECT_EQ(c.model.hidden_size, 64);  // from the base
  EXPECT_EQ(s.runs[0].config.model.attention_gate.position, GatePosition::none);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"model.attention_gate.position", "sdpa"},
      {"optimizer.lr", "1.6e-2"},
      {"train.seq_len", "32"},
      {"train.seed", "2"}};
  EXPECT_EQ(s.runs[11].overrides, expected);
}

TEST_F(SweepSpecFiles, DefaultsAndCommandLineOverrides) {
  const std::string spec =
      write("plain.yaml", "base: base.yaml\ngrid: {optimizer.lr: [0.001, 0.002]}\n");
  const SweepSpec s = load_sweep_spec(spec, {"train.steps=3"});
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_EQ(s.out_dir, "runs/plain");
  EXPECT_EQ(s.runs[1].name, "lr-0.002");
  EXPECT_EQ(s.runs[1].config.train.steps, 3);
  EXPECT_EQ(load_sweep_spec(spec, {}, "elsewhere").runs[0].dir, "elsewhere/lr-0.001");
}

TEST_F(SweepSpecFiles, BadOverridesPointAtTheSpecLine) {
  EXPECT_EQ(error_of(write("a.yaml",
                           "base: base.yaml\n"
                           "variants:\n"
                           "  ok: {}\n"
                           "  bad: {model.hiden_size: 3}\n"))
                .rfind((dir_ / "a.yaml").string() + ":4:", 0),
            0u);
  const std::string type = error_of(write("b.yaml",
                                          "base: base.yaml\n"
                                          "grid:\n"
                                          "  optimizer.lr: [0.001, fast]\n"));
  EXPECT_EQ(type.rfind((dir_ / "b.yaml").string() + ":3:", 0), 0u) << type;
  EXPECT_NE(type.find("fast"), std::string::npos) << type;
  // An impossible shape from an override is a validation error at the override.
  const std::string shape = error_of(write("c.yaml",
                                           "base: base.yaml\n"
                                           "variants:\n"
                                           "  odd: {model.num_key_value_heads: 3}\n"));
  EXPECT_EQ(shape.rfind((dir_ / "c.yaml").string() + ":3:", 0), 0u) << shape;
  EXPECT_NE(error_of(write("d.yaml",
                           "base: base.yaml\nvariants: {a: {}}\ngrid: {train.seed: [1]}\n"
                           "seeds: [1]\nslurm: {nodes: many}\n"))
                .find("d.yaml:5:"),
            std::string::npos);
  EXPECT_NE(error_of(write("e.yaml", "base: base.yaml\ngrid: {optimizer.lr: 0.1}\n"))
                .find("expected a non-empty list"),
            std::string::npos);
}

TEST_F(SweepSpecFiles, ShippedSpecsExpand) {
  const std::string dir = std::string(GATEDLM_SOURCE_DIR) + "/configs/sweeps/";
  // The facts file's 20 rows, row 4 ("+4 experts") included now that MoE trains.
  EXPECT_EQ(load_sweep_spec(dir + "gating-ablation.yaml").runs.size(), 20u);
  const SweepSpec lr = load_sweep_spec(dir + "lr-stability.yaml");
  EXPECT_GE(lr.runs.size(), 10u);
  EXPECT_GE(load_sweep_spec(dir + "gating-ablation-dense-1.7b.yaml").runs.size(), 10u);
  EXPECT_GE(load_sweep_spec(dir + "gating-ablation-moe-15b.yaml").runs.size(), 10u);
  const SweepSpec staged = load_sweep_spec(dir + "length-extrapolation.yaml");
  ASSERT_EQ(staged.runs.size(), 4u);  // baseline and g1, short then long
  EXPECT_EQ(staged.runs[2].resume_from, "baseline_short");
  EXPECT_EQ(staged.runs[2].evals.size(), 8u);  // 1x..8x, plain and yarn
}

TEST_F(SweepSpecFiles, StagesRunAfterTheStageTheyContinue) {
  // Written in reverse: the expansion still puts every "first" run before the "second" ones.
  const SweepSpec spec = load_sweep_spec(write("s.yaml",
                                               "base: base.yaml\n"
                                               "out_dir: out\n"
                                               "variants: {a: {}, b: {}}\n"
                                               "stages:\n"
                                               "  second:\n"
                                               "    resume_from: first\n"
                                               "    set: {train.steps: 20, train.seq_len: 64}\n"
                                               "    evaluate:\n"
                                               "      seq_len: [64, 256]\n"
                                               "      buckets: 4\n"
                                               "      settings:\n"
                                               "        plain: {}\n"
                                               "        yarn: {model.rope_scaling: {type: yarn}}\n"
                                               "  first: {set: {train.seq_len: 32}}\n"));
  std::vector<std::string> names;
  for (const SweepRun& run : spec.runs) names.push_back(run.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a_first", "b_first", "a_second", "b_second"}));
  const SweepRun& run = spec.runs[3];
  EXPECT_EQ(run.stage, "second");
  EXPECT_EQ(run.resume_from, "b_first");
  EXPECT_EQ(run.resume_dir, "out/b_first");
  EXPECT_EQ(run.config.train.seq_len, 64);
  EXPECT_TRUE(spec.runs[1].evals.empty());
  ASSERT_EQ(run.evals.size(), 4u);
  const SweepEval& yarn = run.evals[3];
  EXPECT_EQ(yarn.file, "evals/yarn-256.json");
  EXPECT_EQ(yarn.buckets, 4);
  EXPECT_EQ(yarn.batches, 0);
  // The scaling stretches the training length to this one unless the setting says otherwise.
  EXPECT_EQ(yarn.overrides, (std::vector<std::string>{
                                "model.rope_scaling={type: yarn}", "model.rope_scaling.factor=4",
                                "model.rope_scaling.original_max_position_embeddings=64"}));
  EXPECT_TRUE(run.evals[0].overrides.empty());
  const std::vector<std::string> args = eval_arguments(run, yarn);
  EXPECT_EQ(std::vector<std::string>(args.begin(), args.begin() + 3),
            (std::vector<std::string>{"eval", "--checkpoint", "out/b_second"}));
}

TEST_F(SweepSpecFiles, BadStagesPointAtTheSpecLine) {
  const std::string head = "base: base.yaml\nstages:\n";
  const std::string unknown = error_of(write("a.yaml", head + "  x: {resume_from: y}\n"));
  EXPECT_EQ(unknown.rfind((dir_ / "a.yaml").string() + ":3:", 0), 0u) << unknown;
  EXPECT_NE(unknown.find("no stage 'y' (stages: x)"), std::string::npos) << unknown;
  const std::string self = error_of(write("b.yaml", head + "  x: {resume_from: x}\n"));
  EXPECT_NE(self.find("cycle (x -> x)"), std::string::npos) << self;
  const std::string steps =
      error_of(write("c.yaml", head + "  x: {}\n  y: {resume_from: x, set: {train.steps: 10}}\n"));
  EXPECT_EQ(steps.rfind((dir_ / "c.yaml").string() + ":4:", 0), 0u) << steps;
  EXPECT_NE(steps.find("give this stage more steps"), std::string::npos) << steps;
  const std::string key = error_of(
      write("d.yaml", head + "  x: {evaluate: {seq_len: [8], settings: {s: {train.steps: 3}}}}\n"));
  EXPECT_NE(key.find("cannot change at evaluation"), std::string::npos) << key;
  const std::string value = error_of(write(
      "e.yaml", head + "  x: {evaluate: {seq_len: [8], settings: {s: {model.rope_theta: -1}}}}\n"));
  EXPECT_EQ(value.rfind((dir_ / "e.yaml").string() + ":3:", 0), 0u) << value;
  EXPECT_NE(error_of(write("f.yaml", head + "  x: {evaluate: {buckets: 2}}\n"))
                .find("seq_len or seq_len_multiples is required"),
            std::string::npos);
}

TEST(SpikeDetector, FlagsOutliersOnlyOnceTheWindowIsFull) {
  SpikeDetector d(3.0, 10);
  for (int i = 0; i < 9; ++i) {
    EXPECT_FALSE(d.is_spike(100.0));  // the window is not full yet
    d.add(i + 1, 2.0 + 0.01 * (i % 3));
  }
  d.add(10, 2.0);
  EXPECT_TRUE(d.is_spike(3.0));
  EXPECT_FALSE(d.is_spike(2.01));
  EXPECT_FALSE(d.is_spike(1.0));  // only upward spikes
  d.forget_after(5);
  EXPECT_FALSE(d.zscore(3.0).has_value());  // 5 losses left in a window of 10
  SpikeDetector off(0.0, 2);
  off.add(1, 1.0);
  off.add(2, 1.1);
  EXPECT_FALSE(off.is_spike(1000.0));
}

TEST(StabilityMonitor, VerdictsFollowThePolicies) {
  StabilityConfig config;
  config.spike_zscore = 3.0;
  config.spike_window = 4;
  for (auto [policy, verdict] : {std::pair{SpikePolicy::none, StepVerdict::apply},
                                 {SpikePolicy::skip, StepVerdict::skip},
                                 {SpikePolicy::rollback, StepVerdict::rollback}}) {
    config.on_spike = policy;
    StabilityMonitor m(config);
    for (int s = 1; s <= 4; ++s) {
      EXPECT_EQ(m.check(s, 2.0 + 0.01 * s, 1.0).verdict, StepVerdict::apply);
      m.applied(s, 2.0 + 0.01 * s);
    }
    const StepCheck spike = m.check(5, 5.0, 1.0);
    EXPECT_EQ(spike.verdict, verdict);
    EXPECT_EQ(spike.event["event"], "spike");
    EXPECT_EQ(spike.event["step"], 5);
  }
  for (auto [policy, verdict] : {std::pair{NonFinitePolicy::skip, StepVerdict::skip},
                                 {NonFinitePolicy::rollback, StepVerdict::rollback},
                                 {NonFinitePolicy::stop, StepVerdict::stop}}) {
    config.on_nonfinite = policy;
    StabilityMonitor m(config);
    EXPECT_EQ(m.check(1, NAN, 1.0).verdict, verdict);
    EXPECT_EQ(m.check(1, 2.0, INFINITY).event["event"], "nonfinite");
  }
  StabilityMonitor m(config);
  EXPECT_EQ(m.batches_to_skip(7), 0);
  m.rolled_back(4, 7);
  m.rolled_back(4, 7);
  EXPECT_EQ(m.batches_to_skip(7), 2);
}

TEST(TensorBoard, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // CRC-32C (Castagnoli) check value
  const uint32_t crc = crc32c("", 0);
  EXPECT_EQ(masked_crc32c("", 0), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

}  // namespace
}  // namespace gatedlm
