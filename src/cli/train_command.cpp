#include <filesystem>

#include "commands.h"
#include "gatedlm/backend/select.h"
#include "gatedlm/comm/launch.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/config/size_limits.h"
#include "gatedlm/core/error.h"
#include "gatedlm/train/signals.h"
#include "gatedlm/train/trainer.h"

namespace gatedlm::cli {

Command add_train_command(CLI::App& app) {
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    std::string run_dir;
    std::string resume;
    int threads = 0;
    std::string device = "cpu";
    double max_memory_gib = 0;  // 0: this machine's physical memory
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("train", "Train a model from a YAML config");
  cmd->add_option("config", args->config, "config YAML (see docs/configs.md)")->required();
  cmd->add_option("--set", args->overrides, "override a key: --set model.hidden_size=256")
      ->allow_extra_args(false);
  cmd->add_option("--run-dir", args->run_dir,
                  "run directory (default: runs/<config name>); holds config.yaml, "
                  "metrics.jsonl and checkpoints/");
  cmd->add_option("--resume", args->resume,
                  "resume from this checkpoint (a checkpoint dir, its model.h5, or a run dir) "
                  "instead of the run directory's latest one");
  add_threads_option(*cmd, args->threads);
  add_device_option(*cmd, args->device);
  cmd->add_option("--max-memory", args->max_memory_gib,
                  "refuse a config whose planned memory per process exceeds this many GiB "
                  "(default: this machine's physical memory)")
      ->check(CLI::PositiveNumber);
  return {cmd, [args] {
            // First: a SIGTERM while the config, data or a checkpoint loads stops cleanly too.
            const StopSignals signals;
            const Config config = load_config(args->config, args->overrides);
            apply_threads(args->threads);
            // Before anything is allocated: a model that cannot fit is exit 2 at its key, not
            // an "out of memory" minutes later.
            if (args->max_memory_gib > 0)
              check_memory_plan(config, static_cast<uint64_t>(args->max_memory_gib * 1073741824.0),
                                "--max-memory");
            else if (const uint64_t physical = physical_memory_bytes())
              check_memory_plan(config, physical, "this machine's memory");
            std::string run_dir = args->run_dir;
            if (run_dir.empty())
              run_dir = "runs/" + std::filesystem::path(args->config).stem().string();
            // MPI collectives take host memory; GPU buffers need NCCL, which the trainer does
            // not use yet (docs/parallelism.md).
            if (args->device != "cpu" && launched_by_mpi())
              throw InputError("--device " + args->device +
                               " under mpirun/srun is not supported yet: the collectives are "
                               "MPI's, on host memory (NCCL is not wired into the trainer); use "
                               "--device cpu");
            auto backend = make_backend(args->device);
            Trainer trainer(config, run_dir, *backend);
            trainer.set_resume_path(args->resume);
            trainer.set_world(make_world_communicator());
            trainer.run();
            return 0;
          }};
}

}  // namespace gatedlm::cli
