// The shared per-element math (backend/kernel_math.h) against the C library: exp_f32, which the
// CPU loops use so they vectorise, over the whole float range and at its edges.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "gatedlm/backend/kernel_math.h"

namespace gatedlm {
namespace {

// Distance in units in the last place between two finite floats of the same sign.
int64_t ulps_apart(float a, float b) {
  int32_t ia = 0, ib = 0;
  std::memcpy(&ia, &a, sizeof a);
  std::memcpy(&ib, &b, sizeof b);
  return std::abs(static_cast<int64_t>(ia) - static_cast<int64_t>(ib));
}

// Every float from -87.3 to 88.7 whose bit pattern is a multiple of 97 (about 20 million inputs,
// every exponent and many mantissas): within 2 ulp of exp correctly rounded (from double).
TEST(KernelMath, ExpIsWithinTwoUlpOverTheWholeRange) {
  int64_t worst = 0, checked = 0;
  float worst_at = 0.0f;
  for (const float sign : {1.0f, -1.0f}) {
    for (uint32_t bits = 0; bits < 0x42B20000u; bits += 97) {  // |x| < 89
      float magnitude = 0.0f;
      std::memcpy(&magnitude, &bits, sizeof bits);
      const float x = sign * magnitude;
      if (x < -87.33f || x > 88.72f) continue;
      const float expected = static_cast<float>(std::exp(static_cast<double>(x)));
      const int64_t ulps = ulps_apart(exp_f32(x), expected);
      if (ulps > worst) {
        worst = ulps;
        worst_at = x;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 10'000'000);
  EXPECT_LE(worst, 2) << "at x = " << worst_at;
}

TEST(KernelMath, ExpIsExactAtTheEdges) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(exp_f32(0.0f), 1.0f);
  EXPECT_EQ(exp_f32(-inf), 0.0f);
  EXPECT_EQ(exp_f32(-1000.0f), 0.0f);
  EXPECT_EQ(exp_f32(-88.0f), 0.0f);  // exp(-88) = 6e-39 is denormal: flushed to 0
  EXPECT_EQ(exp_f32(inf), inf);
  EXPECT_EQ(exp_f32(89.0f), inf);
  EXPECT_TRUE(std::isnan(exp_f32(std::nanf(""))));
  EXPECT_GT(exp_f32(88.7f), 1e38f);
  EXPECT_LT(exp_f32(88.7f), inf);
  // sigmoid saturates cleanly and keeps NaN.
  EXPECT_EQ(sigmoid(-inf), 0.0f);
  EXPECT_EQ(sigmoid(inf), 1.0f);
  EXPECT_FLOAT_EQ(sigmoid(0.0f), 0.5f);
  EXPECT_TRUE(std::isnan(sigmoid(std::nanf(""))));
}

}  // namespace
}  // namespace gatedlm
