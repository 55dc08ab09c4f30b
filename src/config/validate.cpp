// validate_config: shapes and combinations that no model or run can have.
#include <cmath>
#include <cstdio>
#include <string>

#include "gatedlm/config/enum_names.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/config/size_limits.h"
#include "gatedlm/core/error.h"

namespace gatedlm {

namespace {

std::string number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

// Throws at the YAML position of the key a check is about.
class Checker {
 public:
  Checker(const Config& config, const std::string& where) : config_(config), where_(where) {}

  [[noreturn]] void fail(std::string_view key, const std::string& message) const {
    SourceLocation location = config_.locations.find(key);
    if (location.file.empty()) location.file = where_;
    throw InputError(located(location.file, location.line, location.col, message));
  }

  void at_least(std::string_view key, int64_t value, int64_t minimum) const {
    if (value < minimum) {
      fail(key, std::string(key) + " must be at least " + std::to_string(minimum) + ", got " +
                    std::to_string(value));
    }
  }

  void positive(std::string_view key, double value) const {
    if (!(value > 0.0) || std::isinf(value)) {
      fail(key, std::string(key) + " must be a positive number, got " + number(value));
    }
  }

  void non_negative(std::string_view key, double value) const {
    if (!(value >= 0.0) || std::isinf(value)) {
      fail(key, std::string(key) + " must be a non-negative number, got " + number(value));
    }
  }

  void in_unit_interval(std::string_view key, double value, bool include_one) const {
    const bool ok = value >= 0.0 && (include_one ? value <= 1.0 : value < 1.0);
    if (!ok) {
      fail(key, std::string(key) + " must lie in [0, 1" + (include_one ? "]" : ")") + ", got " +
                    number(value));
    }
  }

  void divisible(std::string_view numerator_key, int64_t numerator, std::string_view key,
                 int64_t denominator) const {
    if (numerator % denominator != 0) {
      fail(key, std::string(numerator_key) + " (" + std::to_string(numerator) +
                    ") must be divisible by " + std::string(key) + " (" +
                    std::to_string(denominator) + ")");
    }
  }

 private:
  const Config& config_;
  const std::string& where_;
};

void validate_model(const ModelConfig& model, const ParallelConfig& parallel,
                    const Checker& check) {
  check.at_least("model.vocab_size", model.vocab_size, 1);
  check.at_least("model.hidden_size", model.hidden_size, 1);
  check.at_least("model.num_hidden_layers", model.num_hidden_layers, 1);
  check.at_least("model.num_attention_heads", model.num_attention_heads, 1);
  check.at_least("model.num_key_value_heads", model.num_key_value_heads, 1);
  check.at_least("model.head_dim", model.head_dim, 1);
  check.at_least("model.intermediate_size", model.intermediate_size, 1);
  check.divisible("model.num_attention_heads", model.num_attention_heads,
                  "model.num_key_value_heads", model.num_key_value_heads);
  if (model.head_dim % 2 != 0) {
    check.fail("model.head_dim", "model.head_dim must be even (RoPE rotates pairs of dims), got " +
                                     std::to_string(model.head_dim));
  }
  check.positive("model.rms_norm_eps", model.rms_norm_eps);
  check.positive("model.rope_theta", model.rope_theta);
  check.non_negative("model.initializer_range", model.initializer_range);

  if (model.rope_scaling) {
    const RopeScalingConfig& rope = *model.rope_scaling;
    if (rope.type.empty()) {
      check.fail("model.rope_scaling",
                 "model.rope_scaling.type is required (yarn, linear or dynamic) when "
                 "rope_scaling is not null");
    }
    check.positive("model.rope_scaling.factor", rope.factor);
    check.at_least("model.rope_scaling.original_max_position_embeddings",
                   rope.original_max_position_embeddings, rope.type == "yarn" ? 1 : 0);
    check.positive("model.rope_scaling.beta_fast", rope.beta_fast);
    check.positive("model.rope_scaling.beta_slow", rope.beta_slow);
  }

  const AttentionGateConfig& gate = model.attention_gate;
  if (gate.position != GatePosition::none) {
    if (gate.combine == GateCombine::add && gate.activation != GateActivation::silu &&
        gate.activation != GateActivation::identity) {
      check.fail("model.attention_gate.combine",
                 "model.attention_gate.combine: add needs activation silu or identity "
                 "(Y + SiLU(XW) or Y + XW), got activation " +
                     std::string(enum_name(gate.activation)));
    }
    if (gate.position == GatePosition::dense) {
      if (gate.granularity != GateGranularity::elementwise) {
        check.fail("model.attention_gate.granularity",
                   "model.attention_gate.position: dense gates the W_o output, which has no "
                   "heads; it needs granularity elementwise");
      }
      if (gate.sharing != GateSharing::head_specific) {
        check.fail("model.attention_gate.sharing",
                   "model.attention_gate.position: dense gates the W_o output, which has no "
                   "heads; it needs sharing head_specific");
      }
    }
  }

  if (model.moe) {
    const MoeConfig& moe = *model.moe;
    check.at_least("model.moe.num_experts", moe.num_experts, 1);
    check.at_least("model.moe.num_experts_per_tok", moe.num_experts_per_tok, 1);
    if (moe.num_experts_per_tok > moe.num_experts) {
      check.fail("model.moe.num_experts_per_tok", "model.moe.num_experts_per_tok (" +
                                                      std::to_string(moe.num_experts_per_tok) +
                                                      ") cannot exceed model.moe.num_experts (" +
                                                      std::to_string(moe.num_experts) + ")");
    }
    check.at_least("model.moe.moe_intermediate_size", moe.moe_intermediate_size, 1);
    check.at_least("model.moe.num_shared_experts", moe.num_shared_experts, 0);
    check.non_negative("model.moe.router_aux_loss_coef", moe.router_aux_loss_coef);
    check.non_negative("model.moe.router_z_loss_coef", moe.router_z_loss_coef);
    if (moe.aux_loss_scope != "micro_batch" && moe.aux_loss_scope != "global_batch") {
      check.fail("model.moe.aux_loss_scope",
                 "model.moe.aux_loss_scope must be micro_batch or global_batch, got '" +
                     moe.aux_loss_scope + "'");
    }
    check.non_negative("model.moe.capacity_factor", moe.capacity_factor);
    check.at_least("model.moe.first_k_dense_replace", moe.first_k_dense_replace, 0);
    if (moe.first_k_dense_replace > model.num_hidden_layers) {
      check.fail("model.moe.first_k_dense_replace",
                 "model.moe.first_k_dense_replace (" + std::to_string(moe.first_k_dense_replace) +
                     ") cannot exceed model.num_hidden_layers (" +
                     std::to_string(model.num_hidden_layers) + ")");
    }
    check.at_least("model.moe.decoder_sparse_step", moe.decoder_sparse_step, 1);
    if (parallel.expert >= 1) {
      check.divisible("model.moe.num_experts", moe.num_experts, "parallel.expert", parallel.expert);
    }
    if (model.match_params_of_ungated) {
      check.fail("model.match_params_of_ungated",
                 "model.match_params_of_ungated narrows the dense MLP; it does not apply to an "
                 "MoE model (model.moe is set)");
    }
  }
}

}  // namespace

void validate_config(const Config& config, const std::string& where) {
  const Checker check(config, where);
  validate_model(config.model, config.parallel, check);

  const TrainConfig& train = config.train;
  check.at_least("train.steps", train.steps, 1);
  check.at_least("train.seq_len", train.seq_len, 1);
  check.at_least("train.micro_batch_size", train.micro_batch_size, 1);
  check.at_least("train.grad_accum_steps", train.grad_accum_steps, 1);
  // Parsed, but not implemented yet: refused rather than silently trained in fp32
  // (docs/configs.md).
  if (train.precision != Precision::fp32) {
    check.fail("train.precision",
               "train.precision: " + std::string(enum_name(train.precision)) +
                   " is not implemented yet (mixed precision is planned); use fp32");
  }
  if (std::isnan(train.max_grad_norm)) {
    check.fail("train.max_grad_norm",
               "train.max_grad_norm must be a number (<= 0 disables clipping)");
  }
  check.at_least("train.log_interval", train.log_interval, 1);
  check.non_negative("train.peak_tflops", train.peak_tflops);
  check.at_least("train.eval_interval", train.eval_interval, 0);
  check.at_least("train.eval_batches", train.eval_batches, 1);
  check.at_least("train.analyze_interval", train.analyze_interval, 0);
  check.at_least("train.sample_interval", train.sample_interval, 0);
  if (train.sample_interval > 0 && config.data.tokenizer.empty()) {
    check.fail("train.sample_interval",
               "train.sample_interval needs data.tokenizer (the tokenizer the shards were "
               "prepared with)");
  }
  check.at_least("data.bos_token_id", config.data.bos_token_id, -1);
  if (config.data.bos_token_id >= config.model.vocab_size) {
    check.fail("data.bos_token_id", "data.bos_token_id (" +
                                        std::to_string(config.data.bos_token_id) +
                                        ") must be below model.vocab_size (" +
                                        std::to_string(config.model.vocab_size) + ")");
  }

  const OptimizerConfig& optimizer = config.optimizer;
  if (optimizer.type != "adamw") {
    check.fail("optimizer.type", "optimizer.type must be adamw, got '" + optimizer.type + "'");
  }
  check.positive("optimizer.lr", optimizer.lr);
  check.in_unit_interval("optimizer.betas", optimizer.beta1, false);
  check.in_unit_interval("optimizer.betas", optimizer.beta2, false);
  check.positive("optimizer.eps", optimizer.eps);
  check.non_negative("optimizer.weight_decay", optimizer.weight_decay);

  const SchedulerConfig& scheduler = config.scheduler;
  check.at_least("scheduler.warmup_steps", scheduler.warmup_steps, 0);
  check.non_negative("scheduler.min_lr", scheduler.min_lr);
  if (scheduler.min_lr > optimizer.lr) {
    check.fail("scheduler.min_lr", "scheduler.min_lr (" + number(scheduler.min_lr) +
                                       ") cannot exceed optimizer.lr (" + number(optimizer.lr) +
                                       ")");
  }
  check.in_unit_interval("scheduler.decay_fraction", scheduler.decay_fraction, true);

  const ParallelConfig& parallel = config.parallel;
  check.at_least("parallel.tensor", parallel.tensor, 1);
  check.at_least("parallel.expert", parallel.expert, 1);
  check.at_least("parallel.grad_bucket_size", parallel.grad_bucket_size, 1);
  if (parallel.zero != 0 && parallel.zero != 1) {
    check.fail("parallel.zero",
               "parallel.zero must be 0 (off) or 1 (shard the optimizer state), got " +
                   std::to_string(parallel.zero));
  }
  check.divisible("model.num_attention_heads", config.model.num_attention_heads, "parallel.tensor",
                  parallel.tensor);
  // Tensor parallelism splits KV heads and the MLP width too (docs/parallelism.md).
  check.divisible("model.num_key_value_heads", config.model.num_key_value_heads, "parallel.tensor",
                  parallel.tensor);
  check.divisible("model.intermediate_size", config.model.intermediate_size, "parallel.tensor",
                  parallel.tensor);
  if (parallel.vocab_parallel && config.model.vocab_size % parallel.tensor != 0) {
    check.fail("parallel.tensor",
               "model.vocab_size (" + std::to_string(config.model.vocab_size) +
                   ") must be divisible by parallel.tensor (" + std::to_string(parallel.tensor) +
                   ") to split the embedding and LM head by vocabulary rows; pad the vocabulary "
                   "or set parallel.vocab_parallel: false to replicate them");
  }
  if (parallel.tensor > 1 && config.model.moe) {
    check.fail("parallel.tensor",
               "parallel.tensor > 1 with an MoE model (model.moe) is not supported yet: experts "
               "are not split by tensor parallelism");
  }
  if (parallel.expert > 1 && !config.model.moe) {
    check.fail("parallel.expert",
               "parallel.expert > 1 splits the experts of an MoE model; set "
               "model.moe or leave parallel.expert at 1");
  }
  if (parallel.expert > 1 && parallel.zero != 0) {
    check.fail("parallel.zero",
               "parallel.zero: 1 with parallel.expert > 1 is not supported yet: ZeRO-1 shards "
               "the flat buffer, whose expert part differs between expert-parallel ranks");
  }

  const CheckpointConfig& checkpoint = config.checkpoint;
  check.at_least("checkpoint.interval", checkpoint.interval, 0);
  check.at_least("checkpoint.keep_last", checkpoint.keep_last, 1);
  check.at_least("checkpoint.keep_every", checkpoint.keep_every, 0);

  const StabilityConfig& stability = config.stability;
  check.non_negative("stability.spike_zscore", stability.spike_zscore);
  check.at_least("stability.spike_window", stability.spike_window, 2);
  check.at_least("stability.max_rollbacks_per_step", stability.max_rollbacks_per_step, 0);

  // Last: the products are only meaningful once every factor is known to be positive.
  check_size_limits(
      config, [&](std::string_view key, const std::string& message) { check.fail(key, message); });
}

}  // namespace gatedlm
