#include "gatedlm/sweep/local_executor.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <map>
#include <thread>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/core/error.h"
#include "gatedlm/sweep/run_state.h"
#include "gatedlm/train/progress.h"
#include "gatedlm/train/run_outcome.h"
#include "gatedlm/train/signals.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

struct Child {
  const SweepRun* run;
  Stopwatch clock;
};

// Starts `gatedlm train RUN/config.yaml --run-dir RUN --threads N` with output to RUN/train.log.
// The child inherits `lock_fd`, so the run stays locked for exactly as long as it lives.
pid_t start_run(const SweepRun& run, const std::string& binary, int threads, int lock_fd) {
  const std::string log = (fs::path(run.dir) / "train.log").string();
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw RuntimeFailure(log + ": cannot open for writing");
  const std::string config = (fs::path(run.dir) / "config.yaml").string();
  const std::string thread_arg = std::to_string(threads);
  const pid_t pid = ::fork();
  if (pid < 0) throw RuntimeFailure("fork failed");
  if (pid == 0) {
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const char* argv[] = {binary.c_str(),  "train",     config.c_str(),     "--run-dir",
                          run.dir.c_str(), "--threads", thread_arg.c_str(), nullptr};
    ::execv(binary.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(lock_fd);  // the child's copy holds the lock
  return pid;
}

}  // namespace

int run_sweep_locally(const SweepSpec& spec, const LocalOptions& options) {
  const int parallel = std::max(1, options.max_parallel);
  const int cores = options.total_threads > 0 ? options.total_threads : default_cpu_threads();
  const int threads = std::max(1, cores / parallel);

  std::deque<const SweepRun*> queue;
  int already_done = 0;
  for (const SweepRun& run : spec.runs) {
    const RunStatus status = read_run_status(run.dir);
    if (status.state == RunState::done) {
      ++already_done;
      continue;
    }
    if (status.state == RunState::running) {
      spdlog::warn("{}: another process is training it; skipped", run.name);
      continue;
    }
    prepare_run_dir(run, spec.path);
    queue.push_back(&run);
  }
  spdlog::info("sweep {}: {} runs, {} already done, {} to run, {} at a time with {} threads each",
               spec.name, spec.runs.size(), already_done, queue.size(), parallel, threads);

  StopSignals signals;
  std::map<pid_t, Child> children;
  std::vector<std::string> failed;
  int finished = 0;
  bool stopping = false;
  double run_seconds = 0.0;
  const Stopwatch wall;
  auto progress = [&] {
    const std::size_t left = queue.size() + children.size();
    const double eta =
        finished > 0 ? run_seconds / finished * static_cast<double>(left) / parallel : 0.0;
    spdlog::info(
        "sweep {}: {}/{} done, {} running, {} failed | {:.1f} runs/h | elapsed {} | ETA {}",
        spec.name, already_done + finished, spec.runs.size(), children.size(), failed.size(),
        finished / std::max(wall.seconds(), 1e-9) * 3600.0, format_duration(wall.seconds()),
        finished > 0 ? format_duration(eta) : "?");
  };

  while (!queue.empty() || !children.empty()) {
    while (!stopping && !queue.empty() && static_cast<int>(children.size()) < parallel) {
      const SweepRun& run = *queue.front();
      queue.pop_front();
      const int lock = try_lock_run(run.dir);
      if (lock < 0) {
        spdlog::warn("{}: another process is training it; skipped", run.name);
        continue;
      }
      clear_run_failure(run.dir);
      const pid_t pid = start_run(run, options.binary, threads, lock);
      children.emplace(pid, Child{&run, Stopwatch()});
      spdlog::info("{}: started (pid {}, log {}/train.log)", run.name, pid, run.dir);
    }
    if (!stopping && signals.received()) {
      stopping = true;
      spdlog::warn("{} received: stopping {} runs with a checkpoint; rerun to continue",
                   StopSignals::name(signals.received()), children.size());
      for (const auto& [pid, child] : children) ::kill(pid, SIGTERM);
      queue.clear();
    }
    int wait_status = 0;
    const pid_t pid = ::waitpid(-1, &wait_status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    const auto it = children.find(pid);
    if (it == children.end()) continue;
    const SweepRun& run = *it->second.run;
    const double seconds = it->second.clock.seconds();
    children.erase(it);
    const int code =
        WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    if (const auto outcome = read_run_outcome(run.dir)) {
      ++finished;
      run_seconds += seconds;
      spdlog::info("{}: {} in {}", run.name, outcome->value("outcome", "finished"),
                   format_duration(seconds));
    } else if (code == 0) {
      spdlog::warn("{}: stopped with a checkpoint before the end; rerun to continue", run.name);
    } else {
      write_run_failure(run.dir, {{"exit_code", code}, {"log", "train.log"}});
      failed.push_back(run.name + " (exit " + std::to_string(code) + ", " + run.dir +
                       "/train.log)");
      spdlog::error("{}: failed with exit {}; see {}/train.log", run.name, code, run.dir);
    }
    progress();
  }
  if (!failed.empty()) {
    std::string list;
    for (const std::string& f : failed) list += "\n  " + f;
    spdlog::error("sweep {}: {} runs failed:{}", spec.name, failed.size(), list);
    return 1;
  }
  return 0;
}

}  // namespace gatedlm
