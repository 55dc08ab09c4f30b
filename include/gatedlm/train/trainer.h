// The training loop: batches from the loader, forward/backward with gradient accumulation,
// global-norm clipping, AdamW on the scheduled LR, metrics, evaluation, analysis, checkpoints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gatedlm/backend/backend.h"
#include "gatedlm/config/config.h"

namespace gatedlm {

struct TrainSummary {
  int64_t steps = 0;
  double final_loss = 0.0;
  double final_val_loss = -1.0;  // < 0 when there is no val data
  double tokens_per_s = 0.0;
  std::string checkpoint;  // the last checkpoint written
};

class Trainer {
 public:
  Trainer(const Config& config, std::string run_dir, Backend& backend);
  TrainSummary run();

 private:
  Config config_;
  std::string run_dir_;
  Backend& backend_;
};

}  // namespace gatedlm
