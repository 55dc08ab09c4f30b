// Typed tensors and the typed ops (core/tensor.h, backend.h): a tensor refuses to be read as
// another dtype, and the CPU backend's conversion and bf16 GEMM follow core/dtype.h's rounding
// exactly (the rounding itself: test_safetensors.cpp, Bf16RoundsToNearestEven).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/core/rng.h"

namespace gatedlm {
namespace {

TEST(TypedTensor, RefusesToBeReadAsAnotherDtype) {
  auto be = make_cpu_backend();
  Tensor ids = be->empty({5}, DType::i32);
  EXPECT_EQ(ids.dtype(), DType::i32);
  EXPECT_EQ(ids.bytes(), 20u);
  EXPECT_NO_THROW(ids.data_as<int32_t>());
  EXPECT_THROW(ids.data(), std::logic_error);
  Tensor half = be->empty({4, 3}, DType::bf16);
  EXPECT_EQ(half.bytes(), 24u);
  const Tensor row = half.view({3}, 6);
  EXPECT_EQ(row.dtype(), DType::bf16);
  EXPECT_EQ(static_cast<char*>(row.raw()) - static_cast<char*>(half.raw()), 12);
  EXPECT_THROW(half.view({7}, 6), std::logic_error);  // past the buffer
  EXPECT_EQ(be->empty({2}).dtype(), DType::f32);
}

std::vector<float> random_values(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.normal());
  return v;
}

TEST(TypedOps, ConvertRoundsEachElementAndWidensExactly) {
  auto be = make_cpu_backend();
  const std::vector<float> x = random_values(1001, 3);
  std::vector<bf16_t> half(x.size());
  std::vector<float> back(x.size());
  be->convert(half.data(), x.data(), 1001);
  be->convert(back.data(), half.data(), 1001);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(half[i].bits, float_to_bf16(x[i]).bits) << i;
    ASSERT_EQ(back[i], bf16_to_float(half[i])) << i;
    ASSERT_LE(std::abs(back[i] - x[i]), std::abs(x[i]) * std::ldexp(1.0f, -8)) << i;
  }
  EXPECT_THROW(be->convert(View(back.data()), ConstView(half.data(), DType::i32), 1),
               std::logic_error);
}

// A bf16 GEMM is the fp32 GEMM of the rounded operands (fp32 accumulation), with a bf16 C
// rounded once at the end: bitwise, at every transpose and with row strides.
TEST(TypedOps, Bf16GemmIsTheFp32GemmOfTheRoundedOperands) {
  auto be = make_cpu_backend();
  const int64_t m = 7, n = 9, k = 11;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const int64_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 3, ldc = n + 1;
      std::vector<float> a = random_values((ta ? k : m) * lda, 5),
                         b = random_values((tb ? n : k) * ldb, 6);
      std::vector<bf16_t> a16(a.size()), b16(b.size());
      for (size_t i = 0; i < a.size(); ++i) a16[i] = float_to_bf16(a[i]);
      for (size_t i = 0; i < b.size(); ++i) b16[i] = float_to_bf16(b[i]);
      for (size_t i = 0; i < a.size(); ++i) a[i] = bf16_to_float(a16[i]);
      for (size_t i = 0; i < b.size(); ++i) b[i] = bf16_to_float(b16[i]);
      std::vector<float> want(static_cast<size_t>(m * ldc), 0.5f), got = want;
      be->gemm(ta, tb, m, n, k, 1.5f, {a.data(), lda}, {b.data(), ldb}, 0.25f, {want.data(), ldc});
      be->gemm(ta, tb, m, n, k, 1.5f, {a16.data(), lda}, {b16.data(), ldb}, 0.25f,
               {got.data(), ldc});
      EXPECT_EQ(got, want) << "ta=" << ta << " tb=" << tb;
      std::vector<bf16_t> c16(static_cast<size_t>(m * ldc), float_to_bf16(0.5f));
      be->gemm(ta, tb, m, n, k, 1.5f, {a16.data(), lda}, {b16.data(), ldb}, 0.25f,
               {c16.data(), ldc});
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < n; ++c)
          ASSERT_EQ(c16[r * ldc + c].bits, float_to_bf16(want[r * ldc + c]).bits)
              << "bf16 C at " << r << "," << c << " ta=" << ta << " tb=" << tb;
    }
}

}  // namespace
}  // namespace gatedlm
