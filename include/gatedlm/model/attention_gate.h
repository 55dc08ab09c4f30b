// AttentionGate: the paper's gate as one component, configured along its axes (position,
// granularity, sharing, combine, activation, input dependence). The attention module asks it
// "do you act here?" at each site and hands it the tensor; the gate knows nothing else.
#pragma once

#include <string>

#include "gatedlm/backend/backend.h"
#include "gatedlm/comm/tensor_parallel.h"
#include "gatedlm/config/config.h"
#include "gatedlm/model/instrumentation.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

class AttentionGate {
 public:
  // config: of this tensor-parallel shard. A head-shared gate whose heads tp splits averages
  // over all shards' heads: tp sums the per-shard sums in forward and backward.
  explicit AttentionGate(const ModelConfig& config, const TensorParallel& tp = {});

  // Logit columns per token: 0 without a gate. (Parameters added per layer: hidden * width for
  // an input-dependent gate, width for a static one.)
  static int64_t width_for(const ModelConfig& config);

  bool enabled() const { return position_ != GatePosition::none; }
  bool at(GatePosition position) const { return position_ == position; }
  bool input_dependent() const { return input_dependent_; }
  int64_t width() const { return spec_.width(); }
  const GateSpec& spec() const { return spec_; }

  // Input-dependent gates: gate_proj [width, hidden], declared right after v_proj so that one
  // GEMM computes q|k|v|gate. Static gates: gate_logits [heads, head_dim] or [heads].
  void declare(ParameterSet& params, const std::string& prefix, int64_t hidden,
               const std::string& fused_group);
  // Buffers for up to `rows` tokens (the cross-shard sums of a split head-shared gate).
  void reserve(Backend& be, int64_t rows);

  // The logits the gate reads: the gate columns of the fused projection, or the static
  // parameter broadcast to every token (row stride 0).
  struct Logits {
    const float* data;
    int64_t ld;
  };
  Logits logits(const float* fused, int64_t ld_fused, int64_t gate_col) const;

  // Forward keeps the cross-shard sums of a split head-shared gate for backward and stats.
  void forward(Backend& be, float* out, const float* y, int64_t y_ld, const Logits& logits,
               int64_t rows);
  // Writes dy; routes the logit gradient into the fused projection's gradient (input-dependent)
  // or sums it over tokens into gate_logits' gradient through `scratch` [rows, width].
  void backward(Backend& be, float* dy, int64_t dy_ld, const float* dout, const float* y,
                int64_t y_ld, const Logits& logits, float* dfused, int64_t ld_fused,
                int64_t gate_col, float* scratch, int64_t rows);
  void accumulate_stats(Backend& be, LayerAnalysis& out, const Logits& logits, int64_t rows) const;

 private:
  // Whether the shared average runs over heads on other shards too.
  bool averages_across_shards() const;
  // spec_ reading the cross-shard sums of the last forward (and backward).
  GateSpec across_shards_spec() const;
  int64_t shared_unit() const { return spec_.width() / spec_.heads; }  // logit columns per head

  GatePosition position_;
  bool input_dependent_;
  GateSpec spec_;
  ParameterSet* params_ = nullptr;
  ParameterSet::Id static_logits_ = -1;
  TensorParallel tp_;
  Tensor shared_sums_, shared_dscores_;  // [rows, unit], summed over the shards
};

}  // namespace gatedlm
