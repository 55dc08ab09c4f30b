#include "gatedlm/train/stability.h"

#include <fmt/format.h>

#include <cmath>

#include "gatedlm/config/enum_names.h"

namespace gatedlm {

SpikeDetector::SpikeDetector(double zscore_threshold, int64_t window)
    : threshold_(zscore_threshold), window_(window) {}

std::optional<double> SpikeDetector::zscore(double loss) const {
  if (window_ < 2 || static_cast<int64_t>(losses_.size()) < window_) return std::nullopt;
  double sum = 0.0, sum_sq = 0.0;
  for (const auto& [step, value] : losses_) sum += value;
  const double mean = sum / static_cast<double>(losses_.size());
  for (const auto& [step, value] : losses_) sum_sq += (value - mean) * (value - mean);
  const double std = std::sqrt(sum_sq / static_cast<double>(losses_.size()));
  if (!(std > 0.0)) return std::nullopt;
  return (loss - mean) / std;
}

bool SpikeDetector::is_spike(double loss) const {
  if (threshold_ <= 0.0) return false;
  const std::optional<double> z = zscore(loss);
  return z && *z > threshold_;
}

void SpikeDetector::add(int64_t step, double loss) {
  losses_.emplace_back(step, loss);
  while (static_cast<int64_t>(losses_.size()) > window_) losses_.pop_front();
}

void SpikeDetector::forget_after(int64_t step) {
  while (!losses_.empty() && losses_.back().first > step) losses_.pop_back();
}

StabilityMonitor::StabilityMonitor(const StabilityConfig& config)
    : config_(config), detector_(config.spike_zscore, config.spike_window) {}

StepCheck StabilityMonitor::check(int64_t step, double loss, double grad_norm) {
  StepCheck check = judge(step, loss, grad_norm);
  if (check.verdict == StepVerdict::rollback &&
      batches_to_skip(step) >= config_.max_rollbacks_per_step) {
    check.verdict = StepVerdict::stop;
    check.event["action"] = "stop";
    check.stop_reason = fmt::format("stability.max_rollbacks_per_step ({}) reached",
                                    config_.max_rollbacks_per_step);
  }
  return check;
}

StepCheck StabilityMonitor::judge(int64_t step, double loss, double grad_norm) const {
  StepCheck check;
  if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
    switch (config_.on_nonfinite) {
      case NonFinitePolicy::skip:
        check.verdict = StepVerdict::skip;
        break;
      case NonFinitePolicy::rollback:
        check.verdict = StepVerdict::rollback;
        break;
      case NonFinitePolicy::stop:
        check.verdict = StepVerdict::stop;
        check.stop_reason = "stability.on_nonfinite stops";
        break;
    }
    // JSON has no NaN or infinity: the values are written as text.
    check.event = {{"step", step},
                   {"event", "nonfinite"},
                   {"event_loss", std::to_string(loss)},
                   {"grad_norm", std::to_string(grad_norm)},
                   {"action", std::string(enum_name(config_.on_nonfinite))}};
    return check;
  }
  if (!detector_.is_spike(loss)) return check;
  switch (config_.on_spike) {
    case SpikePolicy::none:
      check.verdict = StepVerdict::apply;
      break;
    case SpikePolicy::skip:
      check.verdict = StepVerdict::skip;
      break;
    case SpikePolicy::rollback:
      check.verdict = StepVerdict::rollback;
      break;
  }
  check.event = {{"step", step},
                 {"event", "spike"},
                 {"event_loss", loss},
                 {"zscore", *detector_.zscore(loss)},
                 {"action", std::string(enum_name(config_.on_spike))}};
  return check;
}

void StabilityMonitor::applied(int64_t step, double loss) { detector_.add(step, loss); }

void StabilityMonitor::rolled_back(int64_t to_step, int64_t offending_step) {
  detector_.forget_after(to_step);
  ++skip_batches_[offending_step];
}

int64_t StabilityMonitor::batches_to_skip(int64_t step) const {
  const auto it = skip_batches_.find(step);
  return it == skip_batches_.end() ? 0 : it->second;
}

}  // namespace gatedlm
