// Text <-> token ids. `prepare` takes any Tokenizer; the byte tokenizer is the dependency-free
// one (vocab 256, a token is a raw byte), and BPE / SentencePiece tokenizers slot in beside it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gatedlm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual std::string decode(std::span<const int32_t> tokens) const = 0;
  virtual int64_t vocab_size() const = 0;
  // The end-of-text token that separates documents, or -1 when the vocabulary has none.
  virtual int32_t eos_id() const = 0;
  // Short name for logs and metadata, e.g. "bytes".
  virtual std::string name() const = 0;
};

// Token i is the byte i: any text round-trips exactly, no special tokens.
class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override;
  // A token outside [0, 256) is std::out_of_range.
  std::string decode(std::span<const int32_t> tokens) const override;
  int64_t vocab_size() const override { return 256; }
  int32_t eos_id() const override { return -1; }
  std::string name() const override { return "bytes"; }
};

}  // namespace gatedlm
