// RUN/.lock: held (flock) by whoever trains a run, for as long as it does, so that two
// processes never write one run's checkpoints and metrics at once. A sweep executor takes it
// before it starts `gatedlm train` and names the run in GATEDLM_RUN_LOCK_HELD, so that the
// trainer (or every rank under srun) knows its parent holds the lock for it.
#pragma once

#include <string>

namespace gatedlm {

constexpr const char* kRunLockFile = ".lock";
constexpr const char* kRunLockHeldEnv = "GATEDLM_RUN_LOCK_HELD";

// Takes RUN/.lock without waiting and writes this process's pid into it: the open descriptor
// (inherited by a child it starts), or -1 (errno EWOULDBLOCK) when another process holds it. Throws
// RuntimeFailure when the file cannot be opened, InputError when it is a symbolic link or not a
// regular file.
int try_lock_run(const std::string& run_dir);

// The trainer's hold on RUN/.lock; throws InputError (exit 2) naming the run and the holder's
// pid when another process holds it, unless GATEDLM_RUN_LOCK_HELD names this run directory.
class RunLock {
 public:
  explicit RunLock(const std::string& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace gatedlm
