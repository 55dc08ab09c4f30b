// The YAML layout of Config, described once. Reading (config/tree_reader), writing
// (config_to_yaml) and the list of known keys all walk this description, so a field added here
// is read, written and documented-checked everywhere at once.
//
// A visitor V provides:
//   field(key, T&)            T: int64_t, uint64_t, double, bool, std::string, or a config enum
//   choice(key, std::string&, allowed)   a string restricted to `allowed`
//   number_pair(key, double&, double&)   a two-element list, e.g. betas: [0.9, 0.95]
//   section(key, S&)          a nested map, walked with visit_fields(S&, V&)
//   optional_section(key, std::optional<S>&)   null (absent) or a nested map
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gatedlm/config/config.h"

namespace gatedlm {

inline constexpr std::array<std::string_view, 1> kOptimizerTypes = {"adamw"};
inline constexpr std::array<std::string_view, 3> kRopeScalingTypes = {"yarn", "linear", "dynamic"};
inline constexpr std::array<std::string_view, 2> kAuxLossScopes = {"micro_batch", "global_batch"};
inline constexpr std::array<std::string_view, 2> kCheckpointFailurePolicies = {"stop", "continue"};

template <class V>
void visit_fields(AttentionGateConfig& gate, V& v) {
  v.field("position", gate.position);
  v.field("granularity", gate.granularity);
  v.field("sharing", gate.sharing);
  v.field("combine", gate.combine);
  v.field("activation", gate.activation);
  v.field("input_dependent", gate.input_dependent);
  v.field("qk_gate_point", gate.qk_gate_point);
  v.field("shared_average", gate.shared_average);
}

template <class V>
void visit_fields(RopeScalingConfig& rope, V& v) {
  v.choice("type", rope.type, kRopeScalingTypes);
  v.field("factor", rope.factor);
  v.field("original_max_position_embeddings", rope.original_max_position_embeddings);
  v.field("beta_fast", rope.beta_fast);
  v.field("beta_slow", rope.beta_slow);
}

template <class V>
void visit_fields(MoeConfig& moe, V& v) {
  v.field("num_experts", moe.num_experts);
  v.field("num_experts_per_tok", moe.num_experts_per_tok);
  v.field("moe_intermediate_size", moe.moe_intermediate_size);
  v.field("num_shared_experts", moe.num_shared_experts);
  v.field("shared_expert_gate", moe.shared_expert_gate);
  v.field("norm_topk_prob", moe.norm_topk_prob);
  v.field("router_aux_loss_coef", moe.router_aux_loss_coef);
  v.field("router_z_loss_coef", moe.router_z_loss_coef);
  v.choice("aux_loss_scope", moe.aux_loss_scope, kAuxLossScopes);
  v.field("capacity_factor", moe.capacity_factor);
  v.field("first_k_dense_replace", moe.first_k_dense_replace);
  v.field("decoder_sparse_step", moe.decoder_sparse_step);
}

template <class V>
void visit_fields(ModelConfig& model, V& v) {
  v.field("vocab_size", model.vocab_size);
  v.field("hidden_size", model.hidden_size);
  v.field("num_hidden_layers", model.num_hidden_layers);
  v.field("num_attention_heads", model.num_attention_heads);
  v.field("num_key_value_heads", model.num_key_value_heads);
  v.field("head_dim", model.head_dim);
  v.field("intermediate_size", model.intermediate_size);
  v.field("rms_norm_eps", model.rms_norm_eps);
  v.field("rope_theta", model.rope_theta);
  v.optional_section("rope_scaling", model.rope_scaling);
  v.field("qk_norm", model.qk_norm);
  v.field("tie_word_embeddings", model.tie_word_embeddings);
  v.field("initializer_range", model.initializer_range);
  v.section("attention_gate", model.attention_gate);
  v.field("sdpa_output_transform", model.sdpa_output_transform);
  v.optional_section("moe", model.moe);
  v.field("match_params_of_ungated", model.match_params_of_ungated);
}

template <class V>
void visit_fields(TrainConfig& train, V& v) {
  v.field("seed", train.seed);
  v.field("steps", train.steps);
  v.field("seq_len", train.seq_len);
  v.field("micro_batch_size", train.micro_batch_size);
  v.field("grad_accum_steps", train.grad_accum_steps);
  v.field("precision", train.precision);
  v.field("max_grad_norm", train.max_grad_norm);
  v.field("log_interval", train.log_interval);
  v.field("eval_interval", train.eval_interval);
  v.field("eval_batches", train.eval_batches);
  v.field("analyze_interval", train.analyze_interval);
  v.field("sample_interval", train.sample_interval);
  v.field("sample_prompt", train.sample_prompt);
  v.field("recompute", train.recompute);
  v.field("peak_tflops", train.peak_tflops);
}

template <class V>
void visit_fields(OptimizerConfig& optimizer, V& v) {
  v.choice("type", optimizer.type, kOptimizerTypes);
  v.field("lr", optimizer.lr);
  v.number_pair("betas", optimizer.beta1, optimizer.beta2);
  v.field("eps", optimizer.eps);
  v.field("weight_decay", optimizer.weight_decay);
  v.field("decay_embeddings", optimizer.decay_embeddings);
}

template <class V>
void visit_fields(SchedulerConfig& scheduler, V& v) {
  v.field("type", scheduler.type);
  v.field("warmup_steps", scheduler.warmup_steps);
  v.field("min_lr", scheduler.min_lr);
  v.field("decay_fraction", scheduler.decay_fraction);
}

template <class V>
void visit_fields(DataConfig& data, V& v) {
  v.field("train", data.train);
  v.field("val", data.val);
  v.field("tokenizer", data.tokenizer);
  v.field("bos_token_id", data.bos_token_id);
}

template <class V>
void visit_fields(ParallelConfig& parallel, V& v) {
  v.field("tensor", parallel.tensor);
  v.field("expert", parallel.expert);
  v.field("zero", parallel.zero);
  v.field("vocab_parallel", parallel.vocab_parallel);
  v.field("overlap_grad_reduce", parallel.overlap_grad_reduce);
  v.field("grad_bucket_size", parallel.grad_bucket_size);
}

template <class V>
void visit_fields(CheckpointConfig& checkpoint, V& v) {
  v.field("interval", checkpoint.interval);
  v.field("keep_last", checkpoint.keep_last);
  v.field("keep_every", checkpoint.keep_every);
  v.field("async", checkpoint.async);
  v.choice("on_write_failure", checkpoint.on_write_failure, kCheckpointFailurePolicies);
}

template <class V>
void visit_fields(StabilityConfig& stability, V& v) {
  v.field("spike_zscore", stability.spike_zscore);
  v.field("spike_window", stability.spike_window);
  v.field("max_rollbacks_per_step", stability.max_rollbacks_per_step);
  v.field("on_spike", stability.on_spike);
  v.field("on_nonfinite", stability.on_nonfinite);
}

template <class V>
void visit_fields(Config& config, V& v) {
  v.section("model", config.model);
  v.section("train", config.train);
  v.section("optimizer", config.optimizer);
  v.section("scheduler", config.scheduler);
  v.section("data", config.data);
  v.section("parallel", config.parallel);
  v.section("checkpoint", config.checkpoint);
  v.section("stability", config.stability);
}

// Collects the keys of one level of the layout (a section's own keys, not its children's).
class SectionKeyLister {
 public:
  template <class T>
  void field(std::string_view key, T&) {
    keys.emplace_back(key);
  }
  void choice(std::string_view key, std::string&, std::span<const std::string_view>) {
    keys.emplace_back(key);
  }
  void number_pair(std::string_view key, double&, double&) { keys.emplace_back(key); }
  template <class S>
  void section(std::string_view key, S&) {
    keys.emplace_back(key);
  }
  template <class S>
  void optional_section(std::string_view key, S&) {
    keys.emplace_back(key);
  }

  std::vector<std::string> keys;
};

// The keys directly under a section of type S (Config for the top level).
template <class S>
std::vector<std::string> section_keys() {
  S dummy{};
  SectionKeyLister lister;
  visit_fields(dummy, lister);
  return lister.keys;
}

// Every dotted key path, sections included ("model", "model.attention_gate",
// "model.attention_gate.position", ...), in layout order.
std::vector<std::string> all_config_keys();

}  // namespace gatedlm
