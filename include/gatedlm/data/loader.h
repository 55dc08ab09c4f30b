// The loader interface the trainer sees. The llm.c-shard window loader implements it now; the
// data-pipeline issue may add others behind the same interface.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gatedlm {

// One micro-batch: B windows of T inputs and their T next-token targets, row-major [B, T].
struct TokenBatch {
  int64_t batch = 0;
  int64_t seq_len = 0;
  std::vector<int32_t> inputs;
  std::vector<int32_t> targets;
};

// Everything needed to continue the exact same stream of batches after a restart.
struct LoaderState {
  std::array<uint64_t, 4> rng{};  // random order: the words that key every epoch's permutation
  int64_t epoch = 0;              // random order: passes completed over all windows
  int64_t cursor = 0;             // next global window position (random: within the epoch)
  int64_t batches_served = 0;
};

class BatchLoader {
 public:
  virtual ~BatchLoader() = default;
  virtual void next(TokenBatch& out) = 0;
  virtual LoaderState state() const = 0;
  virtual void set_state(const LoaderState& state) = 0;
  // Restart from the beginning (sequential) or from the seeded start (random).
  virtual void reset() = 0;
  virtual int64_t total_tokens() const = 0;
  // Distinct windows in the data, over all ranks together: one epoch (random order) or one
  // pass before wrapping (sequential order).
  virtual int64_t num_windows() const = 0;
};

enum class WindowOrder { random, sequential };

struct WindowLoaderOptions {
  std::string pattern;  // a path or a glob of shards
  int64_t batch = 1;
  int64_t seq_len = 1;
  WindowOrder order = WindowOrder::random;
  uint64_t seed = 1;       // random order: permutations keyed by Rng::stream(seed, data)
  int64_t vocab_size = 0;  // > 0: a token >= vocab_size is an InputError naming file and offset
  // Data parallelism: this rank reads disjoint windows (rank, world) of the same stream.
  int64_t rank = 0;
  int64_t world = 1;
  // >= 0: inputs are [bos, t_0 .. t_{T-2}] and targets [t_0 .. t_{T-1}] for window tokens t, so
  // every token is still a target once per pass (docs/data.md).
  int32_t bos_token = -1;
};

// Reads memory-mapped llm.c shards and Megatron indexed datasets (data/token_stream.h,
// docs/data.md). Window i of a file uses tokens [i*T, i*T+T]; windows never cross files.
// Random order visits every window of every file exactly once per epoch, in a permutation
// fixed by (seed, epoch); data-parallel ranks take disjoint slices of each global batch.
// Sequential order reads the windows in file order and wraps to the start when all are used.
// InputError: no file matches, a bad file, a file shorter than T+1 tokens, a token >= vocab.
std::unique_ptr<BatchLoader> make_window_loader(const WindowLoaderOptions& options);

// Expands a path or glob into a sorted list of files; InputError if nothing matches.
std::vector<std::string> expand_data_glob(const std::string& pattern);

}  // namespace gatedlm
