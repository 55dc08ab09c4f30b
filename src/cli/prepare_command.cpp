#include <cstdio>

#include "commands.h"
#include "gatedlm/core/error.h"
#include "gatedlm/data/prepare.h"

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
                  "tokenizer: 'bytes' (vocab 256); BPE/SentencePiece come with the data issue");
  cmd->add_option("--input", a->inputs, "text files")->required();
  cmd->add_option("--out", a->out, "output directory for train-NNNNN.bin / val-NNNNN.bin")
      ->required();
  cmd->add_option("--val-fraction", a->val_fraction, "share of tokens for val (default 0.1)")
      ->check(CLI::Range(0.0, 0.999));
  return {cmd, [a] {
            if (a->tokenizer != "bytes")
              throw InputError("--tokenizer " + a->tokenizer +
                               ": only 'bytes' is supported in this build");
            const PrepareStats s = prepare_bytes(a->inputs, a->out, a->val_fraction);
            std::printf("prepared %lld train and %lld val tokens from %lld bytes into %s\n",
                        static_cast<long long>(s.train_tokens),
                        static_cast<long long>(s.val_tokens),
                        static_cast<long long>(s.input_bytes), a->out.c_str());
            return 0;
          }};
}

}  // namespace gatedlm::cli
