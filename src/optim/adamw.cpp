#include "gatedlm/optim/adamw.h"

#include <cmath>

namespace gatedlm {

AdamW::AdamW(const OptimizerConfig& config, ParameterSet& params)
    : config_(config), params_(params) {
  m_ = params.backend().zeros({params.numel()});
  v_ = params.backend().zeros({params.numel()});
}

bool AdamW::decays(const ParamInfo& info) const {
  if (!info.weight_decay) return false;
  if (info.name == "model.embed_tokens.weight") return config_.decay_embeddings;
  return true;
}

void AdamW::step(float lr) {
  ++step_;
  Backend& be = params_.backend();
  for (const ParamInfo& p : params_.infos()) {
    const float wd = decays(p) ? static_cast<float>(config_.weight_decay) : 0.0f;
    be.adamw_update(params_.params().data() + p.offset, params_.grads().data() + p.offset,
                    m_.data() + p.offset, v_.data() + p.offset, p.numel(), lr,
                    static_cast<float>(config_.beta1), static_cast<float>(config_.beta2),
                    static_cast<float>(config_.eps), wd, step_);
  }
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
