#include "gatedlm/data/token_stream.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>

#include "gatedlm/core/error.h"
#include "gatedlm/data/megatron_index.h"
#include "gatedlm/data/shard.h"

namespace gatedlm {
namespace {

static_assert(std::endian::native == std::endian::little,
              "token files are little-endian and read in place");

template <typename T>
void widen(const unsigned char* bytes, int64_t n, int32_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    T value;
    std::memcpy(&value, bytes + i * sizeof(T), sizeof(T));
    out[i] = static_cast<int32_t>(value);
  }
}

// Index of the first token outside [0, limit), or -1.
template <typename T>
int64_t first_outside(const unsigned char* bytes, int64_t n, int64_t limit, int64_t& found) {
  for (int64_t i = 0; i < n; ++i) {
    T value;
    std::memcpy(&value, bytes + i * sizeof(T), sizeof(T));
    const auto token = static_cast<int64_t>(value);  // no token type is wider than int64
    if (token < 0 || token >= limit) {
      found = token;
      return i;
    }
  }
  return -1;
}

template <typename F>
auto dispatch(TokenType type, F&& f) {
  switch (type) {
    case TokenType::u8:
      return f(uint8_t{});
    case TokenType::i8:
      return f(int8_t{});
    case TokenType::i16:
      return f(int16_t{});
    case TokenType::u16:
      return f(uint16_t{});
    case TokenType::i32:
      return f(int32_t{});
    case TokenType::u32:
      return f(uint32_t{});
    case TokenType::i64:
      return f(int64_t{});
  }
  return f(uint16_t{});
}

bool starts_with_megatron_magic(const std::string& idx_path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(idx_path, ec)) return false;
  const MappedFile idx(idx_path, "Megatron index file");
  return idx.size() >= static_cast<int64_t>(kMegatronIndexMagic.size()) &&
         std::memcmp(idx.data(), kMegatronIndexMagic.data(), kMegatronIndexMagic.size()) == 0;
}

}  // namespace

int token_type_bytes(TokenType type) {
  return dispatch(type, [](auto value) { return static_cast<int>(sizeof(value)); });
}

void TokenStream::copy_to(int64_t start, int64_t n, int32_t* out) const {
  const unsigned char* bytes = file->data() + byte_offset(start);
  dispatch(type, [&](auto value) { widen<decltype(value)>(bytes, n, out); });
}

void TokenStream::check_tokens(int64_t vocab_size) const {
  const int64_t limit =
      vocab_size > 0 ? vocab_size : int64_t{std::numeric_limits<int32_t>::max()} + 1;
  int64_t found = 0;
  const unsigned char* bytes = count > 0 ? file->data() + data_offset : nullptr;
  const int64_t bad = dispatch(
      type, [&](auto value) { return first_outside<decltype(value)>(bytes, count, limit, found); });
  if (bad < 0) return;
  throw InputError(fmt::format(
      "{}: offset {}: expected a token {}, found {}", path(), byte_offset(bad),
      vocab_size > 0 ? fmt::format("below vocab_size {}", vocab_size) : std::string("in [0, 2^31)"),
      found));
}

std::string token_stream_data_path(const std::string& path) {
  const std::filesystem::path p(path);
  if (p.extension() == ".idx") return std::filesystem::path(p).replace_extension(".bin").string();
  return path;
}

TokenStream open_token_stream(const std::string& path, int64_t vocab_size) {
  const std::filesystem::path p(path);
  TokenStream stream;
  if (p.extension() == ".idx") {
    stream = open_megatron_stream(path);
  } else if (const std::string idx = std::filesystem::path(p).replace_extension(".idx").string();
             p.extension() == ".bin" && starts_with_megatron_magic(idx)) {
    stream = open_megatron_stream(idx);
  } else {
    stream = open_shard_stream(path);
  }
  stream.check_tokens(vocab_size);
  return stream;
}

}  // namespace gatedlm
