#include "gatedlm/data/window_permutation.h"

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace gatedlm {
namespace {

constexpr int kRounds = 6;

// splitmix64's finaliser: a bijective 64-bit mixer with full avalanche.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

WindowPermutation::WindowPermutation(uint64_t key, int64_t n) : key_(key), n_(n) {
  if (n < 1 || n > (int64_t{1} << 62)) {
    throw std::invalid_argument("WindowPermutation: expected 1 <= n <= 2^62");
  }
  const int bits = std::max(2, static_cast<int>(std::bit_width(static_cast<uint64_t>(n - 1))));
  half_bits_ = (bits + 1) / 2;
  half_mask_ = (uint64_t{1} << half_bits_) - 1;
}

uint64_t WindowPermutation::encrypt(uint64_t x) const {
  uint64_t left = x >> half_bits_;
  uint64_t right = x & half_mask_;
  for (int round = 0; round < kRounds; ++round) {
    const uint64_t f =
        mix64(key_ ^ mix64(right + (static_cast<uint64_t>(round) << 58))) & half_mask_;
    const uint64_t next_right = left ^ f;
    left = right;
    right = next_right;
  }
  return left << half_bits_ | right;
}

int64_t WindowPermutation::operator()(int64_t index) const {
  // The network permutes [0, 2^(2*half_bits)) and n is at least a quarter of that; following
  // the cycle from index returns below n, because index itself is.
  auto x = static_cast<uint64_t>(index);
  do {
    x = encrypt(x);
  } while (x >= static_cast<uint64_t>(n_));
  return static_cast<int64_t>(x);
}

uint64_t epoch_permutation_key(const std::array<uint64_t, 4>& seed_words, int64_t epoch) {
  uint64_t key = mix64(static_cast<uint64_t>(epoch) + 0x9E3779B97F4A7C15ULL);
  for (const uint64_t word : seed_words) key = mix64(key ^ word);
  return key;
}

}  // namespace gatedlm
