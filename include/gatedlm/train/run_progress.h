// How far a training run has come: the counts that checkpoints record, the log line reports and
// done.json ends with. One per run, shared by the loop and the observers that read it.
#pragma once

#include <cstdint>

#include "gatedlm/checkpoint/state.h"
#include "gatedlm/train/progress.h"
#include "gatedlm/train/train_step.h"

namespace gatedlm {

struct RunProgress {
  int64_t start_step = 0;       // the steps done when this process started (its checkpoint's)
  int64_t tokens = 0;           // trained on so far, counting the sessions before a resume
  double last_lr = 0.0;         // the LR of the last applied update
  double elapsed_before = 0.0;  // training seconds of the sessions before a resume
  Stopwatch wall;               // this session's training time (restarted before the first step)

  double elapsed_s() const { return elapsed_before + wall.seconds(); }
  void resume_from(const CheckpointState& state) {
    start_step = state.step;
    tokens = state.tokens_seen;
    elapsed_before = state.elapsed_s;
  }
  // Counts an applied update (a skipped or rolled-back step counts nothing).
  void applied(const StepResult& step) {
    last_lr = step.lr;
    tokens += step.tokens;
  }
};

}  // namespace gatedlm
