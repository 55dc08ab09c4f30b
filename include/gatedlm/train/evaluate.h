// Validation loss and the paper's instrumentation over held-out windows.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "gatedlm/data/loader.h"
#include "gatedlm/model/instrumentation.h"
#include "gatedlm/model/transformer.h"

namespace gatedlm {

struct EvalResult {
  double loss = 0.0;  // mean over all targets
  int64_t batches = 0;
  int64_t tokens = 0;
};

// Mean loss over the loader's first `batches` batches (the loader is reset first; sequential
// loaders thus give the interfaces' windows [i*T, i*T+T]). With `analysis`, also accumulates
// F-Attn, M-Act and gate scores over the same batches.
EvalResult evaluate(Transformer& model, BatchLoader& loader, int64_t batches,
                    ModelAnalysis* analysis = nullptr);

// {"first_token_attn": mean, "max_act": mean, "gate_score": mean, "gate_sparsity": mean,
//  "layers": [{"first_token_attn", "max_act": {point: value}, "gate_score", ...}]}
nlohmann::json analysis_to_json(const ModelAnalysis& analysis);

}  // namespace gatedlm
