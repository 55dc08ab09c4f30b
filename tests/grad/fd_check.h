// Finite-difference gradient checking for fp32 code.
//  - Sampled inputs are first rounded to multiples of 2^-16, so x +- h and x +- 2h (h = 2^-7)
//    are exact in fp32 and the stencil is truly symmetric.
//  - The 4th-order central stencil (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h keeps the
//    truncation error ~h^4 (negligible); what remains is fp32 rounding in f, ~1e-7 relative.
//  - Each tensor passes when the norm-wise relative error over its samples is below `tol`.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "gatedlm/core/rng.h"

namespace gatedlm::test {

struct FdTarget {
  std::string name;
  float* value;     // the tensor perturbed
  int64_t size;
  std::vector<float> analytic;  // d loss / d value, filled by the caller before the check
};

constexpr double kFdStep = 1.0 / 128.0;
constexpr double kFdTolerance = 2e-3;

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
    double err2 = 0.0, ref2 = 0.0, max_abs_analytic = 0.0;
    for (int64_t i : idx) {
      const float x0 = t.value[i];
      auto at = [&](double k) {
        t.value[i] = static_cast<float>(x0 + k * kFdStep);
        return loss();
      };
      const double numeric = (-at(2) + 8 * at(1) - 8 * at(-1) + at(-2)) / (12 * kFdStep);
      t.value[i] = x0;
      const double a = t.analytic[i];
      err2 += (numeric - a) * (numeric - a);
      ref2 += numeric * numeric;
      max_abs_analytic = std::max(max_abs_analytic, std::fabs(a));
    }
    // A tensor whose true gradient vanishes is judged on absolute error.
    const double denom = std::max(std::sqrt(ref2), 1e-6 * std::sqrt(double(idx.size())));
    const double rel = std::sqrt(err2) / denom;
    worst = std::max(worst, rel);
    EXPECT_LE(rel, tol) << t.name << ": relative error " << rel << " over " << idx.size()
                        << " samples (|numeric| " << std::sqrt(ref2) << ")";
  }
  return worst;
}

// Random fills for test inputs.
inline void fill_normal(std::vector<float>& v, Rng& rng, double std) {
  for (float& x : v) x = static_cast<float>(rng.normal() * std);
}

}  // namespace gatedlm::test
