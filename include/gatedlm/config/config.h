// Typed configuration: one struct per concern, filled from YAML by config/loader.h.
// Field names mirror the YAML keys (Hugging Face names for the model).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gatedlm/config/key_locations.h"

namespace gatedlm {

enum class GatePosition { none, sdpa, value, key, query, dense };
enum class GateGranularity { elementwise, headwise };
enum class GateSharing { head_specific, head_shared };
enum class GateCombine { multiply, add };
enum class GateActivation { sigmoid, silu, ns_sigmoid, identity };
// Where a G3/G4 gate acts on q or k: on the raw projection output, or after QK-norm and RoPE.
enum class QkGatePoint { post_rope, pre_norm };
// What head_shared averages over the query-head axis: activated scores or raw logits.
enum class SharedAverage { scores, logits };
enum class SdpaOutputTransform { none, rmsnorm, silu };

struct AttentionGateConfig {
  GatePosition position = GatePosition::none;
  GateGranularity granularity = GateGranularity::elementwise;
  GateSharing sharing = GateSharing::head_specific;
  GateCombine combine = GateCombine::multiply;
  GateActivation activation = GateActivation::sigmoid;
  bool input_dependent = true;
  QkGatePoint qk_gate_point = QkGatePoint::post_rope;
  SharedAverage shared_average = SharedAverage::scores;

  bool operator==(const AttentionGateConfig&) const = default;
};

struct RopeScalingConfig {
  std::string type;  // "yarn" | "linear" | "dynamic"; required when rope_scaling is set
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;

  bool operator==(const RopeScalingConfig&) const = default;
};

struct MoeConfig {
  int64_t num_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  // The shared experts form one SwiGLU MLP of num_shared_experts * moe_intermediate_size that
  // every token passes through; shared_expert_gate scales its output by sigmoid(x . w) per token
  // (Qwen2-MoE's shared_expert_gate), false adds it ungated (DeepSeek / Megatron).
  int64_t num_shared_experts = 0;
  bool shared_expert_gate = true;
  bool norm_topk_prob = true;
  double router_aux_loss_coef = 0.0;
  double router_z_loss_coef = 0.0;
  std::string aux_loss_scope = "global_batch";  // micro_batch | global_batch
  double capacity_factor = 0.0;                 // 0 = dropless
  int64_t first_k_dense_replace = 0;
  // Layer l is MoE iff l >= first_k_dense_replace and (l + 1) % decoder_sparse_step == 0
  // (Hugging Face Qwen2/3-MoE); other layers keep the dense MLP of intermediate_size.
  int64_t decoder_sparse_step = 1;

  bool is_moe_layer(int64_t layer) const {
    return layer >= first_k_dense_replace && (layer + 1) % decoder_sparse_step == 0;
  }
  bool operator==(const MoeConfig&) const = default;
};

struct ModelConfig {
  int64_t vocab_size = 256;
  int64_t hidden_size = 128;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 4;
  int64_t head_dim = 32;
  int64_t intermediate_size = 384;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<RopeScalingConfig> rope_scaling;
  bool qk_norm = true;
  bool tie_word_embeddings = true;
  double initializer_range = 0.02;
  AttentionGateConfig attention_gate;
  SdpaOutputTransform sdpa_output_transform = SdpaOutputTransform::none;
  std::optional<MoeConfig> moe;
  // When true, intermediate_size is narrowed so that the gated model has the parameter count of
  // its ungated twin (the paper's dense experiments). Resolved at load time.
  bool match_params_of_ungated = false;

  bool operator==(const ModelConfig&) const = default;
};

enum class Precision { fp32, bf16 };
enum class RecomputeMode { none, selective, full };

struct TrainConfig {
  uint64_t seed = 1;
  int64_t steps = 100;
  int64_t seq_len = 128;
  int64_t micro_batch_size = 8;
  int64_t grad_accum_steps = 1;
  Precision precision = Precision::fp32;
  double max_grad_norm = 1.0;  // <= 0 disables clipping
  int64_t log_interval = 10;
  int64_t eval_interval = 100;  // 0 disables periodic eval
  int64_t eval_batches = 4;
  int64_t analyze_interval = 0;  // 0 disables instrumentation during training
  int64_t sample_interval = 0;   // 0 = off; else log a continuation of sample_prompt
  std::string sample_prompt = "The";
  RecomputeMode recompute = RecomputeMode::none;
  // The hardware peak MFU is taken against, TFLOP/s per process; 0 = look it up (GPU table) or
  // use the machine's cached sgemm peak (CPU). docs/outputs.md.
  double peak_tflops = 0.0;

  bool operator==(const TrainConfig&) const = default;
};

struct OptimizerConfig {
  std::string type = "adamw";
  double lr = 3e-3;
  double beta1 = 0.9;  // YAML: betas: [b1, b2]
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  // Norm weights and static gate logits never decay; the embedding (and a tied LM head) decays
  // when this is true, as in Megatron.
  bool decay_embeddings = true;

  bool operator==(const OptimizerConfig&) const = default;
};

enum class ScheduleType { cosine, linear, wsd, constant };

struct SchedulerConfig {
  ScheduleType type = ScheduleType::cosine;
  int64_t warmup_steps = 0;
  double min_lr = 0.0;
  double decay_fraction = 0.2;  // wsd only: the share of steps spent decaying at the end

  bool operator==(const SchedulerConfig&) const = default;
};

struct DataConfig {
  std::string train;      // path or glob of token shards
  std::string val;        // path or glob; empty = no eval
  std::string tokenizer;  // as for `prepare --tokenizer`; needed by train.sample_interval
  // >= 0: every window's first input is this token (a BOS), so position 0 is the same token in
  // every window, as attention-sink measurements assume. -1 = off.
  int64_t bos_token_id = -1;

  bool operator==(const DataConfig&) const = default;
};

struct ParallelConfig {
  int64_t tensor = 1;
  int64_t expert = 1;
  int64_t zero = 0;
  bool vocab_parallel = true;  // tensor > 1: split the embedding and LM head by vocabulary rows
  bool overlap_grad_reduce = true;     // start gradient buckets' all-reduces during backward
  int64_t grad_bucket_size = 4194304;  // floats per data-parallel gradient all-reduce

  bool operator==(const ParallelConfig&) const = default;
};

struct CheckpointConfig {
  int64_t interval = 0;  // 0 = only at the end and on signals
  int64_t keep_last = 3;
  int64_t keep_every = 0;                 // 0 = no milestones
  bool async = false;                     // write in a background thread from a host snapshot
  std::string on_write_failure = "stop";  // stop | continue

  bool operator==(const CheckpointConfig&) const = default;
};

enum class SpikePolicy { none, skip, rollback };
enum class NonFinitePolicy { skip, rollback, stop };

struct StabilityConfig {
  double spike_zscore = 0.0;  // 0 = spike detection off
  int64_t spike_window = 100;
  SpikePolicy on_spike = SpikePolicy::none;
  NonFinitePolicy on_nonfinite = NonFinitePolicy::stop;
  // Rollbacks allowed for one step; the next one stops the run (a fault that every replay meets
  // again, whatever the batch, would otherwise loop for ever).
  int64_t max_rollbacks_per_step = 3;

  bool operator==(const StabilityConfig&) const = default;
};

struct Config {
  ModelConfig model;
  TrainConfig train;
  OptimizerConfig optimizer;
  SchedulerConfig scheduler;
  DataConfig data;
  ParallelConfig parallel;
  CheckpointConfig checkpoint;
  StabilityConfig stability;
  std::string source_path;  // the top-level YAML file this came from
  // Where each key was written (file:line:col), for errors that point at the YAML; empty for a
  // Config built in code. Not part of the settings: compare the sections, not this.
  KeyLocations locations;
};

}  // namespace gatedlm
