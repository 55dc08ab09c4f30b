#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "gatedlm/core/error.h"
#include "gatedlm/core/rng.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/data/shard.h"

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
    random_offsets_.push_back(0);
    sequential_offsets_.push_back(0);
    for (const std::string& path : expand_data_glob(options.pattern)) {
      Shard shard = read_shard(path, options.vocab_size);
      const auto length = static_cast<int64_t>(shard.tokens.size());
      if (length < seq_len + 1) {
        throw InputError(fmt::format(
            "{}: offset 8: expected at least {} tokens for one window of seq_len {}, found {}",
            path, seq_len + 1, seq_len, length));
      }
      total_tokens_ += length;
      // Random: starts 0 .. length-T-1. Sequential: window i needs tokens up to i*T+T.
      random_offsets_.push_back(random_offsets_.back() + length - seq_len);
      sequential_offsets_.push_back(sequential_offsets_.back() + (length - 1) / seq_len);
      shards_.push_back(std::move(shard));
    }
    reset();
  }

  void next(TokenBatch& out) override {
    const int64_t batch = options_.batch;
    const int64_t seq_len = options_.seq_len;
    out.batch = batch;
    out.seq_len = seq_len;
    out.inputs.resize(batch * seq_len);
    out.targets.resize(batch * seq_len);
    if (options_.order == WindowOrder::random) {
      // Every rank draws the whole global batch, so all RNGs stay in step, and keeps its slice.
      const auto total = static_cast<uint64_t>(random_offsets_.back());
      for (int64_t global_row = 0; global_row < options_.world * batch; ++global_row) {
        const auto window = static_cast<int64_t>(rng_.uniform_int(total));
        if (global_row / batch != options_.rank) continue;
        const auto [shard, start] = locate(window, random_offsets_);
        copy_window(shard, start, global_row % batch, out);
      }
    } else {
      const int64_t total = sequential_offsets_.back();
      for (int64_t row = 0; row < batch; ++row) {
        const int64_t window = (cursor_ + row * options_.world + options_.rank) % total;
        const auto [shard, index] = locate(window, sequential_offsets_);
        copy_window(shard, index * seq_len, row, out);
      }
      cursor_ = (cursor_ + batch * options_.world) % total;
    }
    ++batches_served_;
  }

  LoaderState state() const override {
    LoaderState state;
    state.rng = rng_.state();
    state.cursor = cursor_;
    state.batches_served = batches_served_;
    return state;
  }

  void set_state(const LoaderState& state) override {
    if (options_.order == WindowOrder::random &&
        std::all_of(state.rng.begin(), state.rng.end(), [](uint64_t w) { return w == 0; })) {
      // xoshiro's all-zero state only ever yields zeros.
      throw InputError("loader state: expected a nonzero RNG state for random windows");
    }
    if (state.cursor < 0 || state.cursor >= sequential_offsets_.back()) {
      throw InputError(fmt::format(
          "loader state: expected a cursor in [0, {}), found {} (has the data changed?)",
          sequential_offsets_.back(), state.cursor));
    }
    rng_.set_state(state.rng);
    cursor_ = state.cursor;
    batches_served_ = state.batches_served;
  }

  void reset() override {
    rng_ = Rng::stream(options_.seed, StreamId::data);
    cursor_ = 0;
    batches_served_ = 0;
  }

  int64_t total_tokens() const override { return total_tokens_; }

  int64_t num_windows() const override {
    return options_.order == WindowOrder::random ? random_offsets_.back()
                                                 : sequential_offsets_.back();
  }

 private:
  // Maps a window index over all shards to (shard, index within that shard); offsets[i] counts
  // the windows of the shards before shard i.
  static std::pair<size_t, int64_t> locate(int64_t window, const std::vector<int64_t>& offsets) {
    const auto after = std::upper_bound(offsets.begin(), offsets.end(), window);
    const auto shard = static_cast<size_t>(after - offsets.begin() - 1);
    return {shard, window - offsets[shard]};
  }

  void copy_window(size_t shard, int64_t start, int64_t row, TokenBatch& out) const {
    const int64_t seq_len = options_.seq_len;
    const int32_t* tokens = shards_[shard].tokens.data() + start;
    std::copy(tokens, tokens + seq_len, out.inputs.begin() + row * seq_len);
    std::copy(tokens + 1, tokens + seq_len + 1, out.targets.begin() + row * seq_len);
  }

  WindowLoaderOptions options_;
  std::vector<Shard> shards_;
  std::vector<int64_t> random_offsets_;
  std::vector<int64_t> sequential_offsets_;
  int64_t total_tokens_ = 0;
  Rng rng_;
  int64_t cursor_ = 0;
  int64_t batches_served_ = 0;
};

}  // namespace

std::unique_ptr<BatchLoader> make_window_loader(const WindowLoaderOptions& options) {
  return std::make_unique<WindowLoader>(options);
}

}  // namespace gatedlm
