#include "gatedlm/data/sentencepiece_tokenizer.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include <stdexcept>

#include "gatedlm/core/error.h"

namespace gatedlm {

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()),
      name_("sentencepiece:" + model_path) {
  const auto status = sp_->Load(model_path);
  if (!status.ok()) {
    throw InputError(
        fmt::format("{}: expected a SentencePiece model ({})", model_path, status.ToString()));
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(absl::string_view(text.data(), text.size()), &ids);
  if (!status.ok()) throw RuntimeFailure(fmt::format("{}: {}", name_, status.ToString()));
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> tokens) const {
  std::vector<int> ids(tokens.begin(), tokens.end());
  for (const int id : ids) {
    if (id < 0 || id >= sp_->GetPieceSize()) {
      throw std::out_of_range(fmt::format("{}: token {} is not in the vocabulary", name_, id));
    }
  }
  std::string text;
  const auto status = sp_->Decode(ids, &text);
  if (!status.ok()) throw RuntimeFailure(fmt::format("{}: {}", name_, status.ToString()));
  return text;
}

int64_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int32_t SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }
int32_t SentencePieceTokenizer::bos_id() const { return sp_->bos_id(); }

std::string SentencePieceTokenizer::piece(int32_t id) const { return sp_->IdToPiece(id); }

}  // namespace gatedlm
