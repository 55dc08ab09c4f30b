#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <utility>

#include "gatedlm/core/error.h"
#include "gatedlm/core/rng.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/data/shard.h"
#include "gatedlm/data/token_stream.h"
#include "gatedlm/data/window_permutation.h"

namespace gatedlm {
namespace {

class WindowLoader final : public BatchLoader {
 public:
  explicit WindowLoader(const WindowLoaderOptions& options) : options_(options) {
    if (options.batch < 1 || options.seq_len < 1 || options.world < 1 || options.rank < 0 ||
        options.rank >= options.world) {
      throw std::invalid_argument(fmt::format(
          "window loader: expected batch >= 1, seq_len >= 1 and 0 <= rank < world, got batch {}, "
          "seq_len {}, rank {}, world {}",
          options.batch, options.seq_len, options.rank, options.world));
    }
    const int64_t seq_len = options.seq_len;
    window_offsets_.push_back(0);
    std::set<std::string> opened;  // a glob may match both halves of a Megatron .bin/.idx pair
    for (const std::string& path : expand_data_glob(options.pattern)) {
      if (!opened.insert(token_stream_data_path(path)).second) continue;
      TokenStream stream = open_token_stream(path, options.vocab_size);
      if (stream.count < seq_len + 1) {
        // The offset names the token count: an llm.c header field, or (Megatron) the .bin start.
        throw InputError(fmt::format(
            "{}: offset {}: expected at least {} tokens for one window of seq_len {}, found {}",
            stream.path(), stream.data_offset == kShardHeaderBytes ? 8 : 0, seq_len + 1, seq_len,
            stream.count));
      }
      total_tokens_ += stream.count;
      // Window i of a stream uses tokens [i*T, i*T+T]: T inputs and T next-token targets.
      window_offsets_.push_back(window_offsets_.back() + (stream.count - 1) / seq_len);
      streams_.push_back(std::move(stream));
    }
    reset();
  }

  void next(TokenBatch& out) override {
    const int64_t batch = options_.batch;
    out.batch = batch;
    out.seq_len = options_.seq_len;
    out.inputs.resize(batch * options_.seq_len);
    out.targets.resize(batch * options_.seq_len);
    const int64_t total = window_offsets_.back();
    if (options_.order == WindowOrder::random) {
      // Global batch positions [cursor, cursor + world*B) of the epoch's permutation, possibly
      // running into the next epoch; this rank takes rows [rank*B, rank*B + B).
      for (int64_t row = 0; row < batch; ++row) {
        const int64_t position = cursor_ + options_.rank * batch + row;
        const int64_t epoch = epoch_ + position / total;
        const WindowPermutation order(epoch_permutation_key(rng_.state(), epoch), total);
        copy_window(order(position % total), row, out);
      }
      const int64_t advanced = cursor_ + options_.world * batch;
      epoch_ += advanced / total;
      cursor_ = advanced % total;
    } else {
      for (int64_t row = 0; row < batch; ++row) {
        copy_window((cursor_ + row * options_.world + options_.rank) % total, row, out);
      }
      cursor_ = (cursor_ + batch * options_.world) % total;
    }
    ++batches_served_;
  }

  LoaderState state() const override {
    LoaderState state;
    state.rng = rng_.state();
    state.epoch = epoch_;
    state.cursor = cursor_;
    state.batches_served = batches_served_;
    return state;
  }

  void set_state(const LoaderState& state) override {
    if (options_.order == WindowOrder::random &&
        std::all_of(state.rng.begin(), state.rng.end(), [](uint64_t w) { return w == 0; })) {
      // An all-zero state is what a checkpoint without loader state reads back as.
      throw InputError("loader state: expected a nonzero RNG state for random windows");
    }
    if (state.cursor < 0 || state.cursor >= window_offsets_.back() || state.epoch < 0) {
      throw InputError(fmt::format(
          "loader state: expected a cursor in [0, {}) and epoch >= 0, found cursor {}, epoch {} "
          "(has the data changed?)",
          window_offsets_.back(), state.cursor, state.epoch));
    }
    rng_.set_state(state.rng);
    epoch_ = state.epoch;
    cursor_ = state.cursor;
    batches_served_ = state.batches_served;
  }

  void reset() override {
    rng_ = Rng::stream(options_.seed, StreamId::data);
    epoch_ = 0;
    cursor_ = 0;
    batches_served_ = 0;
  }

  int64_t total_tokens() const override { return total_tokens_; }
  int64_t num_windows() const override { return window_offsets_.back(); }

 private:
  // Copies window `window` (an index over all streams) into row `row` of the batch.
  void copy_window(int64_t window, int64_t row, TokenBatch& out) const {
    const auto after = std::upper_bound(window_offsets_.begin(), window_offsets_.end(), window);
    const auto stream = static_cast<size_t>(after - window_offsets_.begin() - 1);
    const int64_t seq_len = options_.seq_len;
    const int64_t start = (window - window_offsets_[stream]) * seq_len;
    int32_t* inputs = out.inputs.data() + row * seq_len;
    if (options_.bos_token >= 0) {
      inputs[0] = options_.bos_token;
      streams_[stream].copy_to(start, seq_len - 1, inputs + 1);
      streams_[stream].copy_to(start, seq_len, out.targets.data() + row * seq_len);
      return;
    }
    streams_[stream].copy_to(start, seq_len, inputs);
    streams_[stream].copy_to(start + 1, seq_len, out.targets.data() + row * seq_len);
  }

  WindowLoaderOptions options_;
  std::vector<TokenStream> streams_;
  std::vector<int64_t> window_offsets_;  // [i]: windows in the streams before stream i
  int64_t total_tokens_ = 0;
  Rng rng_;  // random order: its words key every epoch's permutation; never advanced
  int64_t epoch_ = 0;
  int64_t cursor_ = 0;
  int64_t batches_served_ = 0;
};

}  // namespace

std::unique_ptr<BatchLoader> make_window_loader(const WindowLoaderOptions& options) {
  return std::make_unique<WindowLoader>(options);
}

}  // namespace gatedlm
