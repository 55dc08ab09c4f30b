#include "gatedlm/optim/adamw.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace gatedlm {

AdamW::AdamW(const OptimizerConfig& config, ParameterSet& params, Communicator* shard_group)
    : config_(config),
      params_(params),
      shard_group_(shard_group),
      partition_(even_partition(params.numel(), shard_group ? shard_group->size() : 1)) {
  const int rank = shard_group ? shard_group->rank() : 0;
  begin_ = partition_.begin(rank);
  end_ = partition_.end(rank);
  m_ = params.backend().zeros({end_ - begin_});
  v_ = params.backend().zeros({end_ - begin_});
}

bool AdamW::decays(const ParamInfo& info) const {
  switch (info.spec.decay) {
    case WeightDecay::none:
      return false;
    case WeightDecay::embedding:
      return config_.decay_embeddings;
    case WeightDecay::decay:
      break;
  }
  return true;
}

void AdamW::step(float lr) {
  ++step_;
  Backend& be = params_.backend();
  for (const ParamInfo& p : params_.infos()) {
    // The part of this tensor inside the owned block (a block may cut tensors anywhere).
    const int64_t lo = std::max(p.offset, begin_), hi = std::min(p.offset + p.numel(), end_);
    if (lo >= hi) continue;
    const float wd = decays(p) ? static_cast<float>(config_.weight_decay) : 0.0f;
    be.adamw_update(params_.params().data() + lo, params_.grads().data() + lo,
                    m_.data() + (lo - begin_), v_.data() + (lo - begin_), hi - lo, lr,
                    static_cast<float>(config_.beta1), static_cast<float>(config_.beta2),
                    static_cast<float>(config_.eps), wd, step_);
  }
}

void AdamW::moments_to_host(float* exp_avg, float* exp_avg_sq) {
  Backend& be = params_.backend();
  if (!shard_group_ || shard_group_->size() == 1) {
    be.to_host(exp_avg, m_.data(), m_.numel());
    be.to_host(exp_avg_sq, v_.data(), v_.numel());
    return;
  }
  // Gathered on the device (NCCL works on device memory), then copied out.
  Tensor whole = be.empty({params_.numel()});
  for (auto [moment, host] : {std::pair{&m_, exp_avg}, std::pair{&v_, exp_avg_sq}}) {
    be.copy(whole.data() + begin_, moment->data(), end_ - begin_);
    shard_group_->all_gather(whole.data(), partition_.counts);
    be.to_host(host, whole.data(), params_.numel());
  }
}

void AdamW::moments_from_host(const float* exp_avg, const float* exp_avg_sq) {
  Backend& be = params_.backend();
  be.from_host(m_.data(), exp_avg + begin_, end_ - begin_);
  be.from_host(v_.data(), exp_avg_sq + begin_, end_ - begin_);
}

double global_grad_norm(ParameterSet& params) {
  return std::sqrt(params.backend().sum_squares(params.grads().data(), params.numel()));
}

double clip_grad_norm(ParameterSet& params, double norm, double max_norm) {
  if (max_norm <= 0.0) return 1.0;
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    params.backend().scale_inplace(params.grads().data(), params.numel(), static_cast<float>(coef));
  return std::min(coef, 1.0);
}

}  // namespace gatedlm
