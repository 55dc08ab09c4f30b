// Runs a sweep on a Slurm cluster: an sbatch job array, one task per unfinished run (one array
// per wave of a staged sweep, each held with --dependency=afterok on the tasks it continues), with
// --requeue, and --signal=B:USR1@signal_before_s so that a run checkpoints before its time limit
// and requeues itself; resources per task from the spec's `slurm:` section; ranks > 1 start
// with srun. Each task trains RUN (resuming from its checkpoint), writes RUN/failed.json on
// failure, and holds RUN/.lock while it trains; then it runs the run's evaluations. Submissions are
// recorded in OUT/slurm/jobs.jsonl.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "gatedlm/sweep/spec.h"

namespace gatedlm {

struct SlurmOptions {
  int max_parallel = 0;  // array throttle (%N); 0 = none
  std::string binary;    // the gatedlm executable, as the compute nodes see it
  std::string workdir;   // where the tasks run (the run directories are relative to it)
};

// The sbatch script for `runs` (a job array over them); `dependency` (e.g. "afterok:12_0:12_1")
// holds the array until the tasks it names have succeeded.
std::string slurm_array_script(const SweepSpec& spec, const std::vector<const SweepRun*>& runs,
                               const SlurmOptions& options, const std::string& dependency = "");

// `runs` (in spec order) split into arrays submitted one after another: a run goes one wave
// after the run it continues from when that one is among `runs`, else into the first.
std::vector<std::vector<const SweepRun*>> slurm_waves(const std::vector<const SweepRun*>& runs);

// Writes the script for the unfinished runs to OUT/slurm/, submits it with sbatch and prints the
// job id. 0 on success (also when nothing is left to run); RuntimeFailure when sbatch fails.
int submit_sweep_to_slurm(const SweepSpec& spec, const SlurmOptions& options);

struct SlurmTask {
  std::string id;     // "JOB_INDEX"
  std::string state;  // PENDING, RUNNING, ...
};

// Run name -> the task of this sweep's submissions (OUT/slurm/jobs.jsonl) that squeue still
// lists; empty when squeue is unavailable.
std::map<std::string, SlurmTask> queued_slurm_tasks(const SweepSpec& spec);

// Run name -> Slurm state (PENDING, RUNNING, ...) of the tasks this sweep submitted that squeue
// still lists; empty when squeue is unavailable.
std::map<std::string, std::string> slurm_task_states(const SweepSpec& spec);

}  // namespace gatedlm
