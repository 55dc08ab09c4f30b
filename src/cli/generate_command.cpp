// `gatedlm generate`: continues a prompt with a checkpoint's model, decoding with a KV cache.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "gatedlm/backend/backend.h"
#include "gatedlm/checkpoint/checkpoint.h"
#include "gatedlm/core/error.h"
#include "gatedlm/data/tokenizer_files.h"
#include "gatedlm/infer/generate.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm::cli {

namespace {

// --tokenizer, else the one the checkpoint's run recorded: the ids mean nothing without it.
std::string generation_tokenizer(const std::string& dir, const Config& config,
                                 const std::string& given) {
  if (!given.empty()) return given;
  if (config.data.tokenizer.empty())
    throw InputError(dir + ": the checkpoint's config has no data.tokenizer; pass --tokenizer");
  return config.data.tokenizer;
}

// A tokenizer other than the model's decodes its ids into unrelated text (bytes for a
// 50257-token model). The model's vocabulary may be the tokenizer's padded by fewer than 1024
// ids (Megatron pads to 128 x tensor-parallel size: GPT-2's 50257 becomes 50304) and fewer than
// the tokenizer has.
void check_tokenizer_fits(const Tokenizer& tokenizer, int64_t model_vocab) {
  constexpr int64_t kMaxPadding = 1024;
  const int64_t vocab = tokenizer.vocab_size();
  if (vocab > model_vocab || model_vocab - vocab >= std::min(kMaxPadding, vocab))
    throw InputError(fmt::format(
        "tokenizer {} has {} tokens but the model has vocab_size {}: not the tokenizer it was "
        "trained with (pass the right --tokenizer)",
        tokenizer.name(), vocab, model_vocab));
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  struct Args {
    std::string checkpoint, tokenizer, prompt;
    SamplingOptions sampling;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "Continue a prompt with a checkpoint's model (KV-cache decoding on the CPU)");
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint dir, its model.h5, or a run dir")
      ->required();
  cmd->add_option("--tokenizer", a->tokenizer,
                  "the tokenizer the data was prepared with (as for prepare: 'bytes', a "
                  "tokenizer.json, ...); default: the checkpoint's data.tokenizer");
  cmd->add_option("--prompt", a->prompt, "text to continue")->required();
  cmd->add_option("--max-new-tokens", a->sampling.max_new_tokens, "tokens to generate (64)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", a->sampling.temperature, "softmax temperature; 0 = greedy (1)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", a->sampling.top_k, "sample among the K most likely (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", a->sampling.seed, "sampling seed (1)");
  add_threads_option(*cmd, a->threads);
  return {cmd, [a] {
            apply_threads(a->threads);
            const std::string dir = resolve_checkpoint(a->checkpoint);
            const Config config = load_checkpoint_config(dir);
            const auto tokenizer = load_tokenizer(generation_tokenizer(dir, config, a->tokenizer));
            check_tokenizer_fits(*tokenizer, config.model.vocab_size);
            auto backend = make_cpu_backend();
            Transformer model(config.model, *backend);
            load_model_h5(dir + "/model.h5", model.params());
            const std::string text = continue_text(model, *tokenizer, a->prompt, a->sampling);
            std::printf("%s%s\n", a->prompt.c_str(), text.c_str());
            return 0;
          }};
}

}  // namespace gatedlm::cli
