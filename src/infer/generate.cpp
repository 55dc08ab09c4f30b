#include "gatedlm/infer/generate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>

#include "gatedlm/core/error.h"
#include "gatedlm/core/rng.h"
#include "gatedlm/model/kv_cache.h"

namespace gatedlm {

int32_t sample_token(std::span<const float> logits, const SamplingOptions& options, Rng& rng) {
  if (options.allowed_vocab > 0 && options.allowed_vocab < static_cast<int64_t>(logits.size())) {
    logits = logits.first(options.allowed_vocab);
  }
  const auto vocab = static_cast<int64_t>(logits.size());
  if (options.temperature <= 0.0) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  std::vector<int32_t> ids(vocab);
  std::iota(ids.begin(), ids.end(), 0);
  int64_t kept = vocab;
  if (options.top_k > 0 && options.top_k < vocab) {
    kept = options.top_k;
    // Ties broken by id, so the kept set does not depend on the sort's internals.
    std::partial_sort(ids.begin(), ids.begin() + kept, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    });
  }
  float max_logit = -INFINITY;
  for (int64_t i = 0; i < kept; ++i) max_logit = std::max(max_logit, logits[ids[i]]);
  std::vector<double> weights(kept);
  double total = 0.0;
  for (int64_t i = 0; i < kept; ++i) {
    weights[i] = std::exp((logits[ids[i]] - max_logit) / options.temperature);
    total += weights[i];
  }
  double draw = rng.uniform() * total;
  for (int64_t i = 0; i < kept; ++i) {
    draw -= weights[i];
    if (draw < 0.0) return ids[i];
  }
  return ids[kept - 1];  // rounding left a sliver of the total
}

std::vector<int32_t> generate(Transformer& model, std::span<const int32_t> prompt,
                              const SamplingOptions& options) {
  const int64_t vocab = model.config().vocab_size;
  if (prompt.empty()) throw std::invalid_argument("generate: expected a non-empty prompt");
  for (const int32_t id : prompt) {
    if (id < 0 || id >= vocab) throw std::invalid_argument("generate: prompt id outside vocab");
  }
  KvCache cache(model.backend(), model.config(),
                static_cast<int64_t>(prompt.size()) + std::max<int64_t>(options.max_new_tokens, 0));
  Rng rng = Rng::stream(options.seed, StreamId::sample);
  std::vector<float> logits(vocab);
  const float* device_logits = nullptr;
  for (const int32_t id : prompt) device_logits = model.decode_step(id, cache);
  std::vector<int32_t> out;
  while (static_cast<int64_t>(out.size()) < options.max_new_tokens) {
    model.backend().to_host(logits.data(), device_logits, vocab);
    const int32_t next = sample_token(logits, options, rng);
    out.push_back(next);
    if (next == options.stop_token) break;
    if (static_cast<int64_t>(out.size()) < options.max_new_tokens) {
      device_logits = model.decode_step(next, cache);
    }
  }
  return out;
}

std::string printable_utf8(std::string_view text) {
  const nlohmann::json as_json = std::string(text);
  return nlohmann::json::parse(
             as_json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .get<std::string>();
}

std::string continue_text(Transformer& model, const Tokenizer& tokenizer, std::string_view prompt,
                          SamplingOptions options) {
  if (tokenizer.vocab_size() > model.config().vocab_size) {
    throw InputError(
        fmt::format("tokenizer {}: expected at most the model's vocab_size {} tokens, it has {}",
                    tokenizer.name(), model.config().vocab_size, tokenizer.vocab_size()));
  }
  const std::vector<int32_t> prompt_ids = tokenizer.encode(prompt);
  if (prompt_ids.empty()) throw InputError("prompt: expected text that encodes to a token");
  options.allowed_vocab = tokenizer.vocab_size();
  options.stop_token = tokenizer.eos_id();
  return tokenizer.decode(generate(model, prompt_ids, options));
}

}  // namespace gatedlm
