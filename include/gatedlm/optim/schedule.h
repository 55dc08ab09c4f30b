// Learning-rate schedules: linear warmup, then cosine, linear, WSD (warmup-stable-decay) or
// constant, between optimizer.lr and scheduler.min_lr.
#pragma once

#include <cstdint>

#include "gatedlm/config/config.h"

namespace gatedlm {

// The LR used at 0-based `step` of a run of `total_steps`.
double learning_rate(const SchedulerConfig& schedule, double peak_lr, int64_t step,
                     int64_t total_steps);

}  // namespace gatedlm
