#include "gatedlm/sweep/slurm_executor.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/core/error.h"
#include "gatedlm/sweep/run_state.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

// Single quotes for the shell.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a command; its stdout, and its exit status in `status`.
std::string capture(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    status = -1;
    return out;
  }
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
  status = ::pclose(pipe);
  return out;
}

fs::path slurm_dir(const SweepSpec& spec) { return fs::path(spec.out_dir) / "slurm"; }

// The task body: everything below the #SBATCH lines. Kept in bash so that a task needs nothing
// but the binary; the states it leaves are those of sweep/run_state.h. A trained run only runs
// its evaluations (evaluate_task, generated per task above this).
constexpr const char* kTaskBody = R"sh(RUN="${RUNS[$SLURM_ARRAY_TASK_ID]}"
FROM="${FROM[$SLURM_ARRAY_TASK_ID]}"
TASK="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
exec 9>>"$RUN/.lock"
if ! flock -n 9; then echo "$RUN: another process is training it"; exit 0; fi
export GATEDLM_RUN_LOCK_HELD="$RUN"  # this shell holds the lock for every rank it starts
if [ -e "$RUN/done.json" ]; then
  echo "$RUN: already trained"
else
  rm -f "$RUN/failed.json"
  echo "$TASK" > "$RUN/slurm_task"
  # A stage that continues another starts from that run's checkpoint until it has its own.
  RESUME=()
  if [ -n "$FROM" ] && ! compgen -G "$RUN/checkpoints/step_*" > /dev/null; then
    RESUME=(--resume "$FROM")
  fi
  # Slurm sends USR1 to this shell signal_before_s before the time limit (and scancel -b can
  # too): pass it on, so that training stops after its step with a checkpoint; then requeue.
  stop=0
  child=0
  forward() { stop=1; if [ "$child" -gt 0 ]; then kill -USR1 "$child" 2>/dev/null; fi; }
  trap forward USR1 TERM
  echo "[$(date -u +%FT%TZ)] task $TASK on $(hostname): $RUN" >> "$RUN/train.log"
  $LAUNCH "$GATEDLM" train "$RUN/config.yaml" --run-dir "$RUN" --threads "${SLURM_CPUS_PER_TASK:-1}" "${RESUME[@]}" >> "$RUN/train.log" 2>&1 &
  child=$!
  rc=0
  while :; do
    wait "$child"; rc=$?
    kill -0 "$child" 2>/dev/null || break  # wait returns early when a trapped signal arrives
  done
  if [ ! -e "$RUN/done.json" ]; then
    if [ "$stop" = 1 ] && [ "$rc" = 0 ]; then
      echo "$RUN: checkpointed before the time limit; requeueing $TASK"
      scontrol requeue "$TASK" && exit 0
    fi
    printf '{"exit_code": %d, "slurm_task": "%s", "log": "train.log"}\n' "$rc" "$TASK" > "$RUN/failed.json"
    exit "$rc"
  fi
fi
# Each evaluation writes RUN/FILE whole (a rename) and is skipped when that exists.
run_eval() {
  local file="$RUN/$1"; shift
  [ -e "$file" ] && return 0
  mkdir -p "$(dirname "$file")"
  "$GATEDLM" "$@" --threads "${SLURM_CPUS_PER_TASK:-1}" > "$file.tmp" 2>> "$RUN/eval.log" &&
    mv "$file.tmp" "$file"
}
eval_rc=0
evaluate_task
if [ "$eval_rc" != 0 ]; then
  printf '{"exit_code": %d, "slurm_task": "%s", "log": "eval.log"}\n' "$eval_rc" "$TASK" > "$RUN/failed.json"
  exit "$eval_rc"
fi
)sh";

// evaluate_task(): the run_eval lines of each task's run.
std::string evaluate_function(const std::vector<const SweepRun*>& runs) {
  std::string out = "evaluate_task() {\n  case \"$SLURM_ARRAY_TASK_ID\" in\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i]->evals.empty()) continue;
    out += fmt::format("    {})\n", i);
    for (const SweepEval& eval : runs[i]->evals) {
      out += "      run_eval " + quoted(eval.file);
      for (const std::string& arg : eval_arguments(*runs[i], eval))
        out.append(" ").append(quoted(arg));
      out += " || eval_rc=$?\n";
    }
    out += "      ;;\n";
  }
  return out + "  esac\n}\n";
}

}  // namespace

std::string slurm_array_script(const SweepSpec& spec, const std::vector<const SweepRun*>& runs,
                               const SlurmOptions& options, const std::string& dependency) {
  const SlurmResources& r = spec.slurm;
  // The job name comes from the spec's file name and stands unquoted on an #SBATCH line.
  for (unsigned char c : spec.name)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+'))
      throw InputError(spec.path +
                       ": the Slurm job name comes from the spec's file name, which may hold "
                       "only letters, digits and . _ - + (rename the spec)");
  const fs::path logs = fs::absolute(slurm_dir(spec));
  // sbatch reads #SBATCH lines itself, without shell quoting: the log path must be one word.
  for (unsigned char c : logs.string())
    if (c <= ' ' || c == 0x7f || c == '"' || c == '\'')
      throw InputError(spec.path + ": out_dir " + quoted(spec.out_dir) +
                       " holds a space, quote or control character; sbatch's --output cannot "
                       "carry it (choose another out_dir or --out)");
  std::ostringstream s;
  s << "#!/bin/bash\n";
  s << "#SBATCH --job-name="
    << "gatedlm-" << spec.name << "\n";
  s << "#SBATCH --array=0-" << runs.size() - 1;
  if (options.max_parallel > 0) s << "%" << options.max_parallel;
  s << "\n#SBATCH --requeue\n";
  s << "#SBATCH --signal=B:USR1@" << r.signal_before_s << "\n";
  s << "#SBATCH --open-mode=append\n";
  s << "#SBATCH --output=" << (logs / "%x-%A_%a.out").string() << "\n";
  s << "#SBATCH --nodes=" << r.nodes << "\n";
  s << "#SBATCH --ntasks-per-node=" << r.ntasks_per_node << "\n";
  s << "#SBATCH --cpus-per-task=" << r.cpus_per_task << "\n";
  s << "#SBATCH --time=" << r.time << "\n";
  if (!r.partition.empty()) s << "#SBATCH --partition=" << r.partition << "\n";
  if (!r.account.empty()) s << "#SBATCH --account=" << r.account << "\n";
  if (!r.qos.empty()) s << "#SBATCH --qos=" << r.qos << "\n";
  if (!r.mem.empty()) s << "#SBATCH --mem=" << r.mem << "\n";
  if (r.gpus_per_node > 0) s << "#SBATCH --gpus-per-node=" << r.gpus_per_node << "\n";
  if (!dependency.empty())
    s << "#SBATCH --dependency=" << dependency << "\n#SBATCH --kill-on-invalid-dep=yes\n";
  for (const std::string& arg : r.sbatch_args) s << "#SBATCH " << arg << "\n";
  s << "# Generated by `gatedlm sweep " << spec.path
    << " --executor slurm`: one array task per unfinished run.\n"
    << "# Rerunning that command skips finished runs and resumes the others from checkpoints.\n";
  s << "set -u\ncd " << quoted(options.workdir) << " || exit 1\n";
  s << "GATEDLM=" << quoted(options.binary) << "\n";
  s << "LAUNCH=" << (r.ranks() > 1 ? quoted("srun --mpi=" + r.srun_mpi) : "") << "\n";
  s << "RUNS=(\n";
  for (const SweepRun* run : runs) s << "  " << quoted(run->dir) << "\n";
  s << ")\nFROM=(\n";  // the run each continues from ('' = none)
  for (const SweepRun* run : runs) s << "  " << quoted(run->resume_dir) << "\n";
  s << ")\n";
  s << evaluate_function(runs);
  for (const std::string& line : r.setup) s << line << "\n";
  s << kTaskBody;
  return s.str();
}

std::vector<std::vector<const SweepRun*>> slurm_waves(const std::vector<const SweepRun*>& runs) {
  std::map<std::string, std::size_t> wave_of;
  std::vector<std::vector<const SweepRun*>> waves;
  for (const SweepRun* run : runs) {  // spec order: a run's resume_from comes before it
    std::size_t wave = 0;
    if (const auto it = wave_of.find(run->resume_from); it != wave_of.end()) wave = it->second + 1;
    wave_of[run->name] = wave;
    if (waves.size() <= wave) waves.resize(wave + 1);
    waves[wave].push_back(run);
  }
  return waves;
}

int submit_sweep_to_slurm(const SweepSpec& spec, const SlurmOptions& options) {
  const std::map<std::string, SlurmTask> queued = queued_slurm_tasks(spec);
  std::vector<const SweepRun*> runs;
  std::set<std::string> submitting;
  int done = 0;
  for (const SweepRun& run : spec.runs) {
    const RunStatus status = read_run_status(run.dir);
    const bool trained = status.state == RunState::done;
    if (trained && evals_done(run) == run.evals.size()) {
      ++done;
    } else if (queued.count(run.name)) {
      spdlog::info("{}: already in the queue ({})", run.name, queued.at(run.name).state);
    } else if (status.state == RunState::running) {
      spdlog::info("{}: being trained by another process", run.name);
    } else if (!trained && !run.resume_from.empty() && !run_finished(run.resume_dir) &&
               !submitting.count(run.resume_from) && !queued.count(run.resume_from)) {
      spdlog::warn("{}: continues {}, which is neither done nor queued; submit again later",
                   run.name, run.resume_from);
    } else {
      if (trained)
        write_run_record(run, spec.path);
      else
        prepare_run_dir(run, spec.path);
      runs.push_back(&run);
      submitting.insert(run.name);
    }
  }
  if (runs.empty()) {
    spdlog::info("sweep {}: nothing to submit ({} of {} runs done)", spec.name, done,
                 spec.runs.size());
    return 0;
  }
  std::error_code ec;
  fs::create_directories(slurm_dir(spec), ec);
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", std::gmtime(&now));
  // One array per wave of stages; a wave waits (afterok) for the tasks its runs continue from.
  std::map<std::string, std::string> task_of;  // run name -> "JOB_INDEX"
  for (const auto& [name, task] : queued) task_of[name] = task.id;
  const auto waves = slurm_waves(runs);
  for (std::size_t w = 0; w < waves.size(); ++w) {
    std::set<std::string> needs;
    for (const SweepRun* run : waves[w])
      if (!run->resume_from.empty() && task_of.count(run->resume_from) &&
          !run_finished(run->resume_dir))
        needs.insert(task_of.at(run->resume_from));
    std::string dependency;
    for (const std::string& task : needs)
      dependency += (dependency.empty() ? "afterok:" : ":") + task;
    const std::string script =
        (slurm_dir(spec) /
         fmt::format("array-{}{}.sbatch", stamp, waves.size() > 1 ? fmt::format("-{}", w + 1) : ""))
            .string();
    write_file_durably(script, slurm_array_script(spec, waves[w], options, dependency));
    int status = 0;
    const std::string out = capture("sbatch --parsable " + quoted(script) + " 2>&1", status);
    if (status != 0)
      throw RuntimeFailure("sbatch " + script +
                           " failed: " + out.substr(0, out.find_last_not_of("\n") + 1));
    const std::string job_id = out.substr(0, out.find_first_of(";\n"));
    nlohmann::json names = nlohmann::json::array();
    for (std::size_t i = 0; i < waves[w].size(); ++i) {
      names.push_back(waves[w][i]->name);
      task_of[waves[w][i]->name] = job_id + "_" + std::to_string(i);
    }
    nlohmann::json record = {{"job_id", job_id}, {"script", script}, {"runs", names}};
    if (!dependency.empty()) record["dependency"] = dependency;
    std::ofstream jobs(slurm_dir(spec) / "jobs.jsonl", std::ios::app);
    jobs << record.dump() << "\n";
    jobs.close();
    if (w == 0)
      std::printf("submitted job array %s: %zu runs (%d already done); script %s\n", job_id.c_str(),
                  waves[w].size(), done, script.c_str());
    else
      std::printf("submitted job array %s: %zu runs after %s; script %s\n", job_id.c_str(),
                  waves[w].size(), dependency.empty() ? "nothing" : dependency.c_str(),
                  script.c_str());
    std::printf("job id: %s\n", job_id.c_str());
  }
  return 0;
}

std::map<std::string, SlurmTask> queued_slurm_tasks(const SweepSpec& spec) {
  std::map<std::string, SlurmTask> tasks;
  std::ifstream jobs(slurm_dir(spec) / "jobs.jsonl");
  std::map<std::string, std::string> task_to_run;  // "JOB_INDEX" -> run name
  std::string line;
  bool any = false;
  while (std::getline(jobs, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("job_id") || !j.contains("runs")) continue;
    const std::string id = j["job_id"].get<std::string>();
    any = true;
    for (std::size_t i = 0; i < j["runs"].size(); ++i)
      task_to_run[id + "_" + std::to_string(i)] = j["runs"][i].get<std::string>();
  }
  if (!any) return tasks;
  int status = 0;
  const std::string out = capture("squeue -h -r -o '%i %T' -u \"$(id -un)\" 2>/dev/null", status);
  if (status != 0) return tasks;
  std::istringstream rows(out);
  std::string task, state;
  while (rows >> task >> state)
    if (const auto it = task_to_run.find(task); it != task_to_run.end())
      tasks[it->second] = {task, state};
  return tasks;
}

std::map<std::string, std::string> slurm_task_states(const SweepSpec& spec) {
  std::map<std::string, std::string> states;
  for (const auto& [name, task] : queued_slurm_tasks(spec)) states[name] = task.state;
  return states;
}

}  // namespace gatedlm
