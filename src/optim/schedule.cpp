#include "gatedlm/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace gatedlm {

double learning_rate(const SchedulerConfig& s, double peak, int64_t step, int64_t total) {
  if (step < s.warmup_steps) return peak * static_cast<double>(step + 1) / s.warmup_steps;
  const double span = static_cast<double>(std::max<int64_t>(1, total - s.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - s.warmup_steps) / span);
  switch (s.type) {
    case ScheduleType::cosine:
      return s.min_lr + (peak - s.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
    case ScheduleType::linear:
      return peak + (s.min_lr - peak) * progress;
    case ScheduleType::constant:
      return peak;
    case ScheduleType::wsd: {
      const int64_t decay = std::max<int64_t>(
          1, static_cast<int64_t>(std::floor(s.decay_fraction * (total - s.warmup_steps))));
      if (step < total - decay) return peak;
      const double q = std::min(1.0, static_cast<double>(step - (total - decay) + 1) / decay);
      return peak + (s.min_lr - peak) * q;
    }
  }
  return peak;
}

}  // namespace gatedlm
