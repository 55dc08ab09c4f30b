#include "gatedlm/data/shard.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <stdexcept>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

// Decoded byte by byte, so the format is little-endian whatever the host.
uint32_t load_le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

void store_le32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

void store_le16(unsigned char* p, uint16_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}

[[noreturn]] void fail_at(const std::string& path, int64_t offset, const std::string& expected) {
  throw InputError(fmt::format("{}: offset {}: {}", path, offset, expected));
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace

TokenStream open_shard_stream(const std::string& path) {
  auto file = std::make_shared<const MappedFile>(path, "shard file");
  const int64_t file_bytes = file->size();
  if (file_bytes < kShardHeaderBytes) {
    fail_at(path, 0,
            fmt::format("expected a {}-byte shard header, file has {} bytes", kShardHeaderBytes,
                        file_bytes));
  }
  const unsigned char* bytes = file->data();
  const auto magic = static_cast<int32_t>(load_le32(bytes));
  const auto version = static_cast<int32_t>(load_le32(bytes + 4));
  const auto count = static_cast<int32_t>(load_le32(bytes + 8));
  if (magic != kShardMagicU16 && magic != kShardMagicU32) {
    fail_at(
        path, 0,
        fmt::format("expected magic {} or {}, found {}", kShardMagicU16, kShardMagicU32, magic));
  }
  const bool wide = magic == kShardMagicU32;
  const int32_t expected_version = wide ? kShardVersionU32 : kShardVersionU16;
  if (version != expected_version) {
    fail_at(path, 4,
            fmt::format("expected version {} for magic {} ({} tokens), found {}", expected_version,
                        magic, wide ? "uint32" : "uint16", version));
  }
  if (count < 0) {
    fail_at(path, 8, fmt::format("expected a non-negative token count, found {}", count));
  }
  TokenStream stream;
  stream.type = wide ? TokenType::u32 : TokenType::u16;
  const int64_t data_bytes = file_bytes - kShardHeaderBytes;
  const int64_t expected_bytes = static_cast<int64_t>(count) * token_type_bytes(stream.type);
  if (data_bytes != expected_bytes) {
    // The offset is where the file first disagrees with the header: its end, or the extra bytes.
    fail_at(path, kShardHeaderBytes + std::min(data_bytes, expected_bytes),
            fmt::format("expected {} tokens ({} bytes) after the header, found {} bytes", count,
                        expected_bytes, data_bytes));
  }
  stream.file = std::move(file);
  stream.data_offset = kShardHeaderBytes;
  stream.count = count;
  return stream;
}

Shard read_shard(const std::string& path, int64_t vocab_size) {
  const TokenStream stream = open_shard_stream(path);
  stream.check_tokens(vocab_size);
  Shard shard;
  shard.path = path;
  shard.token_bytes = token_type_bytes(stream.type);
  shard.tokens.resize(stream.count);
  stream.copy_to(0, stream.count, shard.tokens.data());
  return shard;
}

void write_shard(const std::string& path, std::span<const int32_t> tokens, bool force_u32) {
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw std::invalid_argument(
        fmt::format("write_shard {}: {} tokens do not fit the int32 count", path, tokens.size()));
  }
  bool wide = force_u32;
  for (const int32_t token : tokens) {
    if (token < 0) {
      throw std::invalid_argument(fmt::format("write_shard {}: negative token {}", path, token));
    }
    if (token > 0xFFFF) wide = true;
  }
  const int token_bytes = wide ? 4 : 2;

  // Written next to the target and renamed, so a reader never sees half a shard.
  const std::string temp_path = path + ".tmp";
  // A failed write (disk full, `ulimit -f`) leaves no partial temp file behind. Declared before
  // `file`, so the file is closed first.
  struct RemoveUnlessRenamed {
    const std::string& path;
    bool renamed = false;
    ~RemoveUnlessRenamed() {
      if (!renamed) std::remove(path.c_str());
    }
  } cleanup{temp_path};
  FilePtr file(std::fopen(temp_path.c_str(), "wb"));
  if (!file) {
    throw RuntimeFailure(fmt::format("{}: cannot write ({})", temp_path, std::strerror(errno)));
  }
  auto write_or_fail = [&](const unsigned char* data, size_t n) {
    if (std::fwrite(data, 1, n, file.get()) != n) {
      throw RuntimeFailure(fmt::format("{}: write failed ({})", temp_path, std::strerror(errno)));
    }
  };

  std::vector<unsigned char> buffer(kShardHeaderBytes, 0);
  store_le32(buffer.data(), static_cast<uint32_t>(wide ? kShardMagicU32 : kShardMagicU16));
  store_le32(buffer.data() + 4, static_cast<uint32_t>(wide ? kShardVersionU32 : kShardVersionU16));
  store_le32(buffer.data() + 8, static_cast<uint32_t>(tokens.size()));
  write_or_fail(buffer.data(), buffer.size());

  constexpr size_t kChunkTokens = 1 << 20;  // bounded staging memory for 100M-token shards
  for (size_t begin = 0; begin < tokens.size(); begin += kChunkTokens) {
    const size_t end = std::min(tokens.size(), begin + kChunkTokens);
    buffer.resize((end - begin) * token_bytes);
    unsigned char* out = buffer.data();
    for (size_t i = begin; i < end; ++i, out += token_bytes) {
      if (wide) {
        store_le32(out, static_cast<uint32_t>(tokens[i]));
      } else {
        store_le16(out, static_cast<uint16_t>(tokens[i]));
      }
    }
    write_or_fail(buffer.data(), buffer.size());
  }
  if (std::fclose(file.release()) != 0) {
    throw RuntimeFailure(fmt::format("{}: write failed ({})", temp_path, std::strerror(errno)));
  }
  std::error_code ec;
  std::filesystem::rename(temp_path, path, ec);
  if (ec) {
    throw RuntimeFailure(fmt::format("{}: cannot rename into place ({})", path, ec.message()));
  }
  cleanup.renamed = true;
}

}  // namespace gatedlm
