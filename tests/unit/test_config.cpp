// Config loading: presets, base inheritance, --set, round-trip, error locations, validation and
// parameter matching.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "gatedlm/config/config.h"
#include "gatedlm/config/did_you_mean.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/config/param_matching.h"
#include "gatedlm/config/schema.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

std::string source_path(const std::string& relative) {
  return std::string(GATEDLM_SOURCE_DIR) + "/" + relative;
}

// The message of the InputError `action` throws ("" and a test failure when it throws none).
std::string input_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const InputError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected an InputError";
  return "";
}

std::string text_error(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return input_error_of([&] { load_config_text(yaml, "cfg.yaml", overrides); });
}

void expect_same_settings(const Config& a, const Config& b) {
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.optimizer, b.optimizer);
  EXPECT_EQ(a.scheduler, b.scheduler);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.parallel, b.parallel);
  EXPECT_EQ(a.checkpoint, b.checkpoint);
  EXPECT_EQ(a.stability, b.stability);
}

// Parameters of the model as the interfaces define it (Qwen3 layout plus the gate).
int64_t parameter_count(const ModelConfig& m) {
  const int64_t c = m.hidden_size;
  const int64_t q = m.num_attention_heads * m.head_dim;
  const int64_t kv = m.num_key_value_heads * m.head_dim;
  int64_t layer = c * q + 2 * c * kv + q * c + 3 * c * m.intermediate_size + 2 * c;
  if (m.qk_norm) layer += 2 * m.head_dim;
  layer += extra_attention_parameters_per_layer(m);
  int64_t total = m.num_hidden_layers * layer + m.vocab_size * c + c;
  if (!m.tie_word_embeddings) total += m.vocab_size * c;
  return total;
}

// Each test gets its own scratch directory for YAML files.
class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("gatedlm_test_config_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  fs::path dir_;
};

TEST(ConfigPresets, EveryPresetLoadsAndValidates) {
  for (const char* preset :
       {"configs/models/dense-tiny.yaml", "configs/models/dense-bench.yaml",
        "configs/models/dense-1.7b-28l.yaml", "configs/models/dense-1.7b-48l.yaml",
        "configs/train/tiny-cpu.yaml", "configs/train/bench.yaml", "configs/train/1.7b.yaml"}) {
    SCOPED_TRACE(preset);
    EXPECT_NO_THROW(load_config(source_path(preset)));
  }
}

TEST(ConfigPresets, PresetsHoldTheirShapes) {
  const Config tiny = load_config(source_path("configs/models/dense-tiny.yaml"));
  EXPECT_EQ(tiny.model.hidden_size, 64);
  EXPECT_EQ(tiny.model.num_key_value_heads, 2);
  EXPECT_EQ(tiny.model.intermediate_size, 192);

  const Config cpu = load_config(source_path("configs/train/tiny-cpu.yaml"));
  EXPECT_EQ(cpu.model.hidden_size, 128);
  EXPECT_EQ(cpu.model.num_hidden_layers, 4);
  EXPECT_EQ(cpu.train.steps, 300);
  EXPECT_EQ(cpu.train.micro_batch_size, 16);
  EXPECT_DOUBLE_EQ(cpu.optimizer.lr, 3e-3);
  EXPECT_DOUBLE_EQ(cpu.scheduler.min_lr, 3e-4);
  EXPECT_EQ(cpu.scheduler.warmup_steps, 30);
  EXPECT_EQ(cpu.data.train, "data/tinyshakespeare/train-*.bin");

  const Config bench = load_config(source_path("configs/train/bench.yaml"));
  EXPECT_EQ(bench.model.vocab_size, 8192);
  EXPECT_EQ(bench.model.hidden_size, 384);
  EXPECT_EQ(bench.train.seq_len, 256);

  const Config big = load_config(source_path("configs/train/1.7b.yaml"));
  EXPECT_EQ(big.model.vocab_size, 151936);
  EXPECT_EQ(big.model.num_hidden_layers, 28);
  EXPECT_EQ(big.model.intermediate_size, 6144);
  EXPECT_EQ(big.train.seq_len, 4096);
  EXPECT_EQ(big.train.precision, Precision::fp32);

  const Config deep = load_config(source_path("configs/models/dense-1.7b-48l.yaml"));
  EXPECT_EQ(deep.model.num_hidden_layers, 48);
  EXPECT_EQ(deep.model.hidden_size, 1536);
  EXPECT_EQ(deep.model.intermediate_size, 4608);
}

TEST(ConfigPresets, DocsDescribeEveryKey) {
  std::ifstream in(source_path("docs/configs.md"));
  ASSERT_TRUE(in) << "docs/configs.md is missing";
  std::stringstream docs;
  docs << in.rdbuf();
  for (const std::string& key : all_config_keys()) {
    EXPECT_NE(docs.str().find("`" + key + "`"), std::string::npos) << key << " is undocumented";
  }
}

TEST_F(ConfigFiles, BaseChainsMergeDeeplyRelativeToEachFile) {
  write("models/root.yaml", R"(model:
  hidden_size: 64
  num_attention_heads: 4
  num_key_value_heads: 2
  head_dim: 16
  attention_gate: {position: sdpa, granularity: headwise}
optimizer:
  betas: [0.8, 0.9]
  lr: 1.0e-3
)");
  write("models/mid.yaml", R"(base: root.yaml
model:
  num_key_value_heads: 4
  attention_gate:
    activation: silu
)");
  const std::string top = write("train/top.yaml", R"(base: ../models/mid.yaml
optimizer:
  betas: [0.9, 0.99]
)");
  const Config config = load_config(top);
  EXPECT_EQ(config.source_path, top);
  EXPECT_EQ(config.model.hidden_size, 64);
  EXPECT_EQ(config.model.num_key_value_heads, 4);
  EXPECT_EQ(config.model.attention_gate.position, GatePosition::sdpa);
  EXPECT_EQ(config.model.attention_gate.granularity, GateGranularity::headwise);
  EXPECT_EQ(config.model.attention_gate.activation, GateActivation::silu);
  EXPECT_DOUBLE_EQ(config.optimizer.lr, 1e-3);
  EXPECT_DOUBLE_EQ(config.optimizer.beta1, 0.9);
  EXPECT_DOUBLE_EQ(config.optimizer.beta2, 0.99);

  // Locations name the file each key came from.
  EXPECT_EQ(config.locations.find("model.hidden_size"),
            (SourceLocation{(dir_ / "models/root.yaml").string(), 2, 16}));
  EXPECT_EQ(config.locations.find("model.num_key_value_heads").file,
            (dir_ / "models/mid.yaml").string());
  EXPECT_EQ(config.locations.find("optimizer.betas").file, top);
}

TEST_F(ConfigFiles, OverridesApplyInOrderAfterAllFiles) {
  write("base.yaml", "model:\n  hidden_size: 64\n");
  const std::string top = write("top.yaml", "base: base.yaml\nmodel:\n  hidden_size: 96\n");
  const Config config =
      load_config(top, {"model.hidden_size=128", "optimizer.betas=[0.9, 0.99]",
                        "model.hidden_size=256", "model.attention_gate.position=sdpa"});
  EXPECT_EQ(config.model.hidden_size, 256);
  EXPECT_DOUBLE_EQ(config.optimizer.beta2, 0.99);
  EXPECT_EQ(config.model.attention_gate.position, GatePosition::sdpa);
  EXPECT_EQ(config.locations.find("model.hidden_size"), (SourceLocation{"--set", 3, 19}));
}

TEST(ConfigOverrides, OptionalBlocksAppearAndDisappear) {
  const std::string moe_yaml = R"(model:
  moe: {num_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 32}
)";
  EXPECT_FALSE(load_config_text(moe_yaml, "cfg.yaml", {"model.moe=null"}).model.moe.has_value());

  const Config grown = load_config_text(moe_yaml, "cfg.yaml", {"model.moe.num_experts=16"});
  ASSERT_TRUE(grown.model.moe.has_value());
  EXPECT_EQ(grown.model.moe->num_experts, 16);
  EXPECT_EQ(grown.model.moe->num_experts_per_tok, 2);

  const Config created =
      load_config_text("", "cfg.yaml",
                       {"model.rope_scaling.type=yarn", "model.rope_scaling.factor=4",
                        "model.rope_scaling.original_max_position_embeddings=256"});
  ASSERT_TRUE(created.model.rope_scaling.has_value());
  EXPECT_EQ(created.model.rope_scaling->type, "yarn");
  EXPECT_DOUBLE_EQ(created.model.rope_scaling->factor, 4.0);
  EXPECT_DOUBLE_EQ(created.model.rope_scaling->beta_fast, 32.0);
}

TEST(ConfigOverrides, AliasedValuesStayIndependent) {
  const Config config =
      load_config_text("model:\n  hidden_size: &width 64\n  intermediate_size: *width\n",
                       "cfg.yaml", {"model.hidden_size=128"});
  EXPECT_EQ(config.model.hidden_size, 128);
  EXPECT_EQ(config.model.intermediate_size, 64);
}

TEST(ConfigOverrides, GlobsAndEmptyValuesAreStrings) {
  const Config config =
      load_config_text("", "cfg.yaml", {"data.train=*.bin", "data.val=", "train.seed=7"});
  EXPECT_EQ(config.data.train, "*.bin");
  EXPECT_EQ(config.data.val, "");
  EXPECT_EQ(config.train.seed, 7u);
}

TEST_F(ConfigFiles, DataPathsStayAsWritten) {
  const std::string path =
      write("sub/run.yaml", "data:\n  train: shards/train-*.bin\n  val: /abs/val.bin\n");
  const Config config = load_config(path);
  EXPECT_EQ(config.data.train, "shards/train-*.bin");  // relative to the working directory
  EXPECT_EQ(config.data.val, "/abs/val.bin");
}

TEST(ConfigRoundTrip, ResolvedYamlReloadsToTheSameConfig) {
  const Config original = load_config(
      source_path("configs/train/tiny-cpu.yaml"),
      {"model.attention_gate={position: query, granularity: headwise, sharing: head_shared, "
       "activation: ns_sigmoid, input_dependent: false, qk_gate_point: pre_norm, "
       "shared_average: logits}",
       "model.rope_scaling={type: yarn, factor: 4, original_max_position_embeddings: 256}",
       "model.moe={num_experts: 4, num_experts_per_tok: 2, moe_intermediate_size: 48, "
       "aux_loss_scope: micro_batch, router_aux_loss_coef: 0.001}",
       "model.sdpa_output_transform=rmsnorm", "optimizer.lr=0.30000000000000004",
       "optimizer.eps=1e-300", "scheduler.min_lr=1.2345678901234567e-5",
       "train.seed=18446744073709551615", "scheduler.type=wsd", "stability.on_spike=rollback",
       "data.val=\"odd \\\"quoted\\\" path\"", "train.max_grad_norm=-.inf"});
  const std::string yaml = config_to_yaml(original);
  const Config reloaded = load_config_text(yaml, "config.yaml");
  expect_same_settings(original, reloaded);
  EXPECT_EQ(config_to_yaml(reloaded), yaml);
  EXPECT_NE(yaml.find("  moe:\n    num_experts: 4\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("val: \"odd \\\"quoted\\\" path\""), std::string::npos) << yaml;
}

TEST(ConfigRoundTrip, AbsentBlocksAreWrittenAsNull) {
  const std::string yaml = config_to_yaml(load_config_text("", "cfg.yaml"));
  EXPECT_NE(yaml.find("  rope_scaling: null\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  moe: null\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  betas: [0.9, 0.95]\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  rms_norm_eps: 1.0e-06\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  position: none\n"), std::string::npos) << yaml;
}

TEST_F(ConfigFiles, UnknownKeyNamesFileLineColumnAndSuggests) {
  const std::string path = write("bad.yaml", "model:\n  hidden_size: 64\n  hiden_size: 64\n");
  EXPECT_EQ(input_error_of([&] { load_config(path); }),
            path + ":3:3: unknown key 'hiden_size' in model; did you mean 'hidden_size'?");
}

TEST_F(ConfigFiles, ErrorsInABasePointIntoTheBase) {
  const std::string base = write("base.yaml", "train:\n  steps: 10\n  seqlen: 64\n");
  const std::string top = write("top.yaml", "base: base.yaml\ntrain:\n  steps: 20\n");
  EXPECT_EQ(input_error_of([&] { load_config(top); }),
            base + ":3:3: unknown key 'seqlen' in train; did you mean 'seq_len'?");
}

TEST(ConfigErrors, UnknownKeysElsewhereAndWithoutSuggestion) {
  EXPECT_EQ(text_error("modle:\n  hidden_size: 3\n"),
            "cfg.yaml:1:1: unknown key 'modle' at the top level; did you mean 'model'?");
  EXPECT_EQ(text_error("train:\n  lr: 0.1\n"),
            "cfg.yaml:2:3: unknown key 'lr' in train; did you mean 'optimizer.lr'?");
  EXPECT_EQ(text_error("train:\n  type: adamw\n"), "cfg.yaml:2:3: unknown key 'type' in train");
  EXPECT_EQ(text_error("model:\n  attention_gate:\n    flavour: 1\n"),
            "cfg.yaml:3:5: unknown key 'flavour' in model.attention_gate");
  EXPECT_EQ(text_error("model:\n  a: 1\n  a: 2\n"),
            "cfg.yaml:3:3: duplicate key 'a' (first written at 2:3)");
}

TEST(ConfigErrors, WrongTypesPointAtTheValue) {
  EXPECT_EQ(text_error("model:\n  num_hidden_layers: two\n"),
            "cfg.yaml:2:22: model.num_hidden_layers: expected an integer, got 'two'");
  EXPECT_EQ(text_error("model:\n  hidden_size: 64.5\n"),
            "cfg.yaml:2:16: model.hidden_size: expected an integer, got '64.5'");
  EXPECT_EQ(text_error("model:\n  hidden_size: \"64\"\n"),
            "cfg.yaml:2:16: model.hidden_size: expected an integer, got the string \"64\"");
  EXPECT_EQ(text_error("model:\n  qk_norm: yes\n"),
            "cfg.yaml:2:12: model.qk_norm: expected true or false, got 'yes'");
  EXPECT_EQ(text_error("optimizer:\n  lr: fast\n"),
            "cfg.yaml:2:7: optimizer.lr: expected a number, got 'fast'");
  EXPECT_EQ(text_error("optimizer:\n  betas: [0.9]\n"),
            "cfg.yaml:2:10: optimizer.betas: expected a list of two numbers, got a list");
  EXPECT_EQ(text_error("optimizer:\n  betas: [0.9, high]\n"),
            "cfg.yaml:2:16: optimizer.betas: expected a number, got 'high'");
  EXPECT_EQ(text_error("model: 3\n"), "cfg.yaml:1:8: model: expected a map of keys, got '3'");
  EXPECT_EQ(text_error("model:\n  moe: 3\n"),
            "cfg.yaml:2:8: model.moe: expected null or a map of keys, got '3'");
  EXPECT_EQ(text_error("model:\n  hidden_size: 99999999999999999999\n"),
            "cfg.yaml:2:16: model.hidden_size: integer out of range");
}

TEST(ConfigErrors, BadEnumListsTheAllowedValues) {
  EXPECT_EQ(text_error("model:\n  attention_gate:\n    position: G1\n"),
            "cfg.yaml:3:15: model.attention_gate.position: unknown value 'G1'; expected one of "
            "none, sdpa, value, key, query, dense");
  EXPECT_EQ(text_error("scheduler:\n  type: cosin\n"),
            "cfg.yaml:2:9: scheduler.type: unknown value 'cosin'; expected one of cosine, linear, "
            "wsd, constant");
  EXPECT_EQ(text_error("optimizer:\n  type: sgd\n"),
            "cfg.yaml:2:9: optimizer.type: unknown value 'sgd'; expected one of adamw");
}

TEST(ConfigErrors, MalformedYamlIsLocated) {
  EXPECT_EQ(text_error("model:\n  hidden_size: 64\n    vocab_size: 3\n"),
            "cfg.yaml:3:15: invalid YAML: illegal map value");
  EXPECT_EQ(text_error("- 1\n- 2\n"),
            "cfg.yaml:1:1: expected a map of sections (model:, train:, ...) at the top level");
}

TEST_F(ConfigFiles, MissingFilesAndCyclesAreErrors) {
  const std::string missing = (dir_ / "nope.yaml").string();
  EXPECT_EQ(input_error_of([&] { load_config(missing); }), missing + ": cannot open config file");

  const std::string orphan = write("orphan.yaml", "base: gone.yaml\n");
  EXPECT_EQ(input_error_of([&] { load_config(orphan); }),
            orphan + ":1:7: base: cannot open '" + (dir_ / "gone.yaml").string() + "'");

  write("a.yaml", "base: b.yaml\n");
  const std::string b = write("b.yaml", "base: a.yaml\n");
  const std::string message = input_error_of([&] { load_config((dir_ / "a.yaml").string()); });
  EXPECT_EQ(message.rfind(b + ":1:7: base: the chain of bases is a cycle: ", 0), 0u) << message;
}

TEST(ConfigErrors, OverrideErrorsPointIntoTheArgument) {
  EXPECT_EQ(text_error("", {"train.steps=10", "model.hiden_size=3"}),
            "--set:2:7: unknown key 'hiden_size' in model; did you mean 'hidden_size'?");
  EXPECT_EQ(text_error("", {"modle.hidden_size=3"}),
            "--set:1:1: unknown key 'modle' at the top level; did you mean 'model'?");
  EXPECT_EQ(text_error("", {"model.hidden_size=abc"}),
            "--set:1:19: model.hidden_size: expected an integer, got 'abc'");
  EXPECT_EQ(text_error("", {"model.attention_gate.position=G9"}),
            "--set:1:31: model.attention_gate.position: unknown value 'G9'; expected one of none, "
            "sdpa, value, key, query, dense");
  EXPECT_EQ(text_error("", {"optimizer.betas=[0.9, x]"}),
            "--set:1:23: optimizer.betas: expected a number, got 'x'");
  EXPECT_EQ(text_error("", {"model.hidden_size"}),
            "--set:1:1: expected key.path=value, got 'model.hidden_size' (there is no '=')");
  EXPECT_EQ(text_error("", {"model..hidden_size=3"}),
            "--set:1:7: empty key name in 'model..hidden_size'");
  EXPECT_EQ(text_error("model:\n  hidden_size: 64\n", {"model.hidden_size.x=3"}),
            "--set:1:7: 'model.hidden_size' is a value, not a section, so it has no key 'x'");
  EXPECT_EQ(text_error("", {"model.hidden_size.x=3"}),
            "--set:1:7: model.hidden_size: expected a single value, got a map");
  EXPECT_EQ(text_error("", {"optimizer.betas=[0.9"}).rfind("--set:1:", 0), 0u);
  EXPECT_EQ(text_error("", {"base=x.yaml"}),
            "--set:1:1: base can only be set in a config file, not with --set");
  // A value that passes type checks but not validation still points at the argument.
  EXPECT_EQ(text_error("", {"model.num_hidden_layers=0"}),
            "--set:1:25: model.num_hidden_layers must be at least 1, got 0");
}

TEST(ConfigValidation, ImpossibleShapesAreRejectedAtTheirKey) {
  EXPECT_EQ(text_error("model:\n  num_attention_heads: 6\n  num_key_value_heads: 4\n"),
            "cfg.yaml:3:24: model.num_attention_heads (6) must be divisible by "
            "model.num_key_value_heads (4)");
  EXPECT_EQ(text_error("model:\n  hidden_size: 0\n"),
            "cfg.yaml:2:16: model.hidden_size must be at least 1, got 0");
  EXPECT_EQ(text_error("train:\n  seq_len: -5\n"),
            "cfg.yaml:2:12: train.seq_len must be at least 1, got -5");
  EXPECT_EQ(text_error("model:\n  head_dim: 15\n"),
            "cfg.yaml:2:13: model.head_dim must be even (RoPE rotates pairs of dims), got 15");
  EXPECT_EQ(text_error("optimizer:\n  lr: 0\n"),
            "cfg.yaml:2:7: optimizer.lr must be a positive number, got 0");
  EXPECT_EQ(text_error("optimizer:\n  betas: [0.9, 1.0]\n"),
            "cfg.yaml:2:10: optimizer.betas must lie in [0, 1), got 1");
  EXPECT_EQ(text_error("optimizer:\n  lr: 1.0e-3\nscheduler:\n  min_lr: 1.0e-2\n"),
            "cfg.yaml:4:11: scheduler.min_lr (0.01) cannot exceed optimizer.lr (0.001)");
  EXPECT_EQ(text_error("scheduler:\n  warmup_steps: -1\n"),
            "cfg.yaml:2:17: scheduler.warmup_steps must be at least 0, got -1");
  EXPECT_EQ(text_error("optimizer:\n  weight_decay: -0.1\n"),
            "cfg.yaml:2:17: optimizer.weight_decay must be a non-negative number, got -0.1");
  EXPECT_EQ(text_error("train:\n  peak_tflops: -1\n"),
            "cfg.yaml:2:16: train.peak_tflops must be a non-negative number, got -1");
  EXPECT_EQ(
      text_error("parallel:\n  tensor: 3\n"),
      "cfg.yaml:2:11: model.num_attention_heads (4) must be divisible by parallel.tensor (3)");
  EXPECT_EQ(text_error("model:\n  vocab_size: 255\nparallel:\n  tensor: 2\n"),
            "cfg.yaml:4:11: model.vocab_size (255) must be divisible by parallel.tensor (2) to "
            "split the embedding and LM head by vocabulary rows; pad the vocabulary or set "
            "parallel.vocab_parallel: false to replicate them");
  EXPECT_NO_THROW(load_config_text(
      "model:\n  vocab_size: 255\nparallel:\n  tensor: 2\n  vocab_parallel: false\n", "cfg.yaml"));
  EXPECT_EQ(text_error("parallel:\n  expert: 0\n"),
            "cfg.yaml:2:11: parallel.expert must be at least 1, got 0");
  // A key nobody wrote falls back to its section, then to the file.
  EXPECT_EQ(text_error("model:\n  num_key_value_heads: 3\n"),
            "cfg.yaml:2:24: model.num_attention_heads (4) must be divisible by "
            "model.num_key_value_heads (3)");
  EXPECT_EQ(text_error("", {"model.num_key_value_heads=3"}),
            "--set:1:27: model.num_attention_heads (4) must be divisible by "
            "model.num_key_value_heads (3)");
}

TEST(ConfigValidation, GateCombinations) {
  EXPECT_EQ(text_error("model:\n  attention_gate: {position: sdpa, combine: add}\n"),
            "cfg.yaml:2:45: model.attention_gate.combine: add needs activation silu or identity "
            "(Y + SiLU(XW) or Y + XW), got activation sigmoid");
  EXPECT_NO_THROW(load_config_text(
      "model:\n  attention_gate: {position: sdpa, combine: add, activation: silu}\n", "cfg.yaml"));
  EXPECT_NO_THROW(load_config_text(
      "model:\n  attention_gate: {position: sdpa, combine: add, activation: identity}\n",
      "cfg.yaml"));
  // Without a gate the other gate fields are ignored.
  EXPECT_NO_THROW(load_config_text(
      "model:\n  attention_gate: {position: none, combine: add, granularity: headwise}\n",
      "cfg.yaml"));
  EXPECT_EQ(text_error("", {"model.attention_gate.position=dense",
                            "model.attention_gate.granularity=headwise"}),
            "--set:2:34: model.attention_gate.position: dense gates the W_o output, which has no "
            "heads; it needs granularity elementwise");
  EXPECT_EQ(text_error("", {"model.attention_gate.position=dense",
                            "model.attention_gate.sharing=head_shared"})
                .rfind("--set:2:30: ", 0),
            0u);
}

TEST(ConfigValidation, MoeBounds) {
  const std::string moe =
      "model:\n  moe: {num_experts: 4, num_experts_per_tok: 5, "
      "moe_intermediate_size: 8}\n";
  EXPECT_EQ(text_error(moe),
            "cfg.yaml:2:46: model.moe.num_experts_per_tok (5) cannot exceed "
            "model.moe.num_experts (4)");
  EXPECT_EQ(text_error(moe, {"model.moe.num_experts_per_tok=2", "model.moe.capacity_factor=-1"}),
            "--set:2:27: model.moe.capacity_factor must be a non-negative number, got -1");
  EXPECT_EQ(text_error(moe, {"model.moe.num_experts_per_tok=2", "model.moe.aux_loss_scope=batch"}),
            "--set:2:26: model.moe.aux_loss_scope: unknown value 'batch'; expected one of "
            "micro_batch, global_batch");
  EXPECT_EQ(text_error(moe, {"model.moe.num_experts_per_tok=0"}),
            "--set:1:31: model.moe.num_experts_per_tok must be at least 1, got 0");
  EXPECT_EQ(text_error("model:\n  moe: {}\n"),
            "cfg.yaml:2:3: model.moe.num_experts must be at least 1, got 0");
}

TEST(ConfigValidation, CodeBuiltConfigsNameTheGivenPlace) {
  Config config;
  config.model.num_key_value_heads = 3;
  EXPECT_EQ(input_error_of([&] { validate_config(config, "my-sweep"); }),
            "my-sweep: model.num_attention_heads (4) must be divisible by "
            "model.num_key_value_heads (3)");
}

TEST(ConfigParamMatching, G1ElementwiseOnDenseBenchMatchesWithinOnePercent) {
  const std::string bench = source_path("configs/models/dense-bench.yaml");
  const Config ungated = load_config(bench);
  const Config gated = load_config(
      bench, {"model.attention_gate.position=sdpa", "model.attention_gate.granularity=elementwise",
              "model.match_params_of_ungated=true"});
  EXPECT_FALSE(gated.model.match_params_of_ungated);
  EXPECT_LT(gated.model.intermediate_size, ungated.model.intermediate_size);
  // G1 elementwise: hidden * heads * head_dim per layer = 384 * 384; 3 * 384 per MLP unit.
  EXPECT_EQ(gated.model.intermediate_size, 1536 - 128);
  const double before = static_cast<double>(parameter_count(ungated.model));
  const double after = static_cast<double>(parameter_count(gated.model));
  EXPECT_LT(std::abs(after - before) / before, 0.01);

  // The resolved config reloads to the same (already narrowed) model.
  const Config reloaded = load_config_text(config_to_yaml(gated), "resolved.yaml");
  EXPECT_EQ(reloaded.model, gated.model);
}

TEST(ConfigParamMatching, GateWidths) {
  ModelConfig model;  // 4 heads, 4 KV heads, head_dim 32, hidden 128
  model.num_key_value_heads = 2;
  model.attention_gate.position = GatePosition::sdpa;
  EXPECT_EQ(attention_gate_width(model), 4 * 32);
  model.attention_gate.granularity = GateGranularity::headwise;
  EXPECT_EQ(attention_gate_width(model), 4);
  model.attention_gate.position = GatePosition::value;
  EXPECT_EQ(attention_gate_width(model), 2);
  model.attention_gate.granularity = GateGranularity::elementwise;
  EXPECT_EQ(attention_gate_width(model), 2 * 32);
  EXPECT_EQ(extra_attention_parameters_per_layer(model), 128 * 2 * 32);
  model.attention_gate.input_dependent = false;
  EXPECT_EQ(extra_attention_parameters_per_layer(model), 2 * 32);
  model.attention_gate.position = GatePosition::dense;
  EXPECT_EQ(attention_gate_width(model), 128);
  model.attention_gate.position = GatePosition::none;
  model.sdpa_output_transform = SdpaOutputTransform::rmsnorm;
  EXPECT_EQ(extra_attention_parameters_per_layer(model), 32);
}

TEST(ConfigParamMatching, RefusesWhenTheMlpWouldVanish) {
  EXPECT_EQ(text_error("model:\n  intermediate_size: 8\n  match_params_of_ungated: true\n",
                       {"model.attention_gate.position=dense"}),
            "cfg.yaml:3:28: model.match_params_of_ungated: the gate adds 16384 parameters per "
            "layer, more than the MLP's 3072; it cannot be matched by narrowing intermediate_size");
}

TEST(ConfigSuggestions, EditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("LR", "lr"), 0u);
  EXPECT_EQ(closest_name("wramup_steps", {"warmup_steps", "min_lr"}), "warmup_steps");
  EXPECT_EQ(closest_name("x", {"lr"}), std::nullopt);
}

}  // namespace
}  // namespace gatedlm
