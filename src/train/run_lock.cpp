#include "gatedlm/train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;

int try_lock_run(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / kRunLockFile).string();
  // No O_CLOEXEC: a sweep's child inherits the lock. O_NOFOLLOW: never lock (or create) a file
  // somewhere else through a planted link.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (fd < 0 && errno == ELOOP)
    throw InputError(path + ": is a symbolic link; expected the run's own lock file");
  if (fd < 0) throw RuntimeFailure(path + ": cannot open the run lock: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path + ": expected a regular file (the run lock)");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  // The holder's pid, for the message a second trainer gives.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    const ssize_t ignored = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)ignored;
  }
  return fd;
}

namespace {

// "pid 1234" from the lock file, or "another process" when it holds no pid.
std::string holder_of(const std::string& path) {
  char buffer[24] = {};
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "another process";
  const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  std::string pid;
  for (ssize_t i = 0; i < n && buffer[i] >= '0' && buffer[i] <= '9'; ++i) pid += buffer[i];
  return pid.empty() ? "another process" : "pid " + pid;
}

}  // namespace

RunLock::RunLock(const std::string& run_dir) {
  std::error_code ec;
  if (const char* held = std::getenv(kRunLockHeldEnv); held && fs::equivalent(held, run_dir, ec))
    return;
  fd_ = try_lock_run(run_dir);
  if (fd_ < 0 && errno == EWOULDBLOCK) {
    const std::string path = (fs::path(run_dir) / kRunLockFile).string();
    throw InputError(run_dir + ": is being trained by " + holder_of(path) + " (it holds " + path +
                     "); wait for it to finish or choose another --run-dir");
  }
  if (fd_ < 0) throw RuntimeFailure(run_dir + ": cannot lock the run: " + std::strerror(errno));
  ::fcntl(fd_, F_SETFD, FD_CLOEXEC);  // the trainer's own hold ends with it
}

// The pid goes with the hold: a finished run's directory does not change with each rerun that
// merely looked at it (docs/outputs.md).
RunLock::~RunLock() {
  if (fd_ < 0) return;
  const int ignored = ::ftruncate(fd_, 0);
  (void)ignored;
  ::close(fd_);
}

}  // namespace gatedlm
