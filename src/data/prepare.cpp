#include "gatedlm/data/prepare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>

#include "gatedlm/core/error.h"
#include "gatedlm/data/shard.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw InputError(fmt::format("{}: expected a text file, found a directory", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(
        fmt::format("{}: expected a readable input file ({})", path, std::strerror(errno)));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw RuntimeFailure(fmt::format("{}: read failed", path));
  return text;
}

// Writes tokens as SPLIT-00000.bin, SPLIT-00001.bin, ... of at most max_tokens each.
std::vector<std::string> write_split(const fs::path& dir, const std::string& split,
                                     std::span<const int32_t> tokens, int64_t max_tokens,
                                     bool force_u32) {
  std::vector<std::string> paths;
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(max_tokens)) {
    const size_t count = std::min(tokens.size() - begin, static_cast<size_t>(max_tokens));
    const std::string path = (dir / fmt::format("{}-{:05d}.bin", split, paths.size())).string();
    write_shard(path, tokens.subspan(begin, count), force_u32);
    paths.push_back(path);
  }
  return paths;
}

// train-NNNNN.bin or val-NNNNN.bin, the names write_split gives.
bool is_shard_name(const std::string& name) {
  for (const std::string prefix : {"train-", "val-"}) {
    if (name.size() == prefix.size() + 9 && name.starts_with(prefix) && name.ends_with(".bin") &&
        std::all_of(name.begin() + prefix.size(), name.end() - 4,
                    [](unsigned char c) { return std::isdigit(c); })) {
      return true;
    }
  }
  return false;
}

// A shard from an earlier run with more data would otherwise join this run's train/val glob.
void remove_stale_shards(const fs::path& dir, const PrepareStats& stats) {
  std::set<std::string> written;
  for (const auto& p : stats.train_shards) written.insert(fs::path(p).filename().string());
  for (const auto& p : stats.val_shards) written.insert(fs::path(p).filename().string());
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (is_shard_name(name) && !written.count(name)) stale.push_back(entry.path());
  }
  for (const auto& path : stale) fs::remove(path);
}

}  // namespace

PrepareStats prepare_shards(const std::vector<std::string>& inputs, const std::string& out_dir,
                            double val_fraction, const Tokenizer& tokenizer,
                            int64_t max_shard_tokens) {
  if (!(val_fraction >= 0.0 && val_fraction < 1.0)) {
    throw InputError(
        fmt::format("--val-fraction: expected a value in [0, 1), found {}", val_fraction));
  }
  if (max_shard_tokens < 1) throw std::invalid_argument("prepare: max_shard_tokens must be >= 1");
  if (inputs.empty()) throw InputError("--input: expected at least one input file");

  PrepareStats stats;
  std::vector<int32_t> stream;
  for (const std::string& path : inputs) {
    const std::string text = read_text_file(path);
    stats.input_bytes += static_cast<int64_t>(text.size());
    if (tokenizer.eos_id() >= 0) stream.push_back(tokenizer.eos_id());
    const std::vector<int32_t> tokens = tokenizer.encode(text);
    stream.insert(stream.end(), tokens.begin(), tokens.end());
  }
  if (stats.input_bytes == 0) {
    throw InputError(fmt::format("{}: expected some text, every input is empty", inputs.front()));
  }

  const auto total = static_cast<int64_t>(stream.size());
  // Train keeps at least one token; val is the tail of the stream.
  const int64_t val_tokens =
      std::min<int64_t>(std::llround(static_cast<double>(total) * val_fraction), total - 1);
  stats.train_tokens = total - val_tokens;
  stats.val_tokens = val_tokens;

  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw RuntimeFailure(fmt::format("{}: cannot create the output directory ({})", out_dir,
                                     ec ? ec.message() : "a file is in the way"));
  }
  const bool force_u32 = tokenizer.vocab_size() > 65536;
  const std::span<const int32_t> all(stream);
  stats.train_shards =
      write_split(dir, "train", all.first(stats.train_tokens), max_shard_tokens, force_u32);
  stats.val_shards =
      write_split(dir, "val", all.subspan(stats.train_tokens), max_shard_tokens, force_u32);
  remove_stale_shards(dir, stats);
  return stats;
}

PrepareStats prepare_bytes(const std::vector<std::string>& inputs, const std::string& out_dir,
                           double val_fraction) {
  return prepare_shards(inputs, out_dir, val_fraction, ByteTokenizer());
}

}  // namespace gatedlm
