#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "gatedlm/core/error.h"
#include "gatedlm/sweep/local_executor.h"
#include "gatedlm/sweep/slurm_executor.h"
#include "gatedlm/sweep/spec.h"
#include "gatedlm/sweep/status.h"

namespace gatedlm::cli {

namespace {

// This executable, which the runs (and Slurm tasks) start.
std::string self_binary() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw RuntimeFailure("cannot find the gatedlm executable (/proc/self/exe)");
  return path.string();
}

}  // namespace

Command add_sweep_command(CLI::App& app) {
  struct Args {
    std::string spec;
    std::string executor = "local";
    int max_parallel = -1;
    int threads = 0;
    bool dry_run = false;
    bool status = false;
    std::vector<std::string> overrides;
    std::string out_dir;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Expand a sweep spec into runs and train them (locally or on Slurm); idempotent");
  cmd->add_option("spec", args->spec, "sweep spec YAML (see docs/sweeps.md)")->required();
  cmd->add_option("--executor", args->executor, "local (default) or slurm")
      ->check(CLI::IsMember({"local", "slurm"}));
  cmd->add_option("--max-parallel", args->max_parallel,
                  "runs at once (local: default 1; slurm: array throttle, default none)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", args->threads,
                  "local: CPU threads divided among the parallel runs (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--dry-run", args->dry_run,
                "list the runs and their overrides (with slurm: also the sbatch script); start "
                "nothing");
  cmd->add_flag("--status", args->status, "show each run: done, running, failed or pending");
  cmd->add_option("--set", args->overrides, "override a key in every run: --set train.steps=100")
      ->allow_extra_args(false);
  cmd->add_option("--out", args->out_dir, "sweep directory (default: the spec's out_dir)");
  return {cmd, [args] {
            const SweepSpec spec = load_sweep_spec(args->spec, args->overrides, args->out_dir);
            if (args->status) {
              std::fputs(sweep_status_text(spec).c_str(), stdout);
              return 0;
            }
            SlurmOptions slurm;
            slurm.max_parallel = std::max(args->max_parallel, 0);
            slurm.binary = self_binary();
            slurm.workdir = std::filesystem::current_path().string();
            if (args->dry_run) {
              for (const SweepRun& run : spec.runs) {
                std::string line = run.name;
                for (const auto& [key, value] : run.overrides) line += "  " + key + "=" + value;
                if (!run.resume_from.empty())
                  line += "\n  resumes from " + run.resume_from + " (" + run.resume_dir + ")";
                for (const SweepEval& eval : run.evals) {
                  line += "\n  then " + eval.file + ": gatedlm";
                  for (const std::string& arg : eval_arguments(run, eval)) line += " " + arg;
                }
                std::printf("%s\n", line.c_str());
              }
              std::printf("%zu runs in %s\n", spec.runs.size(), spec.out_dir.c_str());
              if (args->executor == "slurm") {
                std::vector<const SweepRun*> runs;
                for (const SweepRun& run : spec.runs) runs.push_back(&run);
                const auto waves = slurm_waves(runs);
                for (std::size_t w = 0; w < waves.size(); ++w)
                  std::printf("\n%s",
                              slurm_array_script(
                                  spec, waves[w], slurm,
                                  w == 0 ? "" : "afterok:<wave " + std::to_string(w) + " tasks>")
                                  .c_str());
              }
              return 0;
            }
            if (args->executor == "slurm") return submit_sweep_to_slurm(spec, slurm);
            LocalOptions local;
            local.max_parallel = args->max_parallel > 0 ? args->max_parallel : 1;
            local.total_threads = args->threads;
            local.binary = self_binary();
            return run_sweep_locally(spec, local);
          }};
}

}  // namespace gatedlm::cli
