#include "gatedlm/sweep/status.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "gatedlm/sweep/run_state.h"
#include "gatedlm/sweep/slurm_executor.h"

namespace gatedlm {

std::string sweep_status_text(const SweepSpec& spec) {
  const std::map<std::string, std::string> queued = slurm_task_states(spec);
  std::map<std::string, int> counts;
  std::size_t width = 4;
  for (const SweepRun& run : spec.runs) width = std::max(width, run.name.size());
  std::string out = fmt::format("{:<{}}  {:<8}  {}\n", "run", width, "state", "detail");
  for (const SweepRun& run : spec.runs) {
    RunStatus status = read_run_status(run.dir);
    if (const auto it = queued.find(run.name);
        it != queued.end() && status.state != RunState::done) {
      // squeue knows better than the directory whether a task waits or runs.
      status.state = it->second == "RUNNING" ? RunState::running : RunState::pending;
      status.detail = "slurm " + it->second + (status.detail.empty() ? "" : ", " + status.detail);
    }
    if (status.state == RunState::pending && !run.resume_from.empty() &&
        !run_finished(run.resume_dir) && status.checkpoint_step == 0)
      status.detail = "after " + run.resume_from;
    if (!run.evals.empty())
      status.detail += fmt::format("{}evals {}/{}", status.detail.empty() ? "" : ", ",
                                   evals_done(run), run.evals.size());
    ++counts[run_state_name(status.state)];
    out += fmt::format("{:<{}}  {:<8}  {}\n", run.name, width, run_state_name(status.state),
                       status.detail);
  }
  out += fmt::format("{} runs: {} done, {} running, {} failed, {} pending\n", spec.runs.size(),
                     counts["done"], counts["running"], counts["failed"], counts["pending"]);
  std::size_t evals = 0, written = 0;
  for (const SweepRun& run : spec.runs) {
    evals += run.evals.size();
    written += evals_done(run);
  }
  if (evals > 0) out += fmt::format("{} evaluations: {} written\n", evals, written);
  return out;
}

}  // namespace gatedlm
