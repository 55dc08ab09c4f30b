#include "gatedlm/train/evaluate.h"

namespace gatedlm {

EvalResult evaluate(Transformer& model, BatchLoader& loader, int64_t batches,
                    ModelAnalysis* analysis) {
  loader.reset();
  if (analysis)
    analysis->reset(model.config().num_hidden_layers,
                    model.config().attention_gate.position != GatePosition::none);
  EvalResult result;
  TokenBatch batch;
  double weighted = 0.0;
  for (int64_t i = 0; i < batches; ++i) {
    loader.next(batch);
    const int64_t tokens = batch.batch * batch.seq_len;
    const double loss = model.forward(batch.inputs.data(), batch.targets.data(), batch.batch,
                                     batch.seq_len, analysis);
    weighted += static_cast<double>(loss) * tokens;
    result.tokens += tokens;
    ++result.batches;
  }
  result.loss = result.tokens ? weighted / result.tokens : 0.0;
  return result;
}

nlohmann::json analysis_to_json(const ModelAnalysis& a) {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < a.layers.size(); ++l) {
    nlohmann::json max_act;
    for (int p = 0; p < kNumPoints; ++p) max_act[kActivationPointNames[p]] = a.layers[l].max_act[p];
    nlohmann::json layer = {{"layer", l},
                            {"first_token_attn", a.first_token_attn(l)},
                            {"max_act", max_act}};
    if (a.has_gate) {
      layer["gate_score"] = a.gate_score(l);
      layer["gate_sparsity"] = a.gate_sparsity(l);
    }
    layers.push_back(layer);
  }
  nlohmann::json out = {{"first_token_attn", a.mean_first_token_attn()},
                        {"max_act", a.mean_max_act()},
                        {"layers", layers}};
  if (a.has_gate) {
    out["gate_score"] = a.mean_gate_score();
    out["gate_sparsity"] = a.mean_gate_sparsity();
  } else {
    out["gate_score"] = nullptr;
  }
  return out;
}

}  // namespace gatedlm
