#include "gatedlm/train/trainer.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/checkpoint/resume.h"
#include "gatedlm/checkpoint/snapshot.h"
#include "gatedlm/checkpoint/store.h"
#include "gatedlm/checkpoint/writer.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/data/tokenizer_files.h"
#include "gatedlm/infer/generate.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/optim/adamw.h"
#include "gatedlm/optim/schedule.h"
#include "gatedlm/train/evaluate.h"
#include "gatedlm/train/metrics.h"
#include "gatedlm/train/progress.h"
#include "gatedlm/train/signals.h"

namespace gatedlm {
namespace fs = std::filesystem;

Trainer::Trainer(const Config& config, std::string run_dir, Backend& backend)
    : config_(config), run_dir_(std::move(run_dir)), backend_(backend) {}

namespace {

// Puts a resumed run's data stream back where the checkpoint left it.
void restore_loaders(const ResumePoint& point, BatchLoader& train, BatchLoader* val) {
  const LoaderState* train_state = point.state.loader("train");
  if (!train_state)
    throw InputError(point.dir + ": checkpoint has no data/train loader state to resume from");
  train.set_state(*train_state);
  // Evaluation rewinds the val loader anyway, so changed val data is no reason to refuse.
  if (const LoaderState* val_state = point.state.loader("val"); val && val_state) {
    try {
      val->set_state(*val_state);
    } catch (const InputError& e) {
      spdlog::warn("val loader state not restored: {}", e.what());
    }
  }
}

// Lines logged after the resumed step belong to a timeline that was lost (a kill -9 after the
// last checkpoint, or a fallback past a damaged one); the resumed run writes those steps again.
// Dropping them keeps one line per step. Everything up to the step stays byte for byte.
void drop_metrics_after(const fs::path& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  int64_t dropped = 0;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("step") && j["step"].is_number() &&
        j["step"].get<int64_t>() > step) {
      ++dropped;
      continue;
    }
    kept += line + "\n";
  }
  in.close();
  if (dropped == 0) return;
  const fs::path tmp = path.string() + ".tmp";
  write_file_durably(tmp.string(), kept);
  fs::rename(tmp, path);
  spdlog::warn("{}: dropped {} lines logged after step {}; those steps run again", path.string(),
               dropped, step);
}

}  // namespace

TrainSummary Trainer::run() {
  const TrainConfig& tc = config_.train;
  std::error_code ec;
  fs::create_directories(run_dir_, ec);
  if (ec || !fs::is_directory(run_dir_))
    throw RuntimeFailure(run_dir_ + ": cannot create the run directory (" + ec.message() + ")");
  const std::string config_yaml = config_to_yaml(config_);
  StopSignals signals;

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

  // Resume before touching the run directory's files, so a bad checkpoint changes nothing.
  TrainSummary summary;
  const std::optional<ResumePoint> resume =
      resume_path_.empty() ? find_resume_point(run_dir_, model.params().infos())
                           : std::optional(load_resume_point(resume_path_, model.params().infos()));
  int64_t start_step = 0, tokens = 0;
  double elapsed_before = 0.0;
  if (resume) {
    const CheckpointState& state = resume->state;
    restore_training(state, model.params(), optimizer);
    restore_loaders(*resume, *train_loader, val_loader.get());
    start_step = state.step;
    tokens = state.tokens_seen;
    elapsed_before = state.elapsed_s;
    summary.steps = start_step;
    summary.resumed_from_step = start_step;
    summary.checkpoint = resume->dir;
    if (state.seed != tc.seed)
      spdlog::warn(
          "train.seed is {} but the checkpoint was written with seed {}; the data "
          "stream continues from the checkpoint",
          tc.seed, state.seed);
    if (state.schedule_total_steps != tc.steps)
      spdlog::info("train.steps changed from {} to {}: the LR schedule follows the new total",
                   state.schedule_total_steps, tc.steps);
    spdlog::info("resuming from {} at step {} ({} tokens seen)", resume->dir, start_step, tokens);
  }
  {
    std::ofstream out(fs::path(run_dir_) / "config.yaml");
    out << config_yaml;
    if (!out) throw RuntimeFailure(run_dir_ + "/config.yaml: cannot write");
  }
  // A resumed run continues its metrics file; a fresh one starts it over.
  if (resume) drop_metrics_after(fs::path(run_dir_) / "metrics.jsonl", start_step);
  MetricsWriter metrics((fs::path(run_dir_) / "metrics.jsonl").string(), resume.has_value());
  if (start_step >= tc.steps) {
    spdlog::info("the run is already at step {} of {}: nothing to do", start_step, tc.steps);
    return summary;
  }

  const double flops_per_token = model.training_flops_per_token(tc.seq_len);
  const double peak_gflops = backend_.device() == Device::cpu ? measure_sgemm_gflops() : 0.0;
  const int64_t tokens_per_step = tc.micro_batch_size * tc.seq_len * tc.grad_accum_steps;
  spdlog::info(
      "model: {} parameters, {:.2f} GFLOP per step; {} tokens per step; sgemm peak {:.0f} "
      "GFLOP/s on {} threads",
      model.params().numel(), flops_per_token * tokens_per_step / 1e9, tokens_per_step, peak_gflops,
      cpu_threads());

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
    model.forward(analysis_batch.inputs.data(), analysis_batch.targets.data(), analysis_batch.batch,
                  analysis_batch.seq_len, &analysis);
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

  // A short continuation of a fixed prompt, so researchers see what the model has learned.
  const auto sample_tokenizer =
      tc.sample_interval > 0 ? load_tokenizer(config_.data.tokenizer) : nullptr;
  auto log_sample = [&](int64_t step) {
    if (!sample_tokenizer) return;
    const SamplingOptions options{
        .max_new_tokens = 48, .temperature = 0.8, .top_k = 40, .seed = tc.seed};
    const std::string text = printable_utf8(
        tc.sample_prompt + continue_text(model, *sample_tokenizer, tc.sample_prompt, options));
    metrics.write({{"step", step}, {"sample", text}});
    spdlog::info("sample step {} | {}", step, text);
  };

  CheckpointWriter writer(run_dir_, {config_.checkpoint.keep_last, config_.checkpoint.keep_every},
                          config_.checkpoint.async);
  Stopwatch wall, window;
  double last_lr = 0.0;
  // A failed save stops the run unless the config says continue; the last one always must work.
  auto on_save_failure = [&](const RuntimeFailure& e, bool must_succeed) {
    if (must_succeed || config_.checkpoint.on_write_failure == "stop") throw;
    spdlog::error("{}; training continues (checkpoint.on_write_failure: continue)", e.what());
  };
  auto save = [&](int64_t steps_done, bool must_succeed) {
    const Stopwatch stall;  // what training waits: an unfinished earlier save, the snapshot, ...
    try {
      writer.wait();  // an earlier background save's failure surfaces here
    } catch (const RuntimeFailure& e) {
      on_save_failure(e, must_succeed);
    }
    try {
      TrainingProgress progress;
      progress.step = steps_done;
      progress.tokens_seen = tokens;
      progress.elapsed_s = elapsed_before + wall.seconds();
      progress.last_lr = last_lr;
      progress.total_steps = tc.steps;
      progress.seed = tc.seed;
      const NamedLoaders loaders = {{"train", train_loader.get()}, {"val", val_loader.get()}};
      CheckpointState snapshot = writer.take_buffers();
      snapshot_training(model.params(), optimizer, progress, loaders, config_yaml, ParallelLayout{},
                        snapshot);
      summary.checkpoint = writer.save(std::move(snapshot));
      spdlog::info("checkpoint step {}: training paused {:.1f} ms ({})", steps_done,
                   stall.seconds() * 1e3, writer.async() ? "async" : "sync");
      if (must_succeed) writer.wait();
    } catch (const RuntimeFailure& e) {
      on_save_failure(e, must_succeed);
    }
  };

  TokenBatch batch;
  int64_t window_tokens = 0;
  double loss_sum_window = 0.0;
  int64_t window_steps = 0;
  for (int64_t step = start_step; step < tc.steps; ++step) {
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
    const bool last = step + 1 == tc.steps;
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
      if (config_.stability.on_nonfinite != NonFinitePolicy::skip)
        throw RuntimeFailure(fmt::format(
            "step {}: non-finite loss ({}) or gradient norm ({}); stability.on_nonfinite stops",
            step + 1, loss, grad_norm));
      spdlog::warn("step {}: non-finite loss or gradient; update skipped", step + 1);
    } else {
      clip_grad_norm(model.params(), grad_norm, tc.max_grad_norm);
      optimizer.step(static_cast<float>(lr));
      last_lr = lr;
      tokens += tokens_per_step;
      window_tokens += tokens_per_step;
      loss_sum_window += loss;
      ++window_steps;
      summary.final_loss = loss;

      if ((step + 1) % tc.log_interval == 0 || last) {
        const double elapsed = window.seconds();
        const double tok_s = window_tokens / std::max(elapsed, 1e-9);
        const double mfu = peak_gflops > 0 ? tok_s * flops_per_token / (peak_gflops * 1e9) : 0.0;
        const double eta = (tc.steps - step - 1) * (wall.seconds() / (step + 1 - start_step));
        metrics.write({{"step", step + 1},
                       {"loss", loss},
                       {"lr", lr},
                       {"grad_norm", grad_norm},
                       {"tokens", tokens},
                       {"tokens_per_s", tok_s},
                       {"time_s", elapsed_before + wall.seconds()}});
        spdlog::info(
            "step {:>6}/{} | loss {:.4f} | lr {:.2e} | gnorm {:.3f} | {} tok/s | MFU {:.0f}% "
            "| ETA {}",
            step + 1, tc.steps, loss_sum_window / window_steps, lr, grad_norm, format_count(tok_s),
            100.0 * mfu, format_duration(eta));
        summary.tokens_per_s = tok_s;
        window.restart();
        window_tokens = 0;
        loss_sum_window = 0.0;
        window_steps = 0;
      }
    }
    summary.steps = step + 1;
    const int stop_signal = signals.received();
    if (stop_signal && !last) {
      // Preemption: the step is complete; eval and analysis wait for the resumed run.
      save(step + 1, true);
      summary.stopped_by = StopSignals::name(stop_signal);
      spdlog::warn(
          "{} received: stopped after step {} with checkpoint {}; rerun the same command "
          "to resume",
          summary.stopped_by, step + 1, summary.checkpoint);
      return summary;
    }
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) continue;
    if (tc.eval_interval > 0 && ((step + 1) % tc.eval_interval == 0) && !last) run_eval(step + 1);
    if (tc.analyze_interval > 0 && (step + 1) % tc.analyze_interval == 0 && !last)
      run_analysis(step + 1);
    if (tc.sample_interval > 0 && (step + 1) % tc.sample_interval == 0) log_sample(step + 1);
    if (config_.checkpoint.interval > 0 && (step + 1) % config_.checkpoint.interval == 0 && !last)
      save(step + 1, false);
  }
  run_eval(summary.steps);
  run_analysis(summary.steps);
  save(summary.steps, true);
  spdlog::info("done: {} steps in {}, checkpoint {}", summary.steps,
               format_duration(elapsed_before + wall.seconds()), summary.checkpoint);
  return summary;
}

}  // namespace gatedlm
