#include "gatedlm/config/size_limits.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <vector>

#include "gatedlm/core/error.h"

namespace gatedlm {

namespace {

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

// Saturating, so a product of sizes near 2^63 compares as "too large" instead of wrapping.
uint64_t times(uint64_t a, uint64_t b) {
  uint64_t out = 0;
  return __builtin_mul_overflow(a, b, &out) ? kSaturated : out;
}

uint64_t plus(uint64_t a, uint64_t b) {
  uint64_t out = 0;
  return __builtin_add_overflow(a, b, &out) ? kSaturated : out;
}

struct Factor {
  std::string_view key;
  int64_t value;
};

// One allocation the config implies: the product of its factors times the bytes per element.
struct Term {
  std::string what;
  std::vector<Factor> factors;
  uint64_t bytes_per_element;

  uint64_t bytes() const {
    uint64_t out = bytes_per_element;
    for (const Factor& f : factors) out = times(out, static_cast<uint64_t>(f.value));
    return out;
  }
  // "train.micro_batch_size x train.seq_len x model.vocab_size"
  std::string factor_keys() const {
    std::string out;
    for (const Factor& f : factors) out += (out.empty() ? "" : " x ") + std::string(f.key);
    return out;
  }
  // ... "x 4 bytes"
  std::string formula() const {
    return factor_keys() + " x " + std::to_string(bytes_per_element) + " bytes";
  }
  // The key of the largest factor: where the error points.
  std::string_view key() const {
    const Factor* largest = &factors.front();
    for (const Factor& f : factors)
      if (f.value > largest->value) largest = &f;
    return largest->key;
  }
};

std::string too_large(const std::string& what, uint64_t bytes, const std::string& formula) {
  return what + " would take " +
         (bytes == kSaturated ? "more than 2^64 bytes" : format_bytes(bytes)) + " (" + formula +
         "), more than the " + format_bytes(kAddressableBytes) + " a process can address";
}

}  // namespace

std::string format_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[96];
  if (unit == 0)
    std::snprintf(buffer, sizeof buffer, "%llu bytes", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buffer, sizeof buffer, "%.1f %s (%llu bytes)", value, kUnits[unit],
                  static_cast<unsigned long long>(bytes));
  return buffer;
}

namespace {

// The allocations a config implies, in a fixed order (see kEmbedding ...), the experts last.
enum TermIndex { kEmbedding, kQuery, kKeyValue, kMlp, kLogits, kScores, kSaved, kSavedMlp };

std::vector<Term> size_terms(const Config& config) {
  const ModelConfig& m = config.model;
  const TrainConfig& t = config.train;
  const Factor vocab{"model.vocab_size", m.vocab_size}, hidden{"model.hidden_size", m.hidden_size},
      layers{"model.num_hidden_layers", m.num_hidden_layers},
      heads{"model.num_attention_heads", m.num_attention_heads},
      kv_heads{"model.num_key_value_heads", m.num_key_value_heads},
      head_dim{"model.head_dim", m.head_dim},
      intermediate{"model.intermediate_size", m.intermediate_size},
      batch{"train.micro_batch_size", t.micro_batch_size}, seq{"train.seq_len", t.seq_len};

  // Each tensor on its own (fp32), then the sum of what training holds at once. A lower bound:
  // activations saved for backward count one hidden-width and one MLP-width tensor per layer.
  std::vector<Term> tensors = {
      {"the embedding", {vocab, hidden}, 4},
      {"the query projection", {heads, head_dim, hidden}, 4},
      {"the key and value projections", {kv_heads, head_dim, hidden}, 8},
      {"the MLP projections", {intermediate, hidden}, 12},
      {"the logits", {batch, seq, vocab}, 4},
      {"the attention scores of one head", {seq, seq}, 4},
      {"the saved activations", {layers, batch, seq, hidden}, 4},
      {"the saved MLP activations", {layers, batch, seq, intermediate}, 12},
  };
  // train.recompute: full keeps one layer's MLP activations at a time (docs/recompute.md).
  if (t.recompute == RecomputeMode::full)
    tensors.back() = {"one layer's saved MLP activations", {batch, seq, intermediate}, 12};
  if (m.moe) {
    tensors.push_back({"the experts",
                       {{"model.moe.num_experts", m.moe->num_experts},
                        {"model.moe.moe_intermediate_size", m.moe->moe_intermediate_size},
                        hidden},
                       12});
  }
  return tensors;
}

// 4 bytes per parameter of the whole model (per layer: q, o, k+v, and the MLP or the experts).
uint64_t weight_bytes(const Config& config, const std::vector<Term>& tensors) {
  const ModelConfig& m = config.model;
  uint64_t per_layer =
      plus(plus(tensors[kQuery].bytes(), tensors[kQuery].bytes()), tensors[kKeyValue].bytes());
  per_layer = plus(per_layer, m.moe ? tensors.back().bytes() : tensors[kMlp].bytes());
  return plus(times(per_layer, static_cast<uint64_t>(m.num_hidden_layers)),
              times(tensors[kEmbedding].bytes(), m.tie_word_embeddings ? 1 : 2));
}

}  // namespace

void check_size_limits(const Config& config,
                       const std::function<void(std::string_view, const std::string&)>& fail) {
  const ModelConfig& m = config.model;
  const TrainConfig& t = config.train;
  const Factor hidden{"model.hidden_size", m.hidden_size},
      layers{"model.num_hidden_layers", m.num_hidden_layers};
  const std::vector<Term> tensors = size_terms(config);
  for (const Term& term : tensors) {
    const uint64_t bytes = term.bytes();
    if (bytes > kAddressableBytes)
      fail(term.key(),
           std::string(term.key()) + ": " + too_large(term.what, bytes, term.formula()));
  }

  // Weights, gradients and AdamW's two moments: 16 bytes per parameter.
  const uint64_t state = times(weight_bytes(config, tensors), 4);
  const uint64_t total = plus(plus(state, times(tensors[kLogits].bytes(), 2)),
                              plus(tensors[kSaved].bytes(), tensors[kSavedMlp].bytes()));
  if (total > kAddressableBytes) {
    const std::string_view key = m.num_hidden_layers > 1 ? layers.key : hidden.key;
    fail(key,
         std::string(key) + ": " +
             too_large("the weights, gradients, AdamW moments, logits and saved activations", total,
                       "16 bytes per parameter plus the activations of one micro-batch"));
  }

  // The token counters (metrics' "tokens", the data loader's position) are int64.
  const Term tokens{"the run's token count",
                    {{"train.steps", t.steps},
                     {"train.grad_accum_steps", t.grad_accum_steps},
                     {"train.micro_batch_size", t.micro_batch_size},
                     {"train.seq_len", t.seq_len}},
                    1};
  if (tokens.bytes() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(tokens.key(), std::string(tokens.key()) + ": the run's token count (" +
                           tokens.factor_keys() + ") does not fit a 64-bit counter");
}

void check_memory_plan(const Config& config, uint64_t limit, const std::string& limit_source) {
  const std::vector<Term> tensors = size_terms(config);
  const ParallelConfig& p = config.parallel;
  const uint64_t shards = times(static_cast<uint64_t>(std::max<int64_t>(1, p.tensor)),
                                static_cast<uint64_t>(std::max<int64_t>(1, p.expert)));
  const uint64_t parameters = times(weight_bytes(config, tensors), 2) / shards;
  // Tensor parallelism splits the MLP's width (the residual stream stays whole on each rank).
  const uint64_t mlp =
      tensors[kSavedMlp].bytes() / static_cast<uint64_t>(std::max<int64_t>(1, p.tensor));
  const uint64_t activations = plus(plus(tensors[kSaved].bytes(), mlp), tensors[kLogits].bytes());
  const uint64_t needed = plus(parameters, activations);
  if (needed <= limit) return;
  // The error points at the largest single factor of the largest part.
  const Term* largest = &tensors.front();
  for (const Term& term : tensors)
    if (term.bytes() > largest->bytes()) largest = &term;
  const std::string_view key = largest->key();
  SourceLocation at = config.locations.find(key);
  if (at.file.empty()) at.file = config.source_path;
  throw InputError(
      located(at.file, at.line, at.col,
              std::string(key) + ": training needs at least " + format_bytes(needed) +
                  " per process (weights and gradients of its share of the model, and one "
                  "micro-batch's activations; " +
                  largest->what + " alone " + format_bytes(largest->bytes()) + "), more than " +
                  limit_source + " (" + format_bytes(limit) + ")"));
}

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? times(static_cast<uint64_t>(pages), static_cast<uint64_t>(page))
                               : 0;
}

}  // namespace gatedlm
