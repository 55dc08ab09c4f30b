#include "gatedlm/train/trainer.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/checkpoint/checkpoint.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/optim/adamw.h"
#include "gatedlm/optim/schedule.h"
#include "gatedlm/train/evaluate.h"
#include "gatedlm/train/metrics.h"
#include "gatedlm/train/progress.h"

namespace gatedlm {
namespace fs = std::filesystem;

Trainer::Trainer(const Config& config, std::string run_dir, Backend& backend)
    : config_(config), run_dir_(std::move(run_dir)), backend_(backend) {}

TrainSummary Trainer::run() {
  const TrainConfig& tc = config_.train;
  std::error_code ec;
  fs::create_directories(run_dir_, ec);
  if (ec || !fs::is_directory(run_dir_))
    throw RuntimeFailure(run_dir_ + ": cannot create the run directory (" + ec.message() + ")");
  const std::string config_yaml = config_to_yaml(config_);
  {
    std::ofstream out(fs::path(run_dir_) / "config.yaml");
    out << config_yaml;
    if (!out) throw RuntimeFailure(run_dir_ + "/config.yaml: cannot write");
  }
  MetricsWriter metrics((fs::path(run_dir_) / "metrics.jsonl").string(), false);

  Transformer model(config_.model, backend_);
  model.init_weights(tc.seed);
  model.reserve(tc.micro_batch_size, tc.seq_len);
  AdamW optimizer(config_.optimizer, model.params());

  WindowLoaderOptions train_opts;
  train_opts.pattern = config_.data.train;
  train_opts.batch = tc.micro_batch_size;
  train_opts.seq_len = tc.seq_len;
  train_opts.order = WindowOrder::random;
  train_opts.seed = tc.seed;
  train_opts.vocab_size = config_.model.vocab_size;
  auto train_loader = make_window_loader(train_opts);
  std::unique_ptr<BatchLoader> val_loader;
  if (!config_.data.val.empty()) {
    WindowLoaderOptions val_opts = train_opts;
    val_opts.pattern = config_.data.val;
    val_opts.order = WindowOrder::sequential;
    val_loader = make_window_loader(val_opts);
  }

  const double flops_per_token = model.training_flops_per_token(tc.seq_len);
  const double peak_gflops = backend_.device() == Device::cpu ? measure_sgemm_gflops() : 0.0;
  const int64_t tokens_per_step = tc.micro_batch_size * tc.seq_len * tc.grad_accum_steps;
  spdlog::info("model: {} parameters, {:.2f} GFLOP per step; {} tokens per step; sgemm peak {:.0f} "
               "GFLOP/s on {} threads",
               model.params().numel(), flops_per_token * tokens_per_step / 1e9, tokens_per_step,
               peak_gflops, cpu_threads());

  TrainSummary summary;
  auto run_eval = [&](int64_t step) {
    if (!val_loader) return;
    const EvalResult r = evaluate(model, *val_loader, tc.eval_batches);
    metrics.write({{"step", step}, {"val_loss", r.loss}, {"val_tokens", r.tokens}});
    summary.final_val_loss = r.loss;
    spdlog::info("eval step {} | val loss {:.4f}", step, r.loss);
  };
  // The paper's metrics on a fixed held-out batch: the first val batch (else the first train
  // windows of a separately seeded loader, so the training stream is not disturbed).
  TokenBatch analysis_batch;
  if (tc.analyze_interval > 0) {
    if (val_loader) {
      val_loader->reset();
      val_loader->next(analysis_batch);
    } else {
      WindowLoaderOptions opts = train_opts;
      opts.order = WindowOrder::sequential;
      make_window_loader(opts)->next(analysis_batch);
    }
  }
  auto run_analysis = [&](int64_t step) {
    if (tc.analyze_interval <= 0) return;
    ModelAnalysis analysis;
    analysis.reset(config_.model.num_hidden_layers,
                   config_.model.attention_gate.position != GatePosition::none);
    model.forward(analysis_batch.inputs.data(), analysis_batch.targets.data(),
                  analysis_batch.batch, analysis_batch.seq_len, &analysis);
    const nlohmann::json a = analysis_to_json(analysis);
    metrics.write({{"step", step},
                   {"first_token_attn", a["first_token_attn"]},
                   {"max_act", a["max_act"]},
                   {"gate_score", a["gate_score"]},
                   {"analysis", a["layers"]}});
    spdlog::info("analysis step {} | F-Attn {:.3f} | M-Act {:.2f}{}", step,
                 a["first_token_attn"].get<double>(), a["max_act"].get<double>(),
                 a["gate_score"].is_null()
                     ? ""
                     : fmt::format(" | gate score {:.3f}", a["gate_score"].get<double>()));
  };

  TokenBatch batch;
  Stopwatch wall, window;
  int64_t tokens = 0, window_tokens = 0;
  double loss_sum_window = 0.0;
  int64_t window_steps = 0;
  for (int64_t step = 0; step < tc.steps; ++step) {
    model.params().zero_grads();
    double loss = 0.0;
    for (int64_t micro = 0; micro < tc.grad_accum_steps; ++micro) {
      train_loader->next(batch);
      loss += model.forward_backward(batch.inputs.data(), batch.targets.data(), batch.batch,
                                     batch.seq_len, 1.0f / static_cast<float>(tc.grad_accum_steps));
    }
    loss /= static_cast<double>(tc.grad_accum_steps);
    const double grad_norm = global_grad_norm(model.params());
    const double lr = learning_rate(config_.scheduler, config_.optimizer.lr, step, tc.steps);
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
      if (config_.stability.on_nonfinite == NonFinitePolicy::skip) {
        spdlog::warn("step {}: non-finite loss or gradient; update skipped", step + 1);
        continue;
      }
      throw RuntimeFailure(fmt::format(
          "step {}: non-finite loss ({}) or gradient norm ({}); stability.on_nonfinite stops",
          step + 1, loss, grad_norm));
    }
    clip_grad_norm(model.params(), grad_norm, tc.max_grad_norm);
    optimizer.step(static_cast<float>(lr));
    tokens += tokens_per_step;
    window_tokens += tokens_per_step;
    loss_sum_window += loss;
    ++window_steps;
    summary.final_loss = loss;
    summary.steps = step + 1;

    const bool last = step + 1 == tc.steps;
    if ((step + 1) % tc.log_interval == 0 || last) {
      const double elapsed = window.seconds();
      const double tok_s = window_tokens / std::max(elapsed, 1e-9);
      const double mfu = peak_gflops > 0 ? tok_s * flops_per_token / (peak_gflops * 1e9) : 0.0;
      const double eta = (tc.steps - step - 1) * (wall.seconds() / (step + 1));
      metrics.write({{"step", step + 1},
                     {"loss", loss},
                     {"lr", lr},
                     {"grad_norm", grad_norm},
                     {"tokens", tokens},
                     {"tokens_per_s", tok_s},
                     {"time_s", wall.seconds()}});
      spdlog::info("step {:>6}/{} | loss {:.4f} | lr {:.2e} | gnorm {:.3f} | {} tok/s | MFU {:.0f}% "
                   "| ETA {}",
                   step + 1, tc.steps, loss_sum_window / window_steps, lr, grad_norm,
                   format_count(tok_s), 100.0 * mfu, format_duration(eta));
      summary.tokens_per_s = tok_s;
      window.restart();
      window_tokens = 0;
      loss_sum_window = 0.0;
      window_steps = 0;
    }
    if (tc.eval_interval > 0 && ((step + 1) % tc.eval_interval == 0) && !last) run_eval(step + 1);
    if (tc.analyze_interval > 0 && (step + 1) % tc.analyze_interval == 0 && !last)
      run_analysis(step + 1);
    if (config_.checkpoint.interval > 0 && (step + 1) % config_.checkpoint.interval == 0 && !last)
      summary.checkpoint = save_checkpoint(run_dir_, step + 1, model.params(), config_yaml);
  }
  run_eval(summary.steps);
  run_analysis(summary.steps);
  summary.checkpoint = save_checkpoint(run_dir_, summary.steps, model.params(), config_yaml);
  spdlog::info("done: {} steps in {}, checkpoint {}", summary.steps,
               format_duration(wall.seconds()), summary.checkpoint);
  return summary;
}

}  // namespace gatedlm
