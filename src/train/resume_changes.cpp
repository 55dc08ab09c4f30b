#include "gatedlm/train/resume_changes.h"

#include <fmt/format.h>

#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"

namespace gatedlm {

namespace {

std::string rope_scaling_text(const std::optional<RopeScalingConfig>& r) {
  if (!r) return "none";
  return fmt::format("{{type: {}, factor: {}, original_max_position_embeddings: {}}}", r->type,
                     r->factor, r->original_max_position_embeddings);
}

}  // namespace

std::vector<std::string> apply_resume_changes(CheckpointState& state, const Config& current) {
  Config saved;
  try {
    saved = load_config_text(state.config_yaml, "checkpoint config_yaml");
  } catch (const InputError&) {
    return {};  // written by an older build: nothing to compare with
  }
  std::vector<std::string> changes;
  if (saved.model.rope_theta != current.model.rope_theta)
    changes.push_back(
        fmt::format("model.rope_theta {} -> {}", saved.model.rope_theta, current.model.rope_theta));
  if (saved.model.rope_scaling != current.model.rope_scaling)
    changes.push_back(fmt::format("model.rope_scaling {} -> {}",
                                  rope_scaling_text(saved.model.rope_scaling),
                                  rope_scaling_text(current.model.rope_scaling)));
  const int64_t old_len = saved.train.seq_len, new_len = current.train.seq_len;
  if (old_len != new_len && old_len > 0) {
    changes.push_back(fmt::format("train.seq_len {} -> {}", old_len, new_len));
    // Same share of the epoch: the window count scales as 1 / seq_len.
    for (auto& [name, loader] : state.loaders) loader.cursor = loader.cursor * old_len / new_len;
  }
  return changes;
}

}  // namespace gatedlm
