#include "gatedlm/data/tokenizer_training.h"

#include <fmt/format.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <string>
#include <unordered_map>

#include "gatedlm/core/error.h"

namespace gatedlm {

void train_sentencepiece(const TokenizerTrainOptions& options) {
  if (options.type != "bpe" && options.type != "unigram") {
    throw InputError(fmt::format("--type: expected bpe or unigram, found '{}'", options.type));
  }
  const std::string suffix = ".model";
  if (options.out.size() <= suffix.size() ||
      options.out.compare(options.out.size() - suffix.size(), suffix.size(), suffix) != 0) {
    throw InputError(fmt::format("--out {}: expected a path ending in .model", options.out));
  }
  if (options.inputs.empty()) throw InputError("--input: expected at least one text file");
  static const char* const kRules[] = {"nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity"};
  if (std::find(std::begin(kRules), std::end(kRules), options.normalization) == std::end(kRules))
    throw InputError(fmt::format(
        "--normalization: expected nmt_nfkc, nfkc, nmt_nfkc_cf, nfkc_cf or identity, found "
        "'{}'",
        options.normalization));
  std::string joined;
  for (const std::string& input : options.inputs) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(input, ec)) {
      throw InputError(fmt::format("{}: expected a readable text file", input));
    }
    // The library takes one comma-separated list.
    if (input.find(',') != std::string::npos) {
      throw InputError(fmt::format("{}: expected a path without ','", input));
    }
    joined += (joined.empty() ? "" : ",") + input;
  }
  const std::unordered_map<std::string, std::string> args = {
      {"input", joined},
      {"model_prefix", options.out.substr(0, options.out.size() - suffix.size())},
      {"model_type", options.type},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"normalization_rule_name", options.normalization},
      {"remove_extra_whitespaces", options.remove_extra_whitespaces ? "true" : "false"},
      {"character_coverage", "0.9995"},
      {"hard_vocab_limit", "false"},  // vocab_size is a maximum: small corpora may give fewer
      {"num_threads", std::to_string(std::max(1, options.threads))},
      {"minloglevel", "1"},  // warnings and errors only
  };
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) {
    throw InputError(fmt::format("tokenizer train: expected training to succeed on {}: {}", joined,
                                 status.ToString()));
  }
}

}  // namespace gatedlm
