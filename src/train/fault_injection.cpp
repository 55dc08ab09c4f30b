#include "gatedlm/train/fault_injection.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <string_view>

#include "gatedlm/backend/backend.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

constexpr const char* kNanGradSteps = "GATEDLM_FAULT_NAN_GRAD_STEPS";
constexpr const char* kNanLossSteps = "GATEDLM_FAULT_NAN_LOSS_STEPS";

// "3,5" -> {3, 5}; unset or empty -> {}.
std::vector<int64_t> steps_from(const char* variable) {
  const char* value = std::getenv(variable);
  std::vector<int64_t> steps;
  if (!value) return steps;
  std::string_view rest(value);
  while (!rest.empty()) {
    const size_t comma = std::min(rest.find(','), rest.size());
    const std::string_view item = rest.substr(0, comma);
    int64_t step = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), step);
    if (error != std::errc() || end != item.data() + item.size() || step < 1)
      throw InputError(
          fmt::format("{}={}: expected a comma-separated list of steps >= 1", variable, value));
    steps.push_back(step);
    rest.remove_prefix(std::min(comma + 1, rest.size()));
  }
  return steps;
}

// Whether `step` is listed; the occurrence is used up, so a listed step fires once (a replay
// after a rollback meets it again only if it is listed again).
bool take(std::vector<int64_t>& steps, int64_t step) {
  const auto it = std::find(steps.begin(), steps.end(), step);
  if (it == steps.end()) return false;
  steps.erase(it);
  return true;
}

}  // namespace

FaultInjection FaultInjection::from_environment() {
  FaultInjection faults;
  faults.nan_grad_steps_ = steps_from(kNanGradSteps);
  faults.nan_loss_steps_ = steps_from(kNanLossSteps);
  if (faults.enabled())
    spdlog::warn("fault injection is on ({}, {}): for tests only", kNanGradSteps, kNanLossSteps);
  return faults;
}

double FaultInjection::apply(int64_t step, double loss, ParameterSet& params) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (take(nan_grad_steps_, step) && params.numel() > 0)
    params.backend().from_host(params.grad(0), &nan, 1);
  return take(nan_loss_steps_, step) ? std::numeric_limits<double>::quiet_NaN() : loss;
}

}  // namespace gatedlm
