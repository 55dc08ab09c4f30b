// llm.c token-shard format: a 256 x int32 little-endian header ([0] magic 20240520 for uint16
// tokens or 20240801 for uint32, [1] version 1 or 7, [2] token count), then the tokens.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gatedlm/data/token_stream.h"

namespace gatedlm {

constexpr int32_t kShardMagicU16 = 20240520;
constexpr int32_t kShardMagicU32 = 20240801;
constexpr int32_t kShardVersionU16 = 1;
constexpr int32_t kShardVersionU32 = 7;
constexpr int64_t kShardHeaderInts = 256;
constexpr int64_t kShardHeaderBytes = kShardHeaderInts * 4;

// A whole shard in memory, widened to int32. Errors (missing file, wrong magic or version,
// truncated data) are InputErrors that name the file and the byte offset.
struct Shard {
  std::string path;
  std::vector<int32_t> tokens;
  int token_bytes = 2;
};

// Maps a shard and checks its header against the file size; the tokens are not checked.
// InputErrors name the file and the byte offset (docs/data.md lists them).
TokenStream open_shard_stream(const std::string& path);

// vocab_size > 0: a token >= vocab_size is an InputError naming the file and the byte offset of
// the first such token.
Shard read_shard(const std::string& path, int64_t vocab_size = 0);

// Writes atomically (temp file + rename). Uses uint16 unless a token exceeds 65535 or
// force_u32 is set. Tokens must be non-negative and fewer than 2^31.
void write_shard(const std::string& path, std::span<const int32_t> tokens, bool force_u32 = false);

}  // namespace gatedlm
