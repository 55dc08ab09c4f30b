// The training loop: batches from the loader, forward/backward with gradient accumulation,
// global-norm clipping, AdamW on the scheduled LR, metrics, evaluation, analysis, checkpoints.
// A run directory with checkpoints is resumed from its latest one (bit for bit: same losses,
// same parameters as an uninterrupted run); SIGTERM/SIGINT/SIGUSR1 stop it after the current
// step with a checkpoint (train/signals.h). Trainer::run is the loop; the pieces it drives are
// train/train_setup.h (what is built from the config), train/train_step.h (one optimizer step),
// train/stability_policy.h (the verdict on each step) and train/step_observers.h (logs,
// evaluations and checkpoints between steps).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gatedlm/backend/backend.h"
#include "gatedlm/comm/communicator.h"
#include "gatedlm/config/config.h"

namespace gatedlm {

struct TrainSummary {
  int64_t steps = 0;  // steps completed, counting those before a resume
  double final_loss = 0.0;
  double final_val_loss = -1.0;  // < 0 when there is no val data
  double tokens_per_s = 0.0;
  std::string checkpoint;          // the last checkpoint written
  int64_t resumed_from_step = -1;  // -1 = a fresh start
  std::string stopped_by;          // the signal that stopped the run early, else ""
};

class Trainer {
 public:
  Trainer(const Config& config, std::string run_dir, Backend& backend);
  // Resume from this checkpoint (a checkpoint directory, its model.h5, or a run directory)
  // instead of the run directory's latest one.
  void set_resume_path(std::string path) { resume_path_ = std::move(path); }
  // The processes this run spans (comm/launch.h); without one the run is single-process.
  // Rank 0 alone writes config.yaml, metrics.jsonl and checkpoints.
  void set_world(std::unique_ptr<Communicator> world) { world_ = std::move(world); }
  TrainSummary run();

 private:
  Config config_;
  std::string run_dir_;
  Backend& backend_;
  std::string resume_path_;
  std::unique_ptr<Communicator> world_;
};

}  // namespace gatedlm
