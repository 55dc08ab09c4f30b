#include "gatedlm/train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "gatedlm/train/routing_metrics.h"

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
  int64_t position_count = 0;  // windows seen (every batch has the same seq_len)
  for (int64_t i = 0; i < batches; ++i) {
    loader.next(batch);
    const int64_t tokens = batch.batch * batch.seq_len;
    const double loss = model.forward(batch.inputs.data(), batch.targets.data(), batch.batch,
                                      batch.seq_len, analysis);
    weighted += static_cast<double>(loss) * tokens;
    const float* token_losses = model.token_losses();
    result.position_loss.resize(static_cast<size_t>(batch.seq_len), 0.0);
    for (int64_t b = 0; b < batch.batch; ++b)
      for (int64_t t = 0; t < batch.seq_len; ++t)
        result.position_loss[t] += token_losses[b * batch.seq_len + t];
    position_count += batch.batch;
    result.tokens += tokens;
    ++result.batches;
  }
  result.loss = result.tokens ? weighted / result.tokens : 0.0;
  for (double& l : result.position_loss) l /= static_cast<double>(position_count);
  return result;
}

int64_t target_bytes(BatchLoader& loader, int64_t batches, const Tokenizer& tokenizer) {
  loader.reset();
  TokenBatch batch;
  int64_t bytes = 0;
  for (int64_t i = 0; i < batches; ++i) {
    loader.next(batch);
    for (int64_t b = 0; b < batch.batch; ++b)
      bytes += static_cast<int64_t>(
          tokenizer
              .decode(std::span<const int32_t>(batch.targets.data() + b * batch.seq_len,
                                               static_cast<size_t>(batch.seq_len)))
              .size());
  }
  return bytes;
}

double bits_per_byte(double loss, int64_t tokens, int64_t bytes) {
  return bytes > 0 ? loss * static_cast<double>(tokens) / std::log(2.0) / static_cast<double>(bytes)
                   : 0.0;
}

bool is_eval_override_key(const std::string& dotted_key) {
  return dotted_key == "model.rope_theta" || dotted_key == "model.rope_scaling" ||
         dotted_key.rfind("model.rope_scaling.", 0) == 0;
}

std::vector<PositionBucket> position_buckets(const std::vector<double>& position_loss,
                                             int64_t buckets) {
  const int64_t T = static_cast<int64_t>(position_loss.size());
  std::vector<PositionBucket> out;
  if (T == 0 || buckets <= 0) return out;
  buckets = std::min(buckets, T);
  for (int64_t k = 0; k < buckets; ++k) {
    PositionBucket b;
    b.start = k * T / buckets;
    b.end = (k + 1) * T / buckets;
    double sum = 0.0;
    for (int64_t t = b.start; t < b.end; ++t) sum += position_loss[t];
    b.loss = sum / static_cast<double>(b.end - b.start);
    out.push_back(b);
  }
  return out;
}

nlohmann::json analysis_to_json(const ModelAnalysis& a) {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < a.layers.size(); ++l) {
    nlohmann::json max_act;
    for (int p = 0; p < kNumPoints; ++p) max_act[kActivationPointNames[p]] = a.layers[l].max_act[p];
    nlohmann::json layer = {
        {"layer", l}, {"first_token_attn", a.first_token_attn(l)}, {"max_act", max_act}};
    if (a.has_gate) {
      layer["gate_score"] = a.gate_score(l);
      layer["gate_sparsity"] = a.gate_sparsity(l);
    }
    if (a.layers[l].is_moe()) layer["moe"] = layer_routing_to_json(a.layers[l]);
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
  if (nlohmann::json moe = routing_to_json(a); !moe.is_null()) out["moe"] = moe;
  return out;
}

}  // namespace gatedlm
