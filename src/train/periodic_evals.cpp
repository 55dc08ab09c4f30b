// Val loss, analysis and text samples between training steps.
#include "gatedlm/train/periodic_evals.h"

#include <spdlog/spdlog.h>

#include "gatedlm/data/tokenizer_files.h"
#include "gatedlm/infer/generate.h"
#include "gatedlm/train/evaluate.h"

namespace gatedlm {
namespace {

void write_metrics(MetricsWriter* metrics, const nlohmann::json& line) {
  if (metrics) metrics->write(line);
}

// Whether a periodic measurement falls after `step` (never when its interval is 0).
bool is_due(int64_t interval, int64_t step) { return interval > 0 && step % interval == 0; }

}  // namespace

ValidationEval::ValidationEval(TrainSetup& setup, MetricsWriter* metrics)
    : setup_(setup), metrics_(metrics) {}

void ValidationEval::after_step(int64_t step, bool last) {
  if (is_due(setup_.config.train.eval_interval, step) && !last) run(step);
}

void ValidationEval::run(int64_t step) {
  if (!setup_.val_loader) return;
  // Each data rank reads its own windows; every rank sees the same number of tokens.
  const EvalResult r = evaluate(setup_.model, *setup_.val_loader, setup_.config.train.eval_batches);
  const double loss = setup_.data_parallel.mean(r.loss);
  write_metrics(metrics_,
                {{"step", step}, {"val_loss", loss}, {"val_tokens", r.tokens * setup_.data_ranks}});
  last_loss_ = loss;
  spdlog::info("eval step {} | val loss {:.4f}", step, loss);
}

AnalysisProbe::AnalysisProbe(TrainSetup& setup, MetricsWriter* metrics)
    : setup_(setup), metrics_(metrics), interval_(setup.config.train.analyze_interval) {
  if (interval_ <= 0) return;
  WindowLoaderOptions options = setup.train_data;
  if (setup.val_loader) options.pattern = setup.config.data.val;
  options.order = WindowOrder::sequential;
  options.rank = 0;
  options.world = 1;
  make_window_loader(options)->next(batch_);
}

void AnalysisProbe::after_step(int64_t step, bool last) {
  if (is_due(interval_, step) && !last) run(step);
}

void AnalysisProbe::run(int64_t step) {
  if (interval_ <= 0) return;
  const ModelConfig& model = setup_.config.model;
  ModelAnalysis analysis;
  analysis.reset(model.num_hidden_layers, model.attention_gate.position != GatePosition::none);
  setup_.model.forward(batch_.inputs.data(), batch_.targets.data(), batch_.batch, batch_.seq_len,
                       &analysis);
  const nlohmann::json a = analysis_to_json(analysis);
  nlohmann::json line = {{"step", step},
                         {"first_token_attn", a["first_token_attn"]},
                         {"max_act", a["max_act"]},
                         {"gate_score", a["gate_score"]},
                         {"analysis", a["layers"]},
                         // F-Attn's chance level depends on it (docs/outputs.md)
                         {"analysis_seq_len", batch_.seq_len}};
  if (a.contains("moe")) line["moe"] = a["moe"];
  write_metrics(metrics_, line);
  spdlog::info("analysis step {} | F-Attn {:.3f} | M-Act {:.2f}{}", step,
               a["first_token_attn"].get<double>(), a["max_act"].get<double>(),
               a["gate_score"].is_null()
                   ? ""
                   : fmt::format(" | gate score {:.3f}", a["gate_score"].get<double>()));
}

TextSampler::TextSampler(TrainSetup& setup, MetricsWriter* metrics)
    : setup_(setup),
      metrics_(metrics),
      tokenizer_(setup.config.train.sample_interval > 0
                     ? load_tokenizer(setup.config.data.tokenizer)
                     : nullptr) {}

void TextSampler::after_step(int64_t step) {
  const TrainConfig& tc = setup_.config.train;
  if (!is_due(tc.sample_interval, step) || !tokenizer_) return;
  const SamplingOptions options{
      .max_new_tokens = 48, .temperature = 0.8, .top_k = 40, .seed = tc.seed};
  const std::string text = printable_utf8(
      tc.sample_prompt + continue_text(setup_.model, *tokenizer_, tc.sample_prompt, options));
  write_metrics(metrics_, {{"step", step}, {"sample", text}});
  spdlog::info("sample step {} | {}", step, text);
}

}  // namespace gatedlm
