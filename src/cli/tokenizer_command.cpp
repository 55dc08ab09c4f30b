// `gatedlm tokenizer train`: a SentencePiece model from text files.
#include <cstdio>

#include "commands.h"
#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/data/tokenizer_files.h"
#include "gatedlm/data/tokenizer_training.h"

namespace gatedlm::cli {

Command add_tokenizer_command(CLI::App& app) {
  struct Args {
    TokenizerTrainOptions options;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("tokenizer", "Tokenizer tools");
  cmd->require_subcommand(1);
  CLI::App* train = cmd->add_subcommand(
      "train", "Train a SentencePiece model (BPE or unigram) on text files (docs/data.md)");
  train->add_option("--type", a->options.type, "bpe or unigram (bpe)")
      ->check(CLI::IsMember({"bpe", "unigram"}));
  train->add_option("--vocab-size", a->options.vocab_size, "vocabulary size (8000)")
      ->check(CLI::Range(int64_t{260}, int64_t{1} << 30));
  train->add_option("--input", a->options.inputs, "text files (one sentence per line)")->required();
  train->add_option("--out", a->options.out, "the model to write, PATH.model")->required();
  train
      ->add_option("--normalization", a->options.normalization,
                   "nmt_nfkc (default: NFKC, newlines become spaces), nfkc, nmt_nfkc_cf, "
                   "nfkc_cf, or identity (keeps text as it is, newlines included)")
      ->check(CLI::IsMember({"nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity"}));
  train->add_option("--byte-fallback", a->options.byte_fallback,
                    "unknown characters as byte tokens rather than <unk> (true)");
  train->add_option("--remove-extra-whitespaces", a->options.remove_extra_whitespaces,
                    "collapse runs of spaces and trim lines (true); false keeps them");
  add_threads_option(*train, a->threads);
  return {cmd, [a] {
            apply_threads(a->threads);
            a->options.threads = cpu_threads();
            train_sentencepiece(a->options);
            const auto tokenizer = load_tokenizer(a->options.out);
            std::printf("trained %s (%s, vocab %lld) on %zu files\n", a->options.out.c_str(),
                        a->options.type.c_str(), static_cast<long long>(tokenizer->vocab_size()),
                        a->options.inputs.size());
            return 0;
          }};
}

}  // namespace gatedlm::cli
