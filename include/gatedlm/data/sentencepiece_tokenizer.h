// SentencePiece models (.model files) through Debian's libsentencepiece. Its normaliser is part
// of the model (nmt_nfkc by default), so decode(encode(text)) returns the normalised text, not
// necessarily the input.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gatedlm/data/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace gatedlm {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // A missing or malformed model is an InputError "PATH: expected a SentencePiece model (...)";
  // the library reports no offsets.
  explicit SentencePieceTokenizer(const std::string& model_path);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(std::string_view text) const override;
  // An id outside [0, vocab_size) is std::out_of_range.
  std::string decode(std::span<const int32_t> tokens) const override;
  int64_t vocab_size() const override;
  int32_t eos_id() const override;  // -1 when the model has none
  int32_t bos_id() const;
  // The piece's text as the model spells it ("</s>" for EOS, which decode() drops).
  std::string piece(int32_t id) const;
  std::string name() const override { return name_; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string name_;
};

}  // namespace gatedlm
