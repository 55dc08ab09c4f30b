#include "gatedlm/model/attention_gate.h"

namespace gatedlm {
namespace {

GateSpec make_spec(const ModelConfig& c) {
  const AttentionGateConfig& g = c.attention_gate;
  GateSpec s;
  switch (g.position) {
    case GatePosition::sdpa:
    case GatePosition::query:
      s.heads = c.num_attention_heads;
      s.head_dim = c.head_dim;
      break;
    case GatePosition::key:
    case GatePosition::value:
      s.heads = c.num_key_value_heads;
      s.head_dim = c.head_dim;
      break;
    case GatePosition::dense:  // one "head" spanning the hidden state
    case GatePosition::none:
      s.heads = 1;
      s.head_dim = c.hidden_size;
      break;
  }
  s.elementwise =
      g.position == GatePosition::dense || g.granularity == GateGranularity::elementwise;
  s.head_shared = g.sharing == GateSharing::head_shared;
  s.shared_average_logits = g.shared_average == SharedAverage::logits;
  s.additive = g.combine == GateCombine::add;
  s.activation = static_cast<GateActivationKind>(static_cast<int>(g.activation));
  return s;
}

static_assert(
    static_cast<int>(GateActivation::sigmoid) == static_cast<int>(GateActivationKind::sigmoid) &&
    static_cast<int>(GateActivation::silu) == static_cast<int>(GateActivationKind::silu) &&
    static_cast<int>(GateActivation::ns_sigmoid) ==
        static_cast<int>(GateActivationKind::ns_sigmoid) &&
    static_cast<int>(GateActivation::identity) == static_cast<int>(GateActivationKind::identity));

}  // namespace

AttentionGate::AttentionGate(const ModelConfig& config, const TensorParallel& tp)
    : position_(config.attention_gate.position),
      input_dependent_(config.attention_gate.input_dependent),
      spec_(make_spec(config)),
      tp_(tp) {}

bool AttentionGate::averages_across_shards() const {
  // A dense gate is replicated whole on every shard (comm/tensor_parallel.h).
  return spec_.head_shared && position_ != GatePosition::dense && tp_.size() > 1;
}

GateSpec AttentionGate::across_shards_spec() const {
  GateSpec s = spec_;
  s.shared_sums = shared_sums_.data();
  s.shared_dscores = shared_dscores_.data();
  s.shared_heads = spec_.heads * tp_.size();
  return s;
}

void AttentionGate::reserve(Backend& be, int64_t rows) {
  if (!averages_across_shards()) return;
  shared_sums_ = be.empty({rows, shared_unit()});
  shared_dscores_ = be.empty({rows, shared_unit()});
}

int64_t AttentionGate::width_for(const ModelConfig& config) {
  return config.attention_gate.position == GatePosition::none ? 0 : make_spec(config).width();
}

void AttentionGate::declare(ParameterSet& params, const std::string& prefix, int64_t hidden,
                            const std::string& fused_group) {
  if (!enabled()) return;
  params_ = &params;
  // A gate cuts with the heads it gates; a dense (G5) gate acts on the summed o_proj output, so
  // every shard computes it whole.
  const TensorSplit split =
      position_ == GatePosition::dense ? TensorSplit::replicated : TensorSplit::column;
  if (input_dependent_) {
    ParamSpec spec = weight_spec(split);
    spec.fused_group = fused_group;
    params.add(prefix + "gate_proj.weight", {width(), hidden}, spec);
  } else {
    const Shape shape = spec_.elementwise && position_ != GatePosition::dense
                            ? Shape{spec_.heads, spec_.head_dim}
                            : Shape{width()};
    // Zero logits: the gate starts at act(0), as the paper's static control does.
    ParamSpec spec;
    spec.init = ParamInit::zeros;
    spec.decay = WeightDecay::none;
    spec.split = split;
    spec.gradient = GradientKind::local;
    static_logits_ = params.add(prefix + "gate_logits", shape, spec);
  }
}

AttentionGate::Logits AttentionGate::logits(const float* fused, int64_t ld_fused,
                                            int64_t gate_col) const {
  if (input_dependent_) return {fused + gate_col, ld_fused};
  return {params_->data(static_logits_), 0};
}

void AttentionGate::forward(Backend& be, float* out, const float* y, int64_t y_ld,
                            const Logits& logits, int64_t rows) {
  if (!averages_across_shards()) {
    be.gate_forward(out, y, y_ld, logits.data, logits.ld, rows, spec_);
    return;
  }
  be.gate_shared_term_sums(shared_sums_.data(), logits.data, logits.ld, rows, spec_);
  tp_.sum_partials(shared_sums_.data(), rows * shared_unit());
  be.gate_forward(out, y, y_ld, logits.data, logits.ld, rows, across_shards_spec());
}

void AttentionGate::backward(Backend& be, float* dy, int64_t dy_ld, const float* dout,
                             const float* y, int64_t y_ld, const Logits& logits, float* dfused,
                             int64_t ld_fused, int64_t gate_col, float* scratch, int64_t rows) {
  GateSpec spec = spec_;
  if (averages_across_shards()) {
    be.gate_shared_dscore_sums(shared_dscores_.data(), dout, y, y_ld, rows, spec_);
    tp_.sum_partials(shared_dscores_.data(), rows * shared_unit());
    spec = across_shards_spec();
  }
  if (input_dependent_) {
    be.gate_backward(dy, dy_ld, dfused + gate_col, ld_fused, dout, y, y_ld, logits.data, logits.ld,
                     rows, spec);
    return;
  }
  be.gate_backward(dy, dy_ld, scratch, width(), dout, y, y_ld, logits.data, logits.ld, rows, spec);
  be.sum_rows_accumulate(params_->grad(static_logits_), scratch, rows, width(), width());
}

void AttentionGate::accumulate_stats(Backend& be, LayerAnalysis& out, const Logits& logits,
                                     int64_t rows) const {
  double sum = 0.0, below = 0.0;
  be.probes().gate_score_stats(&sum, &below, logits.data, logits.ld, rows,
                               averages_across_shards() ? across_shards_spec() : spec_);
  out.gate_sum += sum;
  out.gate_below += below;
  out.gate_count += static_cast<double>(rows * spec_.heads * spec_.head_dim);
}

}  // namespace gatedlm
