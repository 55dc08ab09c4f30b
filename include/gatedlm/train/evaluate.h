// Validation loss and the paper's instrumentation over held-out windows.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gatedlm/data/loader.h"
#include "gatedlm/data/tokenizer.h"
#include "gatedlm/model/instrumentation.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm {

struct EvalResult {
  double loss = 0.0;  // mean over all targets
  int64_t batches = 0;
  int64_t tokens = 0;
  std::vector<double> position_loss;  // [seq_len]: mean loss of the targets at each position
};

// Mean of position_loss over K contiguous buckets, bucket k = [k*T/K, (k+1)*T/K) (sizes differ
// by at most one when K does not divide T; K is capped at T).
struct PositionBucket {
  int64_t start = 0, end = 0;
  double loss = 0.0;
};
std::vector<PositionBucket> position_buckets(const std::vector<double>& position_loss,
                                             int64_t buckets);

// Mean loss over the loader's first `batches` batches (the loader is reset first; sequential
// loaders thus give the interfaces' windows [i*T, i*T+T]). With `analysis`, also accumulates
// F-Attn, M-Act and gate scores over the same batches.
EvalResult evaluate(Transformer& model, BatchLoader& loader, int64_t batches,
                    ModelAnalysis* analysis = nullptr);

// The UTF-8 bytes the targets of the loader's first `batches` batches decode to, window by
// window (the loader is reset first): what bits per byte divides by, so that models with
// different tokenizers compare on the same text.
int64_t target_bytes(BatchLoader& loader, int64_t batches, const Tokenizer& tokenizer);
// Bits per byte of a mean loss (nats per token) over `tokens` targets that decode to `bytes`.
double bits_per_byte(double loss, int64_t tokens, int64_t bytes);

// The keys an evaluation may override (eval --set, a sweep's evaluate settings):
// model.rope_theta and model.rope_scaling[.key]. They change no tensor shape, and long-context
// evaluation needs them (YaRN on a model trained without it).
bool is_eval_override_key(const std::string& dotted_key);

// {"first_token_attn": mean, "max_act": mean, "gate_score": mean, "gate_sparsity": mean,
//  "layers": [{"first_token_attn", "max_act": {point: value}, "gate_score", ..., "moe"}],
//  "moe": routing_to_json} ("moe" only for MoE models and layers; train/routing_metrics.h)
nlohmann::json analysis_to_json(const ModelAnalysis& analysis);

}  // namespace gatedlm
