// Finite-difference gradient checking for fp32 code.
//  - Sampled inputs are first rounded to multiples of 2^-16, so x +- h and x +- 2h (h = 2^-7)
//    are exact in fp32 and the stencil is truly symmetric.
//  - The 4th-order central stencil (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h is taken at
//    h = 2^-6, 2^-8 and 2^-10. Large steps suffer truncation where the loss curves sharply,
//    small ones fp32 rounding in f; the two neighbouring estimates that agree best give the
//    numeric gradient (their mean) and its uncertainty (their difference), per sample.
//  - A tensor passes when ||numeric - analytic|| <= tol * ||numeric|| + ||uncertainty|| +
//    atol * sqrt(samples). Where the estimates agree (almost everywhere, to ~1e-5 relative) the
//    check is as strict as tol; where finite differences cannot resolve the gradient it says so
//    instead of failing. atol = 5e-5 is the rounding floor for gradients that are truly ~0
//    (e.g. a headwise gate in front of a norm).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "gatedlm/core/rng.h"

namespace gatedlm::test {

struct FdTarget {
  std::string name;
  float* value;  // the tensor perturbed
  int64_t size;
  std::vector<float> analytic;  // d loss / d value, filled by the caller before the check
};

constexpr double kFdSteps[] = {1.0 / 64.0, 1.0 / 256.0, 1.0 / 1024.0};
constexpr double kFdTolerance = 2e-3;
constexpr double kFdAbsoluteFloor = 5e-5;

inline void round_for_fd(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::ldexp(std::nearbyint(std::ldexp(x[i], 16)), -16);
}

// Returns the worst norm-wise relative error over the targets; records a gtest failure for any
// target above tol.
inline double check_gradients(std::vector<FdTarget>& targets, const std::function<double()>& loss,
                              int samples_per_target, uint64_t seed, double tol = kFdTolerance) {
  Rng rng(seed);
  double worst = 0.0;
  for (FdTarget& t : targets) {
    std::vector<int64_t> idx;
    if (t.size <= samples_per_target) {
      for (int64_t i = 0; i < t.size; ++i) idx.push_back(i);
    } else {
      for (int s = 0; s < samples_per_target; ++s)
        idx.push_back(static_cast<int64_t>(rng.uniform_int(t.size)));
    }
    double err2 = 0.0, ref2 = 0.0, unc2 = 0.0;
    for (int64_t i : idx) {
      const float x0 = t.value[i];
      auto stencil = [&](double h) {
        auto at = [&](double k) {
          t.value[i] = static_cast<float>(x0 + k * h);
          return loss();
        };
        return (-at(2) + 8 * at(1) - 8 * at(-1) + at(-2)) / (12 * h);
      };
      double estimates[3];
      for (int k = 0; k < 3; ++k) estimates[k] = stencil(kFdSteps[k]);
      t.value[i] = x0;
      const int best =
          std::fabs(estimates[0] - estimates[1]) <= std::fabs(estimates[1] - estimates[2]) ? 0 : 1;
      const double numeric = 0.5 * (estimates[best] + estimates[best + 1]);
      const double uncertainty = std::fabs(estimates[best] - estimates[best + 1]);
      unc2 += uncertainty * uncertainty;
      const double a = t.analytic[i];
      if (std::getenv("GATEDLM_FD_VERBOSE"))
        std::printf("  %s[%lld] numeric %.6g analytic %.6g (steps: %.6g %.6g %.6g)\n",
                    t.name.c_str(), static_cast<long long>(i), numeric, a, estimates[0],
                    estimates[1], estimates[2]);
      err2 += (numeric - a) * (numeric - a);
      ref2 += numeric * numeric;
    }
    const double allowed =
        tol * std::sqrt(ref2) + std::sqrt(unc2) + kFdAbsoluteFloor * std::sqrt(double(idx.size()));
    const double rel = std::sqrt(err2) / std::max(std::sqrt(ref2), 1e-30);
    worst = std::max(worst, rel);
    EXPECT_LE(std::sqrt(err2), allowed)
        << t.name << ": relative error " << rel << " over " << idx.size() << " samples (|numeric| "
        << std::sqrt(ref2) << ")";
  }
  return worst;
}

// Random fills for test inputs.
inline void fill_normal(std::vector<float>& v, Rng& rng, double std) {
  for (float& x : v) x = static_cast<float>(rng.normal() * std);
}

}  // namespace gatedlm::test
