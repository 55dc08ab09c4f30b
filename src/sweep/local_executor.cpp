#include "gatedlm/sweep/local_executor.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/core/error.h"
#include "gatedlm/sweep/run_state.h"
#include "gatedlm/train/progress.h"
#include "gatedlm/train/run_outcome.h"
#include "gatedlm/train/signals.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

// One thing to run: a run's training, or one evaluation of a finished run.
struct Job {
  const SweepRun* run;
  const SweepEval* eval = nullptr;  // null: training

  std::string label() const { return eval ? run->name + " " + eval->file : run->name; }
  fs::path temp_output() const { return fs::path(run->dir) / (eval->file + ".tmp"); }
};

struct Child {
  Job job;
  Stopwatch clock;
};

// Starts `binary args...` with stdout to `out` (truncated, or appended when out == err) and
// stderr appended to `err`. The child inherits `lock_fd` (when >= 0), so the run stays locked
// for exactly as long as it lives, and finds `locked_run` in GATEDLM_RUN_LOCK_HELD.
pid_t start_process(const std::string& binary, const std::vector<std::string>& args,
                    const std::string& out, const std::string& err, int lock_fd,
                    const std::string& locked_run = "") {
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (err_fd < 0) throw RuntimeFailure(err + ": cannot open for writing");
  const int out_fd =
      out == err ? err_fd : ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) throw RuntimeFailure(out + ": cannot open for writing");
  std::vector<const char*> argv = {binary.c_str()};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind(std::string(kRunLockHeldEnv) + "=", 0) != 0)
      env_strings.emplace_back(*e);
  if (lock_fd >= 0) env_strings.push_back(std::string(kRunLockHeldEnv) + "=" + locked_run);
  std::vector<const char*> envp;
  for (const std::string& e : env_strings) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw RuntimeFailure("fork failed");
  if (pid == 0) {
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execve(binary.c_str(), const_cast<char* const*>(argv.data()),
             const_cast<char* const*>(envp.data()));
    ::_exit(127);
  }
  ::close(err_fd);
  if (out_fd != err_fd) ::close(out_fd);
  if (lock_fd >= 0) ::close(lock_fd);  // the child's copy holds the lock
  return pid;
}

// `gatedlm train RUN/config.yaml --run-dir RUN --threads N`, logging to RUN/train.log; a stage
// that continues another starts from that run's latest checkpoint until it has its own.
pid_t start_training(const SweepRun& run, const std::string& binary, int threads, int lock_fd) {
  std::vector<std::string> args = {"train",     (fs::path(run.dir) / "config.yaml").string(),
                                   "--run-dir", run.dir,
                                   "--threads", std::to_string(threads)};
  if (!run.resume_from.empty() && read_run_status(run.dir).checkpoint_step == 0)
    args.insert(args.end(), {"--resume", run.resume_dir});
  const std::string log = (fs::path(run.dir) / "train.log").string();
  return start_process(binary, args, log, log, lock_fd, run.dir);
}

// `gatedlm eval ... --json` into RUN/evals/NAME.json.tmp (renamed when it succeeds), its log
// appended to RUN/eval.log.
pid_t start_evaluation(const Job& job, const std::string& binary, int threads) {
  std::error_code ec;
  fs::create_directories(job.temp_output().parent_path(), ec);
  std::vector<std::string> args = eval_arguments(*job.run, *job.eval);
  args.insert(args.end(), {"--threads", std::to_string(threads)});
  return start_process(binary, args, job.temp_output().string(),
                       (fs::path(job.run->dir) / "eval.log").string(), -1);
}

// The run a job needs finished first: the run it resumes from, or (an evaluation) its own.
const SweepRun* dependency(const SweepSpec& spec, const Job& job) {
  if (job.eval) return job.run;
  return job.run->resume_from.empty() ? nullptr : spec.find(job.run->resume_from);
}

}  // namespace

int run_sweep_locally(const SweepSpec& spec, const LocalOptions& options) {
  const int parallel = std::max(1, options.max_parallel);
  const int cores = options.total_threads > 0 ? options.total_threads : default_cpu_threads();
  const int threads = std::max(1, cores / parallel);

  std::deque<Job> queue;
  std::set<std::string> training;  // runs whose training is queued or running here
  int already_done = 0, runs_to_train = 0, evals_to_run = 0, evals_done_before = 0;
  for (const SweepRun& run : spec.runs) {
    const RunStatus status = read_run_status(run.dir);
    if (status.state == RunState::running) {
      spdlog::warn("{}: another process is training it; skipped", run.name);
      continue;
    }
    if (status.state == RunState::done) {
      ++already_done;
      if (evals_done(run) < run.evals.size()) write_run_record(run, spec.path);
    } else {
      prepare_run_dir(run, spec.path);
      queue.push_back({&run});
      training.insert(run.name);
      ++runs_to_train;
    }
    for (const SweepEval& eval : run.evals) {
      if (eval_done(run, eval)) {
        ++evals_done_before;
      } else {
        queue.push_back({&run, &eval});
        ++evals_to_run;
      }
    }
  }
  spdlog::info("sweep {}: {} runs, {} already done, {} to run{}, {} at a time with {} threads each",
               spec.name, spec.runs.size(), already_done, runs_to_train,
               evals_to_run + evals_done_before > 0
                   ? fmt::format("; {} evaluations, {} to run", evals_to_run + evals_done_before,
                                 evals_to_run)
                   : "",
               parallel, threads);

  StopSignals signals;
  std::map<pid_t, Child> children;
  std::vector<std::string> failed;
  const std::size_t total = already_done + evals_done_before + queue.size();
  int finished = 0;
  bool stopping = false;
  double job_seconds = 0.0;
  const Stopwatch wall;
  auto progress = [&] {
    const std::size_t left = queue.size() + children.size();
    const double eta =
        finished > 0 ? job_seconds / finished * static_cast<double>(left) / parallel : 0.0;
    spdlog::info(
        "sweep {}: {}/{} done, {} running, {} failed | {:.1f} jobs/h | elapsed {} | ETA {}",
        spec.name, already_done + evals_done_before + finished, total, children.size(),
        failed.size(), finished / std::max(wall.seconds(), 1e-9) * 3600.0,
        format_duration(wall.seconds()), finished > 0 ? format_duration(eta) : "?");
  };
  auto fail = [&](const Job& job, const std::string& why) {
    failed.push_back(job.label() + " (" + why + ")");
    if (!job.eval) training.erase(job.run->name);
  };

  while (!queue.empty() || !children.empty()) {
    // A job whose dependency will not finish here (it failed, stopped early, or another
    // process has it) is dropped; that may drop the jobs that depend on it in turn.
    for (auto it = queue.begin(); it != queue.end();) {
      const SweepRun* needed = dependency(spec, *it);
      if (needed && !run_finished(needed->dir) && !training.count(needed->name)) {
        spdlog::error("{}: not started: {} did not finish", it->label(), needed->name);
        fail(*it, "needs " + needed->name);
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
    bool started = false;
    while (!stopping && static_cast<int>(children.size()) < parallel) {
      const auto ready = std::find_if(queue.begin(), queue.end(), [&](const Job& job) {
        const SweepRun* needed = dependency(spec, job);
        return !needed || run_finished(needed->dir);
      });
      if (ready == queue.end()) break;
      const Job job = *ready;
      queue.erase(ready);
      pid_t pid;
      if (job.eval) {
        pid = start_evaluation(job, options.binary, threads);
      } else {
        const int lock = try_lock_run(job.run->dir);
        if (lock < 0) {
          spdlog::warn("{}: another process is training it; skipped", job.run->name);
          training.erase(job.run->name);
          continue;
        }
        clear_run_failure(job.run->dir);
        pid = start_training(*job.run, options.binary, threads, lock);
      }
      started = true;
      children.emplace(pid, Child{job, Stopwatch()});
      spdlog::info("{}: started (pid {}, log {}/{})", job.label(), pid, job.run->dir,
                   job.eval ? "eval.log" : "train.log");
    }
    if (!stopping && signals.received()) {
      stopping = true;
      spdlog::warn("{} received: stopping {} jobs (training with a checkpoint); rerun to continue",
                   StopSignals::name(signals.received()), children.size());
      for (const auto& [pid, child] : children) ::kill(pid, SIGTERM);
      queue.clear();
    }
    if (children.empty() && !started && !queue.empty()) {
      for (const Job& job : queue) fail(job, "its dependency never became ready");
      queue.clear();  // cannot happen with an acyclic spec; never spin
      break;
    }
    int wait_status = 0;
    const pid_t pid = ::waitpid(-1, &wait_status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    const auto it = children.find(pid);
    if (it == children.end()) continue;
    const Job job = it->second.job;
    const SweepRun& run = *job.run;
    const double seconds = it->second.clock.seconds();
    children.erase(it);
    const int code =
        WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    if (job.eval) {
      std::error_code ec;
      if (code == 0) {
        fs::rename(job.temp_output(), fs::path(run.dir) / job.eval->file, ec);
        if (ec)
          throw RuntimeFailure(job.temp_output().string() + ": cannot rename (" + ec.message() +
                               ")");
        ++finished;
        job_seconds += seconds;
        spdlog::info("{}: evaluated in {}", job.label(), format_duration(seconds));
      } else if (stopping) {
        fs::remove(job.temp_output(), ec);
        spdlog::warn("{}: stopped; rerun to evaluate", job.label());
      } else {
        fs::remove(job.temp_output(), ec);
        fail(job, "exit " + std::to_string(code) + ", " + run.dir + "/eval.log");
        spdlog::error("{}: evaluation failed with exit {}; see {}/eval.log", job.label(), code,
                      run.dir);
      }
    } else if (const auto outcome = read_run_outcome(run.dir)) {
      ++finished;
      job_seconds += seconds;
      training.erase(run.name);
      spdlog::info("{}: {} in {}", run.name, outcome->value("outcome", "finished"),
                   format_duration(seconds));
    } else if (code == 0) {
      training.erase(run.name);
      spdlog::warn("{}: stopped with a checkpoint before the end; rerun to continue", run.name);
    } else {
      write_run_failure(run.dir, {{"exit_code", code}, {"log", "train.log"}});
      fail(job, "exit " + std::to_string(code) + ", " + run.dir + "/train.log");
      spdlog::error("{}: failed with exit {}; see {}/train.log", run.name, code, run.dir);
    }
    progress();
  }
  if (!failed.empty()) {
    std::string list;
    for (const std::string& f : failed) list += "\n  " + f;
    spdlog::error("sweep {}: {} failed:{}", spec.name, failed.size(), list);
    return 1;
  }
  return 0;
}

}  // namespace gatedlm
