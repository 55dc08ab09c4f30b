#include "gatedlm/data/megatron_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

constexpr int64_t kVersionOffset = 9;
constexpr int64_t kDtypeOffset = 17;
constexpr int64_t kSequenceCountOffset = 18;
constexpr int64_t kDocumentCountOffset = 26;
constexpr int64_t kHeaderBytes = 34;

[[noreturn]] void fail_at(const std::string& path, int64_t offset, const std::string& expected) {
  throw InputError(fmt::format("{}: offset {}: expected {}", path, offset, expected));
}

template <typename T>
T load(const MappedFile& file, int64_t offset) {
  T value;
  std::memcpy(&value, file.data() + offset, sizeof(T));
  return value;
}

TokenType token_type_of(const std::string& path, uint8_t code) {
  switch (code) {
    case 1:
      return TokenType::u8;
    case 2:
      return TokenType::i8;
    case 3:
      return TokenType::i16;
    case 4:
      return TokenType::i32;
    case 5:
      return TokenType::i64;
    case 8:
      return TokenType::u16;
    default:
      fail_at(path, kDtypeOffset,
              fmt::format("an integer dtype code (1-5 or 8), found {}{}", code,
                          code == 6 || code == 7 ? " (floating point)" : ""));
  }
}

}  // namespace

TokenStream open_megatron_stream(const std::string& idx_path) {
  const MappedFile idx(idx_path, "Megatron index file");
  if (idx.size() < kHeaderBytes) {
    fail_at(idx_path, 0,
            fmt::format("a {}-byte MMIDIDX header, file has {} bytes", kHeaderBytes, idx.size()));
  }
  if (std::memcmp(idx.data(), kMegatronIndexMagic.data(), kMegatronIndexMagic.size()) != 0) {
    fail_at(idx_path, 0, "the magic \"MMIDIDX\\0\\0\" of a Megatron index");
  }
  if (const auto version = load<uint64_t>(idx, kVersionOffset); version != 1) {
    fail_at(idx_path, kVersionOffset, fmt::format("version 1, found {}", version));
  }
  TokenStream stream;
  stream.type = token_type_of(idx_path, load<uint8_t>(idx, kDtypeOffset));
  const int64_t item_bytes = token_type_bytes(stream.type);
  const auto sequences = load<uint64_t>(idx, kSequenceCountOffset);
  const auto documents = load<uint64_t>(idx, kDocumentCountOffset);
  const auto remaining = static_cast<uint64_t>(idx.size() - kHeaderBytes);
  if (sequences > remaining / 12 || documents > remaining / 8) {
    fail_at(idx_path, kSequenceCountOffset,
            fmt::format("sequence and document counts that fit a {}-byte file, found {} and {}",
                        idx.size(), sequences, documents));
  }
  const int64_t expected_bytes =
      kHeaderBytes + 12 * static_cast<int64_t>(sequences) + 8 * static_cast<int64_t>(documents);
  if (expected_bytes != idx.size()) {
    fail_at(idx_path, std::min(idx.size(), expected_bytes),
            fmt::format("{} bytes for {} sequences and {} document indices, file has {} bytes",
                        expected_bytes, sequences, documents, idx.size()));
  }
  const int64_t lengths_at = kHeaderBytes;
  const int64_t pointers_at = lengths_at + 4 * static_cast<int64_t>(sequences);
  const int64_t documents_at = pointers_at + 8 * static_cast<int64_t>(sequences);

  // The sequences must tile the .bin in order, as Megatron writes them.
  int64_t next_pointer = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(sequences); ++i) {
    const auto length = load<int32_t>(idx, lengths_at + 4 * i);
    if (length < 0) {
      fail_at(idx_path, lengths_at + 4 * i,
              fmt::format("a non-negative length for sequence {}, found {}", i, length));
    }
    const auto pointer = load<int64_t>(idx, pointers_at + 8 * i);
    if (pointer != next_pointer) {
      fail_at(idx_path, pointers_at + 8 * i,
              fmt::format("sequence {} to start at byte {} of the .bin, found {}", i, next_pointer,
                          pointer));
    }
    next_pointer += static_cast<int64_t>(length) * item_bytes;
  }
  int64_t previous = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(documents); ++i) {
    const auto boundary = load<int64_t>(idx, documents_at + 8 * i);
    if (boundary < previous || boundary > static_cast<int64_t>(sequences)) {
      fail_at(idx_path, documents_at + 8 * i,
              fmt::format("a document index in [{}, {}], found {}", previous, sequences, boundary));
    }
    previous = boundary;
  }

  const std::string bin_path = std::filesystem::path(idx_path).replace_extension(".bin").string();
  auto bin = std::make_shared<const MappedFile>(bin_path, "Megatron data file");
  if (bin->size() != next_pointer) {
    fail_at(bin_path, std::min(bin->size(), next_pointer),
            fmt::format("{} bytes ({} tokens) as {} says, found {} bytes", next_pointer,
                        next_pointer / item_bytes, idx_path, bin->size()));
  }
  stream.file = std::move(bin);
  stream.data_offset = 0;
  stream.count = next_pointer / item_bytes;
  return stream;
}

}  // namespace gatedlm
