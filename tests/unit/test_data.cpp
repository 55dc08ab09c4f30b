// Token shards, the window loader and the byte-level prepare path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gatedlm/core/error.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/data/prepare.h"
#include "gatedlm/data/shard.h"
#include "gatedlm/data/tokenizer.h"
#include "gatedlm/data/window_permutation.h"
#include "temp_dir_test.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

void put_le32(std::vector<char>& bytes, size_t offset, int32_t value) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>(value >> (8 * i));
}

// Tokens first, first+1, ...: a window's first input names its start position.
std::vector<int32_t> ramp(int32_t first, int32_t count) {
  std::vector<int32_t> tokens(count);
  for (int32_t i = 0; i < count; ++i) tokens[i] = first + i;
  return tokens;
}

// The message an InputError carries, or "" when none was thrown.
template <typename F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

class DataTest : public TempDirTest {
 protected:
  DataTest() : TempDirTest("gatedlm_data_") {}

  std::string path(const std::string& name) const { return file(name); }

  std::vector<TokenBatch> take(BatchLoader& loader, int n) {
    std::vector<TokenBatch> batches(n);
    for (auto& batch : batches) loader.next(batch);
    return batches;
  }

  fs::path dir_;
};

// ---- shards ----

TEST_F(DataTest, ShardRoundTripUint16) {
  std::vector<int32_t> tokens = {0, 1, 255, 256, 65535, 42, 7};
  write_shard(path("a.bin"), tokens);
  EXPECT_EQ(fs::file_size(path("a.bin")), 1024u + 2 * tokens.size());
  EXPECT_FALSE(fs::exists(path("a.bin.tmp")));
  const Shard shard = read_shard(path("a.bin"));
  EXPECT_EQ(shard.path, path("a.bin"));
  EXPECT_EQ(shard.token_bytes, 2);
  EXPECT_EQ(shard.tokens, tokens);
}

TEST_F(DataTest, ShardRoundTripUint32) {
  std::vector<int32_t> tokens = {0, 65536, 100000, 2147483647, 3};
  write_shard(path("wide.bin"), tokens);
  EXPECT_EQ(fs::file_size(path("wide.bin")), 1024u + 4 * tokens.size());
  Shard shard = read_shard(path("wide.bin"));
  EXPECT_EQ(shard.token_bytes, 4);
  EXPECT_EQ(shard.tokens, tokens);

  const std::vector<int32_t> small = {1, 2, 3};
  write_shard(path("forced.bin"), small, /*force_u32=*/true);
  shard = read_shard(path("forced.bin"));
  EXPECT_EQ(shard.token_bytes, 4);
  EXPECT_EQ(shard.tokens, small);
}

TEST_F(DataTest, ShardBytesAreLlmcLayout) {
  write_shard(path("a.bin"), std::vector<int32_t>{0x0102, 0xA0B0});
  const std::vector<char> bytes = read_bytes(path("a.bin"));
  ASSERT_EQ(bytes.size(), 1028u);
  int32_t header[3];
  std::memcpy(header, bytes.data(), sizeof(header));  // the test host is little-endian
  EXPECT_EQ(header[0], 20240520);
  EXPECT_EQ(header[1], 1);
  EXPECT_EQ(header[2], 2);
  for (size_t i = 12; i < 1024; ++i) ASSERT_EQ(bytes[i], 0) << "header byte " << i;
  EXPECT_EQ(static_cast<unsigned char>(bytes[1024]), 0x02);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1025]), 0x01);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1026]), 0xB0);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1027]), 0xA0);

  write_shard(path("b.bin"), std::vector<int32_t>{5}, true);
  const std::vector<char> wide = read_bytes(path("b.bin"));
  std::memcpy(header, wide.data(), sizeof(header));
  EXPECT_EQ(header[0], 20240801);
  EXPECT_EQ(header[1], 7);
  EXPECT_EQ(header[2], 1);
}

TEST_F(DataTest, ShortFileNamesHeaderSize) {
  write_bytes(path("short.bin"), std::vector<char>(100, 0));
  EXPECT_EQ(
      input_error_of([&] { read_shard(path("short.bin")); }),
      path("short.bin") + ": offset 0: expected a 1024-byte shard header, file has 100 bytes");
}

TEST_F(DataTest, BadMagicAtOffsetZero) {
  write_shard(path("a.bin"), ramp(0, 10));
  std::vector<char> bytes = read_bytes(path("a.bin"));
  put_le32(bytes, 0, 12345);
  write_bytes(path("a.bin"), bytes);
  EXPECT_EQ(input_error_of([&] { read_shard(path("a.bin")); }),
            path("a.bin") + ": offset 0: expected magic 20240520 or 20240801, found 12345");
}

TEST_F(DataTest, BadVersionAtOffsetFour) {
  write_shard(path("a.bin"), ramp(0, 10));
  std::vector<char> bytes = read_bytes(path("a.bin"));
  put_le32(bytes, 4, 7);
  write_bytes(path("a.bin"), bytes);
  EXPECT_EQ(
      input_error_of([&] { read_shard(path("a.bin")); }),
      path("a.bin") + ": offset 4: expected version 1 for magic 20240520 (uint16 tokens), found 7");

  write_shard(path("b.bin"), ramp(0, 10), true);
  bytes = read_bytes(path("b.bin"));
  put_le32(bytes, 4, 1);
  write_bytes(path("b.bin"), bytes);
  EXPECT_EQ(
      input_error_of([&] { read_shard(path("b.bin")); }),
      path("b.bin") + ": offset 4: expected version 7 for magic 20240801 (uint32 tokens), found 1");
}

TEST_F(DataTest, TruncatedDataNamesWhereItEnds) {
  write_shard(path("a.bin"), ramp(0, 1000));
  std::vector<char> bytes = read_bytes(path("a.bin"));
  bytes.resize(1024 + 1500);
  write_bytes(path("a.bin"), bytes);
  EXPECT_EQ(input_error_of([&] { read_shard(path("a.bin")); }),
            path("a.bin") +
                ": offset 2524: expected 1000 tokens (2000 bytes) after the header, found 1500 "
                "bytes");
}

TEST_F(DataTest, TrailingBytesNameWhereTheyStart) {
  write_shard(path("a.bin"), ramp(0, 10));
  std::vector<char> bytes = read_bytes(path("a.bin"));
  bytes.resize(bytes.size() + 3, 0);
  write_bytes(path("a.bin"), bytes);
  EXPECT_EQ(input_error_of([&] { read_shard(path("a.bin")); }),
            path("a.bin") +
                ": offset 1044: expected 10 tokens (20 bytes) after the header, found 23 bytes");
}

TEST_F(DataTest, NegativeCountAtOffsetEight) {
  write_shard(path("a.bin"), ramp(0, 10));
  std::vector<char> bytes = read_bytes(path("a.bin"));
  put_le32(bytes, 8, -5);
  write_bytes(path("a.bin"), bytes);
  EXPECT_EQ(input_error_of([&] { read_shard(path("a.bin")); }),
            path("a.bin") + ": offset 8: expected a non-negative token count, found -5");
}

TEST_F(DataTest, MissingShardIsInputError) {
  const std::string message = input_error_of([&] { read_shard(path("nope.bin")); });
  EXPECT_EQ(message.rfind(path("nope.bin") + ": expected a readable shard file", 0), 0u) << message;
}

TEST_F(DataTest, TokenAtOrAboveVocabNamesItsOffset) {
  write_shard(path("a.bin"), std::vector<int32_t>{1, 2, 300, 5, 999});
  EXPECT_EQ(read_shard(path("a.bin"), 1000).tokens.size(), 5u);
  EXPECT_EQ(input_error_of([&] { read_shard(path("a.bin"), 256); }),
            path("a.bin") + ": offset 1028: expected a token below vocab_size 256, found 300");
  EXPECT_EQ(input_error_of([&] { read_shard(path("a.bin"), 999); }),
            path("a.bin") + ": offset 1032: expected a token below vocab_size 999, found 999");

  write_shard(path("wide.bin"), std::vector<int32_t>{1, 70000}, true);
  EXPECT_EQ(
      input_error_of([&] { read_shard(path("wide.bin"), 50304); }),
      path("wide.bin") + ": offset 1028: expected a token below vocab_size 50304, found 70000");
}

TEST_F(DataTest, LoaderChecksVocab) {
  write_shard(path("a.bin"), std::vector<int32_t>{1, 2, 3, 260, 4, 5});
  WindowLoaderOptions options{.pattern = path("a.bin"), .seq_len = 2, .vocab_size = 256};
  EXPECT_EQ(input_error_of([&] { make_window_loader(options); }),
            path("a.bin") + ": offset 1030: expected a token below vocab_size 256, found 260");
}

// ---- glob ----

TEST_F(DataTest, GlobIsSortedAndSkipsDirectories) {
  for (const char* name : {"train-00002.bin", "train-00000.bin", "train-00001.bin", "val.bin"}) {
    write_shard(path(name), ramp(0, 4));
  }
  fs::create_directories(path("train-dir.bin"));
  EXPECT_EQ(expand_data_glob(path("train-*.bin")),
            (std::vector<std::string>{path("train-00000.bin"), path("train-00001.bin"),
                                      path("train-00002.bin")}));
  EXPECT_EQ(expand_data_glob(path("val.bin")), std::vector<std::string>{path("val.bin")});
}

TEST_F(DataTest, GlobWithNoMatchIsInputError) {
  EXPECT_EQ(input_error_of([&] { expand_data_glob(path("*.nothing")); }),
            path("*.nothing") + ": no files match");
  EXPECT_EQ(input_error_of([&] { expand_data_glob(path("missing.bin")); }),
            path("missing.bin") + ": no files match");
  WindowLoaderOptions options{.pattern = path("x-*.bin")};
  EXPECT_EQ(input_error_of([&] { make_window_loader(options); }),
            path("x-*.bin") + ": no files match");
}

// ---- random windows ----

// The first input of every window row of a batch: with ramp() shards it names the window.
std::vector<int32_t> window_starts(const TokenBatch& batch) {
  std::vector<int32_t> starts;
  for (int64_t row = 0; row < batch.batch; ++row)
    starts.push_back(batch.inputs[row * batch.seq_len]);
  return starts;
}

TEST(WindowPermutationTest, IsABijectionForEverySize) {
  for (const int64_t n : {1, 2, 3, 4, 5, 17, 64, 65, 1000, 4097}) {
    for (const uint64_t key : {0ULL, 1ULL, 0xDEADBEEFULL}) {
      const WindowPermutation permutation(key, n);
      std::vector<bool> hit(n, false);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t j = permutation(i);
        ASSERT_GE(j, 0);
        ASSERT_LT(j, n);
        ASSERT_FALSE(hit[j]) << "n " << n << " key " << key << " index " << i;
        hit[j] = true;
      }
    }
  }
}

TEST(WindowPermutationTest, ShufflesAndDependsOnTheKey) {
  const int64_t n = 10000;
  const WindowPermutation a(epoch_permutation_key({1, 2, 3, 4}, 0), n);
  const WindowPermutation b(epoch_permutation_key({1, 2, 3, 4}, 1), n);
  int64_t fixed_points = 0, same = 0, ascending = 0;
  for (int64_t i = 0; i < n; ++i) {
    fixed_points += a(i) == i;
    same += a(i) == b(i);
    if (i > 0) ascending += a(i) > a(i - 1);
  }
  // A uniform permutation has ~1 fixed point, ~1 agreement with another, ~n/2 ascents
  // (standard deviation ~29); a weak shuffle shows up in all three.
  EXPECT_LT(fixed_points, 10);
  EXPECT_LT(same, 10);
  EXPECT_NEAR(static_cast<double>(ascending), n / 2.0, 200.0);
}

TEST_F(DataTest, RandomOrderUsesEveryWindowOncePerEpoch) {
  // 3 shards, T=8: 12 + 6 + 1 = 19 windows; batch 4 does not divide 19, so batches straddle
  // epoch boundaries.
  write_shard(path("a.bin"), ramp(0, 100));
  write_shard(path("b.bin"), ramp(1000, 50));
  write_shard(path("c.bin"), ramp(5000, 9));
  const int64_t seq_len = 8;
  auto loader = make_window_loader({.pattern = path("*.bin"), .batch = 4, .seq_len = seq_len});
  EXPECT_EQ(loader->total_tokens(), 159);
  ASSERT_EQ(loader->num_windows(), 19);
  std::vector<int32_t> expected_starts;
  for (int32_t i = 0; i < 12; ++i) expected_starts.push_back(i * 8);
  for (int32_t i = 0; i < 6; ++i) expected_starts.push_back(1000 + i * 8);
  expected_starts.push_back(5000);

  std::vector<int32_t> stream;
  TokenBatch batch;
  for (int step = 0; step < 19; ++step) {  // 76 windows: exactly 4 epochs
    loader->next(batch);
    for (int64_t row = 0; row < 4; ++row) {
      for (int64_t t = 0; t < seq_len; ++t) {
        ASSERT_EQ(batch.inputs[row * seq_len + t], batch.inputs[row * seq_len] + t);
        ASSERT_EQ(batch.targets[row * seq_len + t], batch.inputs[row * seq_len] + t + 1);
      }
    }
    const auto starts = window_starts(batch);
    stream.insert(stream.end(), starts.begin(), starts.end());
  }
  EXPECT_EQ(loader->state().epoch, 4);
  EXPECT_EQ(loader->state().cursor, 0);
  std::set<std::vector<int32_t>> orders;
  for (int epoch = 0; epoch < 4; ++epoch) {
    std::vector<int32_t> one(stream.begin() + epoch * 19, stream.begin() + (epoch + 1) * 19);
    orders.insert(one);
    std::sort(one.begin(), one.end());
    EXPECT_EQ(one, expected_starts) << "epoch " << epoch;
  }
  EXPECT_EQ(orders.size(), 4u) << "each epoch has its own order";
}

TEST_F(DataTest, RandomWindowsAreDeterministicBySeed) {
  write_shard(path("a.bin"), ramp(0, 5000));
  WindowLoaderOptions options{.pattern = path("a.bin"), .batch = 3, .seq_len = 16, .seed = 7};
  auto first = make_window_loader(options);
  auto second = make_window_loader(options);
  options.seed = 8;
  auto other_seed = make_window_loader(options);
  const auto a = take(*first, 5);
  const auto b = take(*second, 5);
  const auto c = take(*other_seed, 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(a[i].inputs, b[i].inputs);
    EXPECT_EQ(a[i].targets, b[i].targets);
  }
  bool any_differs = false;
  for (int i = 0; i < 5; ++i) any_differs |= a[i].inputs != c[i].inputs;
  EXPECT_TRUE(any_differs);

  first->reset();
  const auto again = take(*first, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(again[i].inputs, a[i].inputs);
}

TEST_F(DataTest, RandomResumeFromStateIsExact) {
  write_shard(path("a.bin"), ramp(0, 3000));
  write_shard(path("b.bin"), ramp(10000, 700));
  // 93 + 21 = 114 windows, 3 per batch: epochs end inside batches 38, 76, ...
  const WindowLoaderOptions options{.pattern = path("*.bin"), .batch = 3, .seq_len = 32, .seed = 3};
  auto uninterrupted = make_window_loader(options);
  const auto expected = take(*uninterrupted, 100);
  // Resume after every batch k: the batches that follow equal the uninterrupted ones, so no
  // window is repeated or skipped across the checkpoint.
  auto original = make_window_loader(options);
  TokenBatch batch;
  for (int k = 0; k < 90; ++k) {
    original->next(batch);
    const LoaderState saved = original->state();
    ASSERT_EQ(saved.batches_served, k + 1);
    ASSERT_EQ(saved.epoch * 114 + saved.cursor, 3 * (k + 1));
    auto resumed = make_window_loader(options);
    resumed->set_state(saved);
    const auto actual = take(*resumed, 10);
    for (int i = 0; i < 10; ++i) {
      ASSERT_EQ(actual[i].inputs, expected[k + 1 + i].inputs) << "resumed after " << k + 1;
      ASSERT_EQ(actual[i].targets, expected[k + 1 + i].targets) << "resumed after " << k + 1;
    }
  }
}

TEST_F(DataTest, ZeroRngStateIsRejected) {
  write_shard(path("a.bin"), ramp(0, 100));
  auto loader = make_window_loader({.pattern = path("a.bin"), .seq_len = 4});
  EXPECT_THROW(loader->set_state(LoaderState{}), InputError);
}

TEST_F(DataTest, DataParallelRanksSplitOneGlobalStream) {
  write_shard(path("a.bin"), ramp(0, 4001));
  write_shard(path("b.bin"), ramp(30000, 2001));
  const int64_t world = 3;
  const int64_t batch = 2;
  const int64_t seq_len = 8;
  auto global = make_window_loader(
      {.pattern = path("*.bin"), .batch = world * batch, .seq_len = seq_len, .seed = 11});
  ASSERT_EQ(global->num_windows(), 750);  // 125 global batches per epoch
  std::vector<std::unique_ptr<BatchLoader>> ranks;
  for (int64_t rank = 0; rank < world; ++rank) {
    ranks.push_back(make_window_loader({.pattern = path("*.bin"),
                                        .batch = batch,
                                        .seq_len = seq_len,
                                        .seed = 11,
                                        .rank = rank,
                                        .world = world}));
  }
  std::set<int32_t> epoch_starts;
  for (int step = 0; step < 125; ++step) {
    TokenBatch whole;
    global->next(whole);
    for (int64_t rank = 0; rank < world; ++rank) {
      TokenBatch part;
      ranks[rank]->next(part);
      const auto slice = whole.inputs.begin() + rank * batch * seq_len;
      ASSERT_TRUE(std::equal(part.inputs.begin(), part.inputs.end(), slice)) << "rank " << rank;
      for (const int32_t start : window_starts(part)) {
        ASSERT_TRUE(epoch_starts.insert(start).second) << "window " << start << " read twice";
      }
      ASSERT_EQ(ranks[rank]->state().cursor, global->state().cursor);
    }
  }
  // Disjoint (checked above) and covering: the ranks together read all 750 windows once.
  EXPECT_EQ(epoch_starts.size(), 750u);
  EXPECT_EQ(global->state().epoch, 1);
}

// ---- sequential windows ----

TEST_F(DataTest, SequentialWindowsFollowInterfaces) {
  // Window i uses tokens [i*T, i*T+T]: 4 windows in 35 tokens with T=8 (the last needs token 32),
  // then 2 in the second shard (17 tokens: 16 is the last target), then the order wraps.
  const std::vector<int32_t> a = ramp(100, 35);
  const std::vector<int32_t> b = ramp(5000, 17);
  write_shard(path("a.bin"), a);
  write_shard(path("b.bin"), b);
  const int64_t seq_len = 8;
  auto loader = make_window_loader(
      {.pattern = path("*.bin"), .batch = 1, .seq_len = seq_len, .order = WindowOrder::sequential});
  EXPECT_EQ(loader->num_windows(), 6);
  std::vector<std::pair<const std::vector<int32_t>*, int64_t>> expected;
  for (int64_t i = 0; i < 4; ++i) expected.push_back({&a, i});
  for (int64_t i = 0; i < 2; ++i) expected.push_back({&b, i});
  for (int64_t i = 0; i < 4; ++i) expected.push_back({&a, i});  // wrapped
  TokenBatch batch;
  for (const auto& [shard, i] : expected) {
    loader->next(batch);
    const std::vector<int32_t> inputs(shard->begin() + i * seq_len,
                                      shard->begin() + i * seq_len + seq_len);
    const std::vector<int32_t> targets(shard->begin() + i * seq_len + 1,
                                       shard->begin() + i * seq_len + seq_len + 1);
    EXPECT_EQ(batch.inputs, inputs) << "window " << i << " of " << (shard == &a ? "a" : "b");
    EXPECT_EQ(batch.targets, targets);
  }
}

TEST_F(DataTest, BosTokenStartsEveryWindowAndEveryTokenIsATargetOnce) {
  // With a BOS the inputs are [bos, t_0 .. t_{T-2}] and the targets t_0 .. t_{T-1}: over one pass
  // the targets are exactly the tokens [0, windows*T) of the shard, each once.
  const std::vector<int32_t> a = ramp(100, 35);
  write_shard(path("a.bin"), a);
  const int64_t seq_len = 8;
  const int32_t bos = 7;
  auto loader = make_window_loader({.pattern = path("a.bin"),
                                    .batch = 1,
                                    .seq_len = seq_len,
                                    .order = WindowOrder::sequential,
                                    .bos_token = bos});
  ASSERT_EQ(loader->num_windows(), 4);
  TokenBatch batch;
  for (int64_t i = 0; i < 4; ++i) {
    loader->next(batch);
    std::vector<int32_t> inputs = {bos};
    inputs.insert(inputs.end(), a.begin() + i * seq_len, a.begin() + i * seq_len + seq_len - 1);
    const std::vector<int32_t> targets(a.begin() + i * seq_len, a.begin() + (i + 1) * seq_len);
    EXPECT_EQ(batch.inputs, inputs) << "window " << i;
    EXPECT_EQ(batch.targets, targets) << "window " << i;
  }
}

TEST_F(DataTest, SequentialBatchesTakeConsecutiveWindows) {
  write_shard(path("val.bin"), ramp(0, 1000));
  auto loader = make_window_loader(
      {.pattern = path("val.bin"), .batch = 3, .seq_len = 10, .order = WindowOrder::sequential});
  TokenBatch batch;
  for (int step = 0; step < 2; ++step) {
    loader->next(batch);
    for (int64_t row = 0; row < 3; ++row) {
      EXPECT_EQ(batch.inputs[row * 10], (step * 3 + row) * 10);
      EXPECT_EQ(batch.targets[row * 10 + 9], (step * 3 + row) * 10 + 10);
    }
  }
}

TEST_F(DataTest, SequentialDataParallelStridesByWorld) {
  write_shard(path("val.bin"), ramp(0, 1000));
  const int64_t world = 2;
  for (int64_t rank = 0; rank < world; ++rank) {
    auto loader = make_window_loader({.pattern = path("val.bin"),
                                      .batch = 2,
                                      .seq_len = 10,
                                      .order = WindowOrder::sequential,
                                      .rank = rank,
                                      .world = world});
    TokenBatch batch;
    for (int step = 0; step < 3; ++step) {
      loader->next(batch);
      for (int64_t row = 0; row < 2; ++row) {
        const int64_t window = step * world * 2 + row * world + rank;  // r, r+world, ...
        EXPECT_EQ(batch.inputs[row * 10], window * 10) << "rank " << rank << " step " << step;
      }
    }
  }
}

TEST_F(DataTest, SequentialResumeFromStateIsExact) {
  write_shard(path("a.bin"), ramp(0, 500));
  const WindowLoaderOptions options{
      .pattern = path("a.bin"), .batch = 4, .seq_len = 16, .order = WindowOrder::sequential};
  auto original = make_window_loader(options);
  take(*original, 5);  // 20 of 31 windows: the following batches wrap
  const LoaderState saved = original->state();
  const auto expected = take(*original, 4);
  auto resumed = make_window_loader(options);
  resumed->set_state(saved);
  const auto actual = take(*resumed, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(actual[i].inputs, expected[i].inputs) << "batch " << i;

  resumed->reset();
  TokenBatch first;
  resumed->next(first);
  EXPECT_EQ(first.inputs[0], 0);
}

TEST_F(DataTest, ShardTooShortForOneWindowIsNamed) {
  write_shard(path("a.bin"), ramp(0, 100));
  write_shard(path("b.bin"), ramp(0, 8));
  for (WindowOrder order : {WindowOrder::random, WindowOrder::sequential}) {
    EXPECT_EQ(input_error_of([&] {
                make_window_loader({.pattern = path("*.bin"), .seq_len = 8, .order = order});
              }),
              path("b.bin") +
                  ": offset 8: expected at least 9 tokens for one window of seq_len 8, found 8");
  }
  // Exactly T+1 tokens is one window.
  auto loader = make_window_loader({.pattern = path("b.bin"), .seq_len = 7});
  EXPECT_EQ(loader->num_windows(), 1);
}

// ---- tokenizer and prepare ----

TEST(ByteTokenizerTest, RoundTripsEveryByte) {
  ByteTokenizer tokenizer;
  std::string text;
  for (int b = 0; b < 256; ++b) text.push_back(static_cast<char>(b));
  text += "héllo";
  const std::vector<int32_t> tokens = tokenizer.encode(text);
  ASSERT_EQ(tokens.size(), text.size());
  EXPECT_EQ(tokens[0], 0);
  EXPECT_EQ(tokens[255], 255);
  EXPECT_EQ(tokens[257], 0xC3);  // é is two bytes in UTF-8
  EXPECT_EQ(tokenizer.decode(tokens), text);
  EXPECT_EQ(tokenizer.vocab_size(), 256);
  EXPECT_EQ(tokenizer.eos_id(), -1);
  EXPECT_THROW(tokenizer.decode(std::vector<int32_t>{256}), std::out_of_range);
}

TEST_F(DataTest, PrepareBytesSplitsTheTail) {
  std::string first;
  for (int i = 0; i < 600; ++i) first.push_back(static_cast<char>('a' + i % 26));
  const std::string second(400, 'Z');
  write_text(path("one.txt"), first);
  write_text(path("two.txt"), second);
  const std::string out = path("prepared/bytes");
  const PrepareStats stats = prepare_bytes({path("one.txt"), path("two.txt")}, out, 0.1);
  EXPECT_EQ(stats.input_bytes, 1000);
  EXPECT_EQ(stats.train_tokens, 900);
  EXPECT_EQ(stats.val_tokens, 100);
  EXPECT_EQ(stats.train_shards, std::vector<std::string>{out + "/train-00000.bin"});
  EXPECT_EQ(stats.val_shards, std::vector<std::string>{out + "/val-00000.bin"});

  const ByteTokenizer bytes;
  const std::string all = first + second;
  const Shard train = read_shard(out + "/train-00000.bin", 256);
  const Shard val = read_shard(out + "/val-00000.bin", 256);
  EXPECT_EQ(train.token_bytes, 2);
  EXPECT_EQ(bytes.decode(train.tokens), all.substr(0, 900));
  EXPECT_EQ(bytes.decode(val.tokens), all.substr(900));

  // The loader reads what prepare wrote.
  auto loader = make_window_loader(
      {.pattern = out + "/train-*.bin", .batch = 2, .seq_len = 64, .vocab_size = 256});
  EXPECT_EQ(loader->total_tokens(), 900);
}

TEST_F(DataTest, PrepareSplitsLargeStreamsIntoNumberedShards) {
  write_text(path("in.txt"), std::string(2500, 'x'));
  const std::string out = path("out");
  // A stale shard from an earlier, larger run must not survive.
  fs::create_directories(out);
  write_shard(out + "/train-00009.bin", ramp(0, 10));
  write_text(out + "/notes.txt", "kept");
  const PrepareStats stats = prepare_shards({path("in.txt")}, out, 0.2, ByteTokenizer(), 900);
  EXPECT_EQ(stats.train_tokens, 2000);
  EXPECT_EQ(stats.val_tokens, 500);
  ASSERT_EQ(stats.train_shards.size(), 3u);
  EXPECT_EQ(stats.train_shards[2], out + "/train-00002.bin");
  EXPECT_EQ(read_shard(stats.train_shards[0]).tokens.size(), 900u);
  EXPECT_EQ(read_shard(stats.train_shards[2]).tokens.size(), 200u);
  ASSERT_EQ(stats.val_shards.size(), 1u);
  EXPECT_FALSE(fs::exists(out + "/train-00009.bin"));
  EXPECT_TRUE(fs::exists(out + "/notes.txt"));
}

TEST_F(DataTest, PrepareWithoutValFractionWritesOnlyTrain) {
  write_text(path("in.txt"), "hello world");
  const PrepareStats stats = prepare_bytes({path("in.txt")}, path("out"), 0.0);
  EXPECT_EQ(stats.train_tokens, 11);
  EXPECT_EQ(stats.val_tokens, 0);
  EXPECT_TRUE(stats.val_shards.empty());
  EXPECT_FALSE(fs::exists(path("out/val-00000.bin")));
}

TEST_F(DataTest, PrepareRejectsBadInput) {
  write_text(path("in.txt"), "some text");
  const std::string message = input_error_of([&] {
    prepare_bytes({path("in.txt"), path("absent.txt")}, path("o"), 0.1);
  });
  EXPECT_EQ(message.rfind(path("absent.txt") + ": expected a readable input file", 0), 0u)
      << message;
  EXPECT_FALSE(fs::exists(path("o")));
  EXPECT_THROW(prepare_bytes({path("in.txt")}, path("o"), 1.0), InputError);
  EXPECT_THROW(prepare_bytes({path("in.txt")}, path("o"), -0.1), InputError);
  write_text(path("empty.txt"), "");
  EXPECT_THROW(prepare_bytes({path("empty.txt")}, path("o"), 0.1), InputError);
}

}  // namespace
}  // namespace gatedlm
