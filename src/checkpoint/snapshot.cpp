#include "gatedlm/checkpoint/snapshot.h"

#include <stdexcept>

#include "gatedlm/core/error.h"

namespace gatedlm {

void snapshot_training(ParameterSet& params, AdamW& optimizer, const TrainingProgress& progress,
                       const NamedLoaders& loaders, const std::string& config_yaml,
                       const ParallelLayout& layout, CheckpointState& s, SnapshotMoments moments) {
  s.step = progress.step;
  s.tokens_seen = progress.tokens_seen;
  s.elapsed_s = progress.elapsed_s;
  s.last_lr = progress.last_lr;
  s.schedule_total_steps = progress.total_steps;
  s.seed = progress.seed;
  s.tensors.clear();
  for (const ParamInfo& p : params.infos()) s.tensors.push_back({p.name, p.shape, p.offset});
  const int64_t n = params.numel();
  Backend& be = params.backend();
  s.params.resize(static_cast<size_t>(n));
  be.to_host(s.params.data(), params.params().data(), n);
  if (moments == SnapshotMoments::owned) {
    const int64_t owned = optimizer.owned_end() - optimizer.owned_begin();
    s.exp_avg.resize(static_cast<size_t>(owned));
    s.exp_avg_sq.resize(static_cast<size_t>(owned));
    be.to_host(s.exp_avg.data(), optimizer.first_moment().data(), owned);
    be.to_host(s.exp_avg_sq.data(), optimizer.second_moment().data(), owned);
  } else {
    s.exp_avg.resize(static_cast<size_t>(n));
    s.exp_avg_sq.resize(static_cast<size_t>(n));
    optimizer.moments_to_host(s.exp_avg.data(), s.exp_avg_sq.data());  // collective under ZeRO-1
  }
  s.optimizer_step = optimizer.steps_taken();
  s.loaders.clear();
  for (const auto& [name, loader] : loaders)
    if (loader) s.loaders.emplace_back(name, loader->state());
  s.rng_streams.clear();
  s.config_yaml = config_yaml;
  s.layout = layout;
}

void restore_training(const CheckpointState& state, ParameterSet& params, AdamW& optimizer,
                      SnapshotMoments moments) {
  const int64_t n = params.numel();
  const int64_t held =
      moments == SnapshotMoments::owned ? optimizer.owned_end() - optimizer.owned_begin() : n;
  if (state.numel() != n || static_cast<int64_t>(state.exp_avg.size()) != held ||
      static_cast<int64_t>(state.exp_avg_sq.size()) != held)
    throw InputError("checkpoint holds " + std::to_string(state.numel()) + " parameters and " +
                     std::to_string(state.exp_avg.size()) + " moments, the model has " +
                     std::to_string(n) + " parameters and this rank " + std::to_string(held) +
                     " moments");
  const std::vector<ParamInfo>& infos = params.infos();
  for (size_t i = 0; i < infos.size(); ++i)
    if (i >= state.tensors.size() || state.tensors[i].name != infos[i].name ||
        state.tensors[i].shape != infos[i].shape || state.tensors[i].offset != infos[i].offset)
      throw std::logic_error("restore_training: the state's tensor " + std::to_string(i) +
                             " is not the parameter " + infos[i].name);
  Backend& be = params.backend();
  be.from_host(params.params().data(), state.params.data(), n);
  if (moments == SnapshotMoments::owned) {
    be.from_host(optimizer.first_moment().data(), state.exp_avg.data(), held);
    be.from_host(optimizer.second_moment().data(), state.exp_avg_sq.data(), held);
  } else {
    optimizer.moments_from_host(state.exp_avg.data(), state.exp_avg_sq.data());
  }
  optimizer.set_steps_taken(state.optimizer_step);
}

}  // namespace gatedlm
