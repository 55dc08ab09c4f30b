#include "gatedlm/model/parameters.h"

#include <stdexcept>

namespace gatedlm {

ParameterSet::Id ParameterSet::add(std::string name, Shape shape, ParamInit init,
                                   bool weight_decay) {
  if (backend_) throw std::logic_error("ParameterSet::add after allocate: " + name);
  ParamInfo info{std::move(name), std::move(shape), init, weight_decay, total_};
  total_ += info.numel();
  infos_.push_back(std::move(info));
  return static_cast<Id>(infos_.size() - 1);
}

void ParameterSet::allocate(Backend& backend) {
  backend_ = &backend;
  params_ = backend.zeros({total_});
  grads_ = backend.zeros({total_});
}

std::vector<float> draw_initial_values(const std::vector<ParamInfo>& infos, Rng& rng, float std) {
  const int64_t total = infos.empty() ? 0 : infos.back().offset + infos.back().numel();
  std::vector<float> host(static_cast<size_t>(total));
  for (const ParamInfo& p : infos) {
    float* dst = host.data() + p.offset;
    for (int64_t i = 0; i < p.numel(); ++i) {
      switch (p.init) {
        case ParamInit::normal:
          dst[i] = static_cast<float>(rng.normal() * std);
          break;
        case ParamInit::ones:
          dst[i] = 1.0f;
          break;
        case ParamInit::zeros:
          dst[i] = 0.0f;
          break;
      }
    }
  }
  return host;
}

void ParameterSet::initialize(Rng& rng, float std) {
  const std::vector<float> host = draw_initial_values(infos_, rng, std);
  backend_->from_host(params_.data(), host.data(), total_);
}

ParameterSet::Id ParameterSet::find(const std::string& name) const {
  for (size_t i = 0; i < infos_.size(); ++i)
    if (infos_[i].name == name) return static_cast<Id>(i);
  return -1;
}

void ParameterSet::zero_grads() { backend_->fill(grads_.data(), total_, 0.0f); }

bool ParameterSet::contiguous(const std::vector<Id>& ids) const {
  for (size_t i = 1; i < ids.size(); ++i)
    if (infos_[ids[i]].offset != infos_[ids[i - 1]].offset + infos_[ids[i - 1]].numel())
      return false;
  return true;
}

}  // namespace gatedlm
