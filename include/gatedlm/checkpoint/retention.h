// Which checkpoints a run keeps: the newest `keep_last`, every milestone (a step that is a
// multiple of `keep_every`), and always the one `latest` names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gatedlm {

struct RetentionPolicy {
  int64_t keep_last = 3;   // >= 1
  int64_t keep_every = 0;  // 0 = no milestones
};

// The steps to delete among `steps` (complete checkpoints, any order), keeping `latest_step`.
std::vector<int64_t> checkpoints_to_delete(std::vector<int64_t> steps,
                                           const RetentionPolicy& policy, int64_t latest_step);

// Applies the policy to RUN/checkpoints, and removes leftovers of interrupted saves (hidden
// temporary directories, step directories without a marker). Each deleted checkpoint is first
// renamed to a hidden name so a crash mid-delete never leaves a marker over partial files.
// Returns the directories deleted; failures to delete are logged, not thrown.
std::vector<std::string> apply_retention(const std::string& run_dir, const RetentionPolicy& policy);

}  // namespace gatedlm
