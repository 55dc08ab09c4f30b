// Text continuation with a KV cache: the prompt is fed one token at a time (each a forward over
// one position, Transformer::decode_step), then new tokens are sampled from the last logits.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gatedlm/core/rng.h"
#include "gatedlm/data/tokenizer.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm {

struct SamplingOptions {
  int64_t max_new_tokens = 64;
  double temperature = 1.0;   // 0 = greedy (argmax, lowest id on ties)
  int64_t top_k = 0;          // > 0: sample among the k most likely tokens only
  uint64_t seed = 1;          // sampling draws come from Rng::stream(seed, StreamId::sample)
  int32_t stop_token = -1;    // >= 0: stop after producing it (e.g. the tokenizer's EOS)
  int64_t allowed_vocab = 0;  // > 0: only ids below it (a tokenizer smaller than the model's
                              // padded vocab_size)
};

// The new tokens (not the prompt). The prompt must be non-empty with ids below vocab_size.
std::vector<int32_t> generate(Transformer& model, std::span<const int32_t> prompt,
                              const SamplingOptions& options);

// Encodes `prompt`, generates and decodes the continuation, stopping at the tokenizer's EOS and
// sampling only ids the tokenizer has. InputError when the prompt encodes to nothing or the
// tokenizer's vocabulary is larger than the model's.
std::string continue_text(Transformer& model, const Tokenizer& tokenizer, std::string_view prompt,
                          SamplingOptions options);

// `text` with every invalid UTF-8 sequence replaced by U+FFFD, for logs and JSON (a sampled
// byte-level continuation may stop inside a character).
std::string printable_utf8(std::string_view text);

// Picks the next token from host logits [vocab] (exposed for tests).
int32_t sample_token(std::span<const float> logits, const SamplingOptions& options, Rng& rng);

}  // namespace gatedlm
