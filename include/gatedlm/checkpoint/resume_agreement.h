// Which checkpoint every rank of a run resumes from. Rank 0 picks it (the automatic search
// passes over damaged ones, checkpoint/resume.h); every rank then reads just its `slices` of the
// whole tensors (its shard of the model and of the moments), verifying what it reads. When a rank
// finds damage that rank 0's blocks did not show, the automatic search goes on past that checkpoint
// on every rank; in a checkpoint named explicitly (`explicit_path`) it is an error (exit 2) on the
// rank that found it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gatedlm/checkpoint/resume.h"
#include "gatedlm/comm/communicator.h"

namespace gatedlm {

// Collective over `world`. nullopt: a fresh start.
std::optional<ResumePoint> agree_on_resume_point(Communicator& world, const std::string& run_dir,
                                                 const std::string& explicit_path,
                                                 const std::vector<ParamInfo>& expected,
                                                 const CheckpointSlices& slices);

}  // namespace gatedlm
