// Finding the checkpoint a run continues from. Automatic: the one `latest` names; if that is
// missing or damaged, the newest complete checkpoint that reads and verifies, with a warning.
// Explicit (--resume PATH): exactly that checkpoint, any damage an error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gatedlm/checkpoint/format.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

struct ResumePoint {
  std::string dir;
  CheckpointState state;
};

// nullopt when the run has no complete checkpoint (a fresh start). InputError when it has some
// but none is usable, or when the model does not match them (naming the first tensor).
// `expected` are whole tensors; with `slices`, just those parts of them are read (a rank's
// share, read_checkpoint_file). Checkpoint directories in `rejected` (found damaged by another
// rank, checkpoint/resume_agreement.h) are passed over like damaged ones.
std::optional<ResumePoint> find_resume_point(const std::string& run_dir,
                                             const std::vector<ParamInfo>& expected,
                                             const CheckpointSlices* slices = nullptr,
                                             const std::vector<std::string>& rejected = {});

// `path`: a checkpoint directory, its model.h5, or a run directory (its latest checkpoint).
ResumePoint load_resume_point(const std::string& path, const std::vector<ParamInfo>& expected,
                              const CheckpointSlices* slices = nullptr);

}  // namespace gatedlm
