#include "gatedlm/model/parameters.h"

#include <map>
#include <stdexcept>

namespace gatedlm {

ParamSpec weight_spec(TensorSplit split) {
  ParamSpec spec;
  spec.split = split;
  spec.gradient = GradientKind::local;
  spec.matmul = true;
  return spec;
}

ParamSpec norm_spec(GradientKind gradient) {
  ParamSpec spec;
  spec.init = ParamInit::ones;
  spec.decay = WeightDecay::none;
  spec.split = TensorSplit::replicated;
  spec.gradient = gradient;
  return spec;
}

int split_dimension(TensorSplit split) {
  switch (split) {
    case TensorSplit::column:
    case TensorSplit::vocab:
      return 0;
    case TensorSplit::row:
      return 1;
    case TensorSplit::unset:
    case TensorSplit::replicated:
      break;
  }
  return -1;
}

ParameterSet::Id ParameterSet::add(std::string name, Shape shape, ParamSpec spec) {
  if (backend_) throw std::logic_error("ParameterSet::add after allocate: " + name);
  if (spec.split == TensorSplit::unset)
    throw std::logic_error("parameter " + name + " declares no tensor-parallel split");
  if (spec.gradient == GradientKind::unset)
    throw std::logic_error("parameter " + name + " declares no gradient kind");
  if ((spec.gradient == GradientKind::expert) != (spec.expert >= 0))
    throw std::logic_error("parameter " + name +
                           ": an expert index goes with an expert gradient, and only there");
  ParamInfo info{std::move(name), std::move(shape), std::move(spec), total_, -1};
  if (tensor_size_ > 1) info.split_dim = split_dimension(info.spec.split);
  total_ += info.numel();
  infos_.push_back(std::move(info));
  return static_cast<Id>(infos_.size() - 1);
}

void ParameterSet::check_fused_groups() const {
  std::map<std::string, size_t> last_member;  // group -> index of its latest member
  for (size_t i = 0; i < infos_.size(); ++i) {
    const std::string& group = infos_[i].spec.fused_group;
    if (group.empty()) continue;
    const auto [it, first] = last_member.try_emplace(group, i);
    if (!first && it->second + 1 != i)
      throw std::logic_error("fused group " + group + ": " + infos_[i].name +
                             " is not declared right after " + infos_[it->second].name);
    it->second = i;
  }
}

void ParameterSet::allocate(Backend& backend) {
  check_fused_groups();
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
      switch (p.spec.init) {
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
