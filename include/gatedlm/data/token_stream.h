// A run of little-endian integer tokens inside a memory-mapped file: the body of an llm.c shard
// or a Megatron .bin. The loader reads windows from these without copying whole files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gatedlm/data/mapped_file.h"

namespace gatedlm {

enum class TokenType { u8, i8, i16, u16, i32, u32, i64 };

int token_type_bytes(TokenType type);

struct TokenStream {
  std::shared_ptr<const MappedFile> file;
  int64_t data_offset = 0;  // byte offset of token 0 in the file
  int64_t count = 0;
  TokenType type = TokenType::u16;

  const std::string& path() const { return file->path(); }
  int64_t byte_offset(int64_t index) const { return data_offset + index * token_type_bytes(type); }
  // Tokens [start, start + n) widened to int32; the range must lie inside the stream and the
  // tokens must have passed check_tokens.
  void copy_to(int64_t start, int64_t n, int32_t* out) const;
  // InputError "PATH: offset N: expected a token in [0, LIMIT), found T" for the first token
  // outside [0, vocab_size) (vocab_size <= 0: [0, 2^31)). One pass over the mapped data.
  void check_tokens(int64_t vocab_size) const;
};

// Opens a token file by its format: a Megatron indexed dataset when PATH is a `.idx`, or a
// `.bin` whose `.idx` companion starts with the MMIDIDX magic; otherwise an llm.c shard.
// Tokens are checked against vocab_size (see check_tokens).
TokenStream open_token_stream(const std::string& path, int64_t vocab_size = 0);

// The file a stream is read from: PATH itself, or the `.bin` of a Megatron `.idx`. Globs
// that match both halves of a Megatron pair name one stream twice; this dedupes them.
std::string token_stream_data_path(const std::string& path);

}  // namespace gatedlm
