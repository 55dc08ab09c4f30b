// `gatedlm sweep SPEC --status`: one line per run (done, running, failed, pending, with details)
// and the counts.
#pragma once

#include <string>

#include "gatedlm/sweep/spec.h"

namespace gatedlm {

// The status table as text; Slurm queue states are merged in when squeue knows the runs.
std::string sweep_status_text(const SweepSpec& spec);

}  // namespace gatedlm
