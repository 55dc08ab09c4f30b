// Seeded, serialisable random streams. One seed fixes every random choice: each consumer
// (init, data, ...) derives its own stream with Rng::stream(seed, StreamId), so adding draws
// in one place never shifts another.
#pragma once

#include <array>
#include <cstdint>

namespace gatedlm {

enum class StreamId : uint64_t { init = 1, data = 2, eval = 3, dropout = 4, sample = 5 };

// xoshiro256** with splitmix64 seeding: fast, 256 bits of state that checkpoints store as is.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  static Rng stream(uint64_t seed, StreamId id) {
    return Rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(id));
  }

  void reseed(uint64_t seed);
  uint64_t next_u64();
  // Uniform integer in [0, bound), bound > 0, without modulo bias.
  uint64_t uniform_int(uint64_t bound);
  // Uniform double in [0, 1).
  double uniform();
  // Standard normal (Box-Muller; no cached second value, so state is just the 4 words).
  double normal();

  std::array<uint64_t, 4> state() const { return state_; }
  void set_state(const std::array<uint64_t, 4>& s) { state_ = s; }

 private:
  std::array<uint64_t, 4> state_{};
};

}  // namespace gatedlm
