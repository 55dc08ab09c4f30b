// A pseudorandom permutation of [0, n) with O(1) memory and random access, so the loader can
// shuffle any number of windows per epoch and jump to any position on resume: a 6-round
// balanced Feistel network on the smallest even number of bits that holds n, with cycle
// walking (re-encrypting until the value falls below n; fewer than 4 rounds trips on average).
#pragma once

#include <array>
#include <cstdint>

namespace gatedlm {

class WindowPermutation {
 public:
  WindowPermutation(uint64_t key, int64_t n);
  // The window at position `index` (0 <= index < n) of the permutation.
  int64_t operator()(int64_t index) const;
  int64_t size() const { return n_; }

 private:
  uint64_t encrypt(uint64_t x) const;

  uint64_t key_;
  int64_t n_;
  int half_bits_ = 1;
  uint64_t half_mask_ = 1;
};

// The key of one epoch's permutation, from the loader's four seed words and the epoch.
uint64_t epoch_permutation_key(const std::array<uint64_t, 4>& seed_words, int64_t epoch);

}  // namespace gatedlm
