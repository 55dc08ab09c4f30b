// Runs a sweep on this machine: up to max_parallel `gatedlm train` processes at once, the CPU
// cores divided among them, each logging to RUN/train.log. Finished runs are skipped, partial
// ones resume from their checkpoints (the trainer does that), runs another process holds are
// left alone. SIGINT/SIGTERM stop every child with a checkpoint; rerunning continues.
#pragma once

#include <string>

#include "gatedlm/sweep/spec.h"

namespace gatedlm {

struct LocalOptions {
  int max_parallel = 1;
  int total_threads = 0;  // cores to divide; 0 = the default thread count of this machine
  std::string binary;     // the gatedlm executable the runs use
};

// 0 when every run is done; 1 when some failed (each named with its log).
int run_sweep_locally(const SweepSpec& spec, const LocalOptions& options);

}  // namespace gatedlm
