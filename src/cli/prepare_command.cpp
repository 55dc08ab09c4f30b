#include <cstdio>

#include "commands.h"
#include "gatedlm/core/error.h"
#include "gatedlm/data/prepare.h"
#include "gatedlm/data/tokenizer_files.h"

namespace gatedlm::cli {

Command add_prepare_command(CLI::App& app) {
  struct Args {
    std::string tokenizer = "bytes", out;
    std::vector<std::string> inputs;
    double val_fraction = 0.1;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("prepare", "Tokenize text files into token shards");
  cmd->add_option("--tokenizer", a->tokenizer,
                  "tokenizer: 'bytes' (vocab 256), a tokenizer.json / encoder.json / vocab.json / "
                  "SentencePiece .model file, or a directory holding one (see docs/data.md)");
  cmd->add_option("--input", a->inputs, "text files")->required();
  cmd->add_option("--out", a->out, "output directory for train-NNNNN.bin / val-NNNNN.bin")
      ->required();
  cmd->add_option("--val-fraction", a->val_fraction, "share of tokens for val (default 0.1)")
      ->check(CLI::Range(0.0, 0.999));
  return {cmd, [a] {
            const auto tokenizer = load_tokenizer(a->tokenizer);
            const PrepareStats s = prepare_shards(a->inputs, a->out, a->val_fraction, *tokenizer);
            std::printf(
                "prepared %lld train and %lld val tokens (%s, vocab %lld) from %lld bytes "
                "into %s\n",
                static_cast<long long>(s.train_tokens), static_cast<long long>(s.val_tokens),
                tokenizer->name().c_str(), static_cast<long long>(tokenizer->vocab_size()),
                static_cast<long long>(s.input_bytes), a->out.c_str());
            return 0;
          }};
}

}  // namespace gatedlm::cli
