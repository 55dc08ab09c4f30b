#include "gatedlm/checkpoint/hf_tokenizer.h"

#include <fmt/format.h>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/core/error.h"
#include "gatedlm/data/bpe_tokenizer.h"
#include "gatedlm/data/sentencepiece_tokenizer.h"
#include "gatedlm/data/tokenizer_files.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

void copy_as(const std::string& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec)
    throw RuntimeFailure(
        fmt::format("{} -> {}: cannot copy ({})", from, to.string(), ec.message()));
}

int32_t bos_of(const Tokenizer& t) {
  if (const auto* bpe = dynamic_cast<const BpeTokenizer*>(&t)) return bpe->bos_id();
  if (const auto* spm = dynamic_cast<const SentencePieceTokenizer*>(&t)) return spm->bos_id();
  return -1;
}

// A special token's text: SentencePiece's piece (decode drops control tokens), else the
// decoded id (a BPE added token decodes to its content).
nlohmann::json token_text(const Tokenizer& t, int32_t id) {
  if (id < 0) return nullptr;
  if (const auto* spm = dynamic_cast<const SentencePieceTokenizer*>(&t)) return spm->piece(id);
  const int32_t ids[] = {id};
  return t.decode(ids);
}

}  // namespace

HfTokenizerExport write_hf_tokenizer(const std::string& spec, int64_t model_vocab,
                                     int64_t max_length, const fs::path& out) {
  const TokenizerFiles files = find_tokenizer_files(spec);
  const auto tokenizer = load_tokenizer(spec);
  if (tokenizer->vocab_size() > model_vocab)
    throw InputError(
        fmt::format("data.tokenizer {} has {} tokens, more than the model's vocab_size {}: not the "
                    "tokenizer this model was trained with",
                    spec, tokenizer->vocab_size(), model_vocab));
  HfTokenizerExport result;
  std::string tokenizer_class;
  switch (files.kind) {
    case TokenizerFiles::Kind::bytes:
      write_file_durably((out / "tokenizer.json").string(), byte_tokenizer_json());
      result.files = {"tokenizer.json"};
      tokenizer_class = "PreTrainedTokenizerFast";
      break;
    case TokenizerFiles::Kind::hf_json:
      copy_as(files.paths[0], out / "tokenizer.json");
      result.files = {"tokenizer.json"};
      tokenizer_class = "PreTrainedTokenizerFast";
      break;
    case TokenizerFiles::Kind::bpe_pair:
      copy_as(files.paths[0], out / "vocab.json");
      copy_as(files.paths[1], out / "merges.txt");
      result.files = {"vocab.json", "merges.txt"};
      tokenizer_class = "GPT2Tokenizer";
      break;
    case TokenizerFiles::Kind::sentencepiece:
      copy_as(files.paths[0], out / "tokenizer.model");
      result.files = {"tokenizer.model"};
      tokenizer_class = "LlamaTokenizer";  // reads a SentencePiece .model as it is
      break;
  }
  result.bos_id = bos_of(*tokenizer);
  result.eos_id = tokenizer->eos_id();
  // gatedlm adds no BOS/EOS when it encodes (docs/data.md): neither does the exported tokenizer.
  const nlohmann::json config = {{"tokenizer_class", tokenizer_class},
                                 {"bos_token", token_text(*tokenizer, result.bos_id)},
                                 {"eos_token", token_text(*tokenizer, result.eos_id)},
                                 {"add_bos_token", false},
                                 {"add_eos_token", false},
                                 {"clean_up_tokenization_spaces", false},
                                 {"model_max_length", max_length},
                                 {"gatedlm_tokenizer", spec}};
  write_file_durably((out / "tokenizer_config.json").string(), config.dump(2) + "\n");
  result.files.push_back("tokenizer_config.json");
  return result;
}

nlohmann::json hf_generation_config_json(int32_t bos_id, int32_t eos_id) {
  auto id = [](int32_t v) { return v >= 0 ? nlohmann::json(v) : nlohmann::json(); };
  return {{"do_sample", false},
          {"bos_token_id", id(bos_id)},
          {"eos_token_id", id(eos_id)},
          {"transformers_version", "4.51.0"}};
}

}  // namespace gatedlm
