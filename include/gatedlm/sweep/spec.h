// Sweep specs (YAML, ../shared/interfaces.md "Sweep spec"): a base config, named variants (key
// overrides), a grid (cartesian product of key lists, crossed with the variants) and seeds,
// expanded into runs. Optional stages (docs/sweeps.md "Staged sweeps") repeat every run once per
// stage; a stage may continue from another stage's checkpoint and evaluate the finished run. Every
// run's config is resolved and validated at load time, so a bad override fails before anything
// starts, at the spec's file:line:col.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gatedlm/config/config.h"

namespace gatedlm {

// What the Slurm executor asks for per run (one array task per run).
struct SlurmResources {
  std::string partition;
  std::string account;
  std::string qos;
  std::string time = "24:00:00";  // the per-task limit, as sbatch --time reads it
  std::string mem;                // e.g. "64G"; empty = the cluster default
  int64_t nodes = 1;
  int64_t ntasks_per_node = 1;  // ranks per node; > 1 rank in all starts them with srun
  int64_t cpus_per_task = 1;
  int64_t gpus_per_node = 0;
  int64_t signal_before_s = 120;         // USR1 this long before the limit: checkpoint, requeue
  std::string srun_mpi = "pmix";         // srun --mpi=... for multi-rank runs
  std::vector<std::string> sbatch_args;  // extra "#SBATCH" options, e.g. "--constraint=h100"
  std::vector<std::string> setup;        // shell lines run first in each task (module load ...)

  int64_t ranks() const { return nodes * ntasks_per_node; }
};

// One `gatedlm eval` of a finished run (a stage's `evaluate:`); its JSON goes to RUN/file.
struct SweepEval {
  std::string setting;  // the name of its evaluate.settings entry ("plain", "yarn", ...)
  int64_t seq_len = 0;
  int64_t buckets = 0;  // --per-position-buckets
  int64_t batches = 0;  // of one window each; 0 = every whole window
  std::string data;
  std::vector<std::string> overrides;  // eval --set key=value (RoPE keys only)
  std::string file;                    // relative to the run directory: evals/SETTING-LEN.json
};

struct SweepRun {
  std::string name;
  std::string variant;  // the variant's name; "" when the spec has none
  std::string stage;    // "" when the spec has no stages
  // The run whose latest checkpoint this one starts from (gatedlm train --resume), and its
  // directory; empty for a fresh start. It comes earlier in SweepSpec::runs.
  std::string resume_from, resume_dir;
  std::vector<SweepEval> evals;  // after training
  // Every key the spec sets for this run, in the order applied: dotted key, value as YAML text.
  std::vector<std::pair<std::string, std::string>> overrides;
  Config config;
  std::string dir;  // out_dir/name
};

struct SweepSpec {
  std::string path;
  std::string name;     // the spec file's stem
  std::string out_dir;  // relative to the working directory, as run directories are
  SlurmResources slurm;
  std::vector<SweepRun> runs;  // a run's resume_from comes before it

  const SweepRun* find(const std::string& run_name) const;
};

// `gatedlm eval ...` for `eval` of `run`, without the binary and --threads; the JSON goes to
// stdout. One command line for both executors.
std::vector<std::string> eval_arguments(const SweepRun& run, const SweepEval& eval);

// Reads and expands `path`. `overrides` ("key=value", as gatedlm train --set) apply to every run
// after the spec's own; a non-empty `out_dir` replaces the spec's. Throws InputError.
SweepSpec load_sweep_spec(const std::string& path, const std::vector<std::string>& overrides = {},
                          const std::string& out_dir = "");

}  // namespace gatedlm
