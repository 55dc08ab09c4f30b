// Preemption: SIGTERM, SIGINT and SIGUSR1 (what Slurm and users send before a time limit or a
// preemption) ask training to stop after the current step, checkpoint and exit 0. A second
// SIGINT while a stop is pending aborts at once. SIGXFSZ is ignored so that a write past
// `ulimit -f` fails with EFBIG and is reported, instead of killing the process.
#pragma once

namespace gatedlm {

class StopSignals {
 public:
  // Installs the handlers (process-wide) and restores the old ones on destruction. Instances
  // nest: only the outermost installs, resets received() and restores.
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The first stop signal received, or 0.
  int received() const;
  static const char* name(int signal);
};

}  // namespace gatedlm
