// Sweep specs (YAML, ../shared/interfaces.md "Sweep spec"): a base config, named variants (key
// overrides), a grid (cartesian product of key lists, crossed with the variants) and seeds,
// expanded into runs. Every run's config is resolved and validated at load time, so a bad
// override fails before anything starts, at the spec's file:line:col.
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

struct SweepRun {
  std::string name;
  std::string variant;  // the variant's name; "" when the spec has none
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
  std::vector<SweepRun> runs;
};

// Reads and expands `path`. `overrides` ("key=value", as gatedlm train --set) apply to every run
// after the spec's own; a non-empty `out_dir` replaces the spec's. Throws InputError.
SweepSpec load_sweep_spec(const std::string& path, const std::vector<std::string>& overrides = {},
                          const std::string& out_dir = "");

}  // namespace gatedlm
