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
#include "gatedlm/parallel/data_parallel.h"
#include "gatedlm/checkpoint/expert_slices.h"
#include "gatedlm/checkpoint/tensor_slices.h"
#include "gatedlm/model/shard_layout.h"
#include "gatedlm/comm/process_groups.h"
#include "gatedlm/checkpoint/resume_agreement.h"
#include "gatedlm/checkpoint/sharded_checkpoint.h"
#include "gatedlm/infer/generate.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/optim/adamw.h"
#include "gatedlm/optim/schedule.h"
#include "gatedlm/train/evaluate.h"
#include "gatedlm/train/fault_injection.h"
#include "gatedlm/train/metrics.h"
#include "gatedlm/train/progress.h"
#include "gatedlm/train/resume_changes.h"
#include "gatedlm/train/routing_metrics.h"
#include "gatedlm/train/run_outcome.h"
#include "gatedlm/train/signals.h"
#include "gatedlm/train/stability.h"

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

// Stops every rank after the same step when any rank was signalled.
int agreed_stop_signal(Communicator& world, int received) {
  double signal = received;
  world.all_reduce(&signal, 1, ReduceOp::max);
  return static_cast<int>(signal);
}

}  // namespace

TrainSummary Trainer::run() {
  const TrainConfig& tc = config_.train;
  ProcessGroups groups(world_ ? std::move(world_) : make_single_process_communicator(),
                       config_.parallel.tensor, config_.parallel.expert);
  const bool root = groups.is_root();
  std::error_code ec;
  if (root) fs::create_directories(run_dir_, ec);
  if (root && (ec || !fs::is_directory(run_dir_)))
    throw RuntimeFailure(run_dir_ + ": cannot create the run directory (" + ec.message() + ")");
  const std::string config_yaml = config_to_yaml(config_);
  StopSignals signals;

  const TensorParallel tp{&groups.tensor(), config_.parallel.vocab_parallel};
  const ExpertExchange ep(&groups.expert());
  const int64_t experts_per_rank =
      config_.model.moe ? ep.local_experts(config_.model.moe->num_experts) : 0;
  Transformer model(config_.model, backend_, tp, ep);
  model.init_weights(tc.seed);
  model.reserve(tc.micro_batch_size, tc.seq_len);
  AdamW optimizer(config_.optimizer, model.params(),
                  config_.parallel.zero > 0 ? &groups.data() : nullptr);
  DataParallel data_parallel(
      groups.data(), model.params(), optimizer, tp, config_.parallel.grad_bucket_size,
      config_.parallel.overlap_grad_reduce, {&groups.expert(), &groups.expert_data()});
  const int64_t data_ranks = data_parallel.size();
  // The global-batch load-balancing counts span every data-parallel rank (docs/moe.md).
  if (data_ranks > 1)
    model.set_expert_count_reducer(
        [&groups](double* counts, int64_t n) { groups.data().all_reduce(counts, n); });

  WindowLoaderOptions train_opts;
  train_opts.pattern = config_.data.train;
  train_opts.batch = tc.micro_batch_size;
  train_opts.seq_len = tc.seq_len;
  train_opts.order = WindowOrder::random;
  train_opts.seed = tc.seed;
  train_opts.vocab_size = config_.model.vocab_size;
  train_opts.rank = groups.data().rank();
  train_opts.world = data_ranks;
  train_opts.bos_token = static_cast<int32_t>(config_.data.bos_token_id);
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
  // Checkpoints hold whole tensors. Each rank reads just its part of them: its tensor-parallel
  // shard's blocks, its ZeRO-1 block of the moments (checkpoint/tensor_slices.h), or the replicated
  // tensors and its own experts (checkpoint/expert_slices.h).
  const std::vector<ParamInfo> whole_infos = whole_expert_infos(
      whole_model_infos(model.params().infos(), tp.size()), ep.rank(), ep.size(), experts_per_rank);
  const SnapshotMoments held_moments =
      optimizer.sharded() ? SnapshotMoments::owned : SnapshotMoments::whole;
  const CheckpointSlices slices =
      ep.size() > 1 ? expert_slices(whole_infos, ep.rank(), experts_per_rank)
                    : tensor_slices(model.params().infos(), tp.rank(), tp.size(),
                                    optimizer.sharded() ? &optimizer.partition() : nullptr,
                                    groups.data().rank());
  std::optional<ResumePoint> resume =
      agree_on_resume_point(groups.world(), run_dir_, resume_path_, whole_infos, slices);
  int64_t start_step = 0, tokens = 0;
  double elapsed_before = 0.0;
  if (resume) {
    for (const std::string& change : apply_resume_changes(resume->state, config_))
      spdlog::info("resuming with {}", change);
    const CheckpointState& state = resume->state;
    restore_training(state, model.params(), optimizer, held_moments);
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
  if (root) {
    std::ofstream out(fs::path(run_dir_) / "config.yaml");
    out << config_yaml;
    if (!out) throw RuntimeFailure(run_dir_ + "/config.yaml: cannot write");
  }
  // A resumed run continues its metrics file; a fresh one starts it over. Lines logged after the
  // resumed step belong to a timeline that was lost (a kill -9 after the last checkpoint, or a
  // fallback past a damaged one); the resumed run writes those steps again.
  const std::string metrics_path = (fs::path(run_dir_) / "metrics.jsonl").string();
  if (resume && root)
    if (const int64_t dropped = drop_metrics_after(metrics_path, start_step, false))
      spdlog::warn("{}: dropped {} lines logged after step {}; those steps run again", metrics_path,
                   dropped, start_step);
  std::unique_ptr<MetricsWriter> metrics_file;  // rank 0 alone writes metrics
  if (root)
    metrics_file = std::make_unique<MetricsWriter>(metrics_path, resume.has_value(),
                                                   (fs::path(run_dir_) / "tb").string());
  auto write_metrics = [&](const nlohmann::json& line) {
    if (metrics_file) metrics_file->write(line);
  };
  if (start_step >= tc.steps) {
    spdlog::info("the run is already at step {} of {}: nothing to do", start_step, tc.steps);
    return summary;
  }
  clear_run_outcome(run_dir_);
  StabilityMonitor stability(config_.stability);

  const double flops_per_token = model.training_flops_per_token(tc.seq_len);
  const double peak_gflops = backend_.device() == Device::cpu ? measure_sgemm_gflops() : 0.0;
  const int64_t tokens_per_step =
      tc.micro_batch_size * tc.seq_len * tc.grad_accum_steps * data_ranks;
  spdlog::info(
      "model: {} parameters, {:.2f} GFLOP per step; {} tokens per step; sgemm peak {:.0f} "
      "GFLOP/s on {} threads; {} process(es), tensor parallel {}, data parallel {}{}, expert "
      "parallel {}",
      whole_infos.back().offset + whole_infos.back().numel(),
      flops_per_token * tokens_per_step / 1e9, tokens_per_step, peak_gflops, cpu_threads(),
      groups.world().size(), tp.size(), data_ranks, optimizer.sharded() ? " (ZeRO-1)" : "",
      ep.size());

  auto run_eval = [&](int64_t step) {
    if (!val_loader) return;
    // Each data rank reads its own windows; every rank sees the same number of tokens.
    const EvalResult r = evaluate(model, *val_loader, tc.eval_batches);
    const double loss = data_parallel.mean(r.loss);
    write_metrics({{"step", step}, {"val_loss", loss}, {"val_tokens", r.tokens * data_ranks}});
    summary.final_val_loss = loss;
    spdlog::info("eval step {} | val loss {:.4f}", step, loss);
  };
  // The paper's metrics on a fixed held-out batch: the first val batch (else the first train
  // windows), read by a loader of its own, so the training stream is not disturbed; every rank
  // reads the same batch.
  TokenBatch analysis_batch;
  if (tc.analyze_interval > 0) {
    WindowLoaderOptions opts = train_opts;
    if (val_loader) opts.pattern = config_.data.val;
    opts.order = WindowOrder::sequential;
    opts.rank = 0;
    opts.world = 1;
    make_window_loader(opts)->next(analysis_batch);
  }
  auto run_analysis = [&](int64_t step) {
    if (tc.analyze_interval <= 0) return;
    ModelAnalysis analysis;
    analysis.reset(config_.model.num_hidden_layers,
                   config_.model.attention_gate.position != GatePosition::none);
    model.forward(analysis_batch.inputs.data(), analysis_batch.targets.data(), analysis_batch.batch,
                  analysis_batch.seq_len, &analysis);
    const nlohmann::json a = analysis_to_json(analysis);
    nlohmann::json line = {{"step", step},
                           {"first_token_attn", a["first_token_attn"]},
                           {"max_act", a["max_act"]},
                           {"gate_score", a["gate_score"]},
                           {"analysis", a["layers"]}};
    if (a.contains("moe")) line["moe"] = a["moe"];
    write_metrics(line);
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
    write_metrics({{"step", step}, {"sample", text}});
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
  const ParallelLayout layout{groups.world().size(), config_.parallel.tensor, data_ranks,
                              config_.parallel.expert, config_.parallel.zero};
  // This rank's shard of the model, and whole AdamW moments per shard (collective under ZeRO-1)
  // or this rank's ZeRO-1 block of them.
  auto take_snapshot = [&](int64_t steps_done, CheckpointState& into,
                           SnapshotMoments moments = SnapshotMoments::whole) {
    TrainingProgress progress;
    progress.step = steps_done;
    progress.tokens_seen = tokens;
    progress.elapsed_s = elapsed_before + wall.seconds();
    progress.last_lr = last_lr;
    progress.total_steps = tc.steps;
    progress.seed = tc.seed;
    const NamedLoaders loaders = {{"train", train_loader.get()}, {"val", val_loader.get()}};
    snapshot_training(model.params(), optimizer, progress, loaders, config_yaml, layout, into,
                      moments);
  };
  CheckpointState helper_snapshot;  // for multi-file saves, which skip the single writer
  auto save = [&](int64_t steps_done, bool must_succeed) {
    data_parallel.check_replicas_agree();
    // One shard file per tensor- or expert-parallel rank and, under ZeRO-1, one moments file
    // per rank, written synchronously by the ranks that hold them.
    if (tp.size() > 1 || ep.size() > 1 || optimizer.sharded()) {
      try {
        const bool zero = optimizer.sharded();
        take_snapshot(steps_done, helper_snapshot,
                      zero ? SnapshotMoments::owned : SnapshotMoments::whole);
        summary.checkpoint =
            save_sharded_checkpoint(run_dir_, helper_snapshot, model.params().infos(), groups,
                                    {config_.checkpoint.keep_last, config_.checkpoint.keep_every},
                                    zero ? &optimizer.partition() : nullptr, experts_per_rank);
      } catch (const RuntimeFailure& e) {
        on_save_failure(e, must_succeed);
      }
      return;
    }
    if (!root) return;
    const Stopwatch stall;  // what training waits: an unfinished earlier save, the snapshot, ...
    try {
      writer.wait();  // an earlier background save's failure surfaces here
    } catch (const RuntimeFailure& e) {
      on_save_failure(e, must_succeed);
    }
    try {
      CheckpointState snapshot = writer.take_buffers();
      take_snapshot(steps_done, snapshot);
      summary.checkpoint = writer.save(std::move(snapshot));
      spdlog::info("checkpoint step {}: training paused {:.1f} ms ({})", steps_done,
                   stall.seconds() * 1e3, writer.async() ? "async" : "sync");
      if (must_succeed) writer.wait();
    } catch (const RuntimeFailure& e) {
      on_save_failure(e, must_succeed);
    }
  };

  FaultInjection faults = FaultInjection::from_environment();
  TokenBatch batch;
  ModelAnalysis routing;  // MoE routing over the log window
  routing.reset(config_.model.num_hidden_layers, false);
  int64_t window_bytes = 0;  // sent by the steps themselves (not evals or checkpoints)
  int64_t window_tokens = 0;
  double loss_sum_window = 0.0;
  int64_t window_steps = 0;
  for (int64_t step = start_step; step < tc.steps; ++step) {
    const int64_t bytes_before_step = groups.bytes_sent();
    model.params().zero_grads();
    model.begin_accumulation();
    double loss = 0.0;
    // Batches that caused a rollback are drawn and dropped, so the replay takes the next ones.
    for (int64_t k = 0; k < stability.batches_to_skip(step + 1) * tc.grad_accum_steps; ++k)
      train_loader->next(batch);
    for (int64_t micro = 0; micro < tc.grad_accum_steps; ++micro) {
      train_loader->next(batch);
      // The last micro-batch's backward starts the gradient all-reduces as layers finish.
      const bool overlap = data_parallel.overlaps() && micro + 1 == tc.grad_accum_steps;
      model.set_gradient_ready_hook(overlap
                                        ? [&](int64_t from) { data_parallel.gradients_ready(from); }
                                        : Transformer::GradientReadyHook{});
      loss += model.forward_backward(batch.inputs.data(), batch.targets.data(), batch.batch,
                                     batch.seq_len,
                                     1.0f / static_cast<float>(tc.grad_accum_steps * data_ranks));
      if (model.router_losses()) model.record_routing(routing);
    }
    loss = data_parallel.mean(loss / static_cast<double>(tc.grad_accum_steps));
    data_parallel.reduce_gradients();
    loss = faults.apply(step + 1, loss, model.params());
    const double grad_norm = data_parallel.grad_norm();
    const double lr = learning_rate(config_.scheduler, config_.optimizer.lr, step, tc.steps);
    const bool last = step + 1 == tc.steps;
    const StepCheck check = stability.check(step + 1, loss, grad_norm);
    if (!check.event.is_null()) {
      write_metrics(check.event);
      spdlog::warn("step {}: {} (loss {}); stability: {}", step + 1,
                   check.event["event"].get<std::string>(), loss,
                   check.event["action"].get<std::string>());
    }
    if (check.verdict == StepVerdict::stop) {
      if (root) write_run_outcome(run_dir_, {{"outcome", "diverged"}, {"steps", step + 1}});
      const std::string what =
          std::isfinite(loss) && std::isfinite(grad_norm)
              ? fmt::format("loss spike ({})", loss)
              : fmt::format("non-finite loss ({}) or gradient norm ({})", loss, grad_norm);
      throw RuntimeFailure(fmt::format("step {}: {}; {}", step + 1, what, check.stop_reason));
    }
    if (check.verdict == StepVerdict::rollback) {
      writer.wait();
      if (std::optional<ResumePoint> point =
              agree_on_resume_point(groups.world(), run_dir_, "", whole_infos, slices)) {
        restore_training(point->state, model.params(), optimizer, held_moments);
        restore_loaders(*point, *train_loader, val_loader.get());
        tokens = point->state.tokens_seen;
        stability.rolled_back(point->state.step, step + 1);
        if (metrics_file) metrics_file->rewind(point->state.step);
        write_metrics({{"step", step + 1}, {"event", "rollback"}, {"to_step", point->state.step}});
        spdlog::warn("step {}: rolled back to {}; its batch will be skipped", step + 1, point->dir);
        step = point->state.step - 1;  // the loop's ++step resumes right after the checkpoint
        continue;
      }
      spdlog::warn("step {}: no checkpoint to roll back to yet; update skipped", step + 1);
    }
    if (check.verdict != StepVerdict::apply) {
      spdlog::warn("step {}: update skipped", step + 1);
    } else {
      stability.applied(step + 1, loss);
      clip_grad_norm(model.params(), grad_norm, tc.max_grad_norm);
      optimizer.step(static_cast<float>(lr));
      data_parallel.gather_parameters();
      window_bytes += groups.bytes_sent() - bytes_before_step;
      last_lr = lr;
      tokens += tokens_per_step;
      window_tokens += tokens_per_step;
      loss_sum_window += loss;
      ++window_steps;
      summary.final_loss = loss;

      if ((step + 1) % tc.log_interval == 0 || last) {
        const double elapsed = window.seconds();
        const double tok_s = window_tokens / std::max(elapsed, 1e-9);
        // Per rank: each processes its data group's tokens with its shard's FLOPs.
        const double mfu =
            peak_gflops > 0 ? tok_s / data_ranks * flops_per_token / (peak_gflops * 1e9) : 0.0;
        const double eta = (tc.steps - step - 1) * (wall.seconds() / (step + 1 - start_step));
        nlohmann::json line = {{"step", step + 1},
                               {"loss", loss},
                               {"lr", lr},
                               {"grad_norm", grad_norm},
                               {"tokens", tokens},
                               {"tokens_per_s", tok_s},
                               {"time_s", elapsed_before + wall.seconds()}};
        const nlohmann::json moe = routing_to_json(routing);
        if (!moe.is_null()) line.update(moe);
        if (groups.world().size() > 1)  // bytes rank 0 sent, per step (docs/parallelism.md)
          line["comm_bytes_per_step"] = window_bytes / window_steps;
        write_metrics(line);
        spdlog::info(
            "step {:>6}/{} | loss {:.4f} | lr {:.2e} | gnorm {:.3f} | {} tok/s | MFU {:.0f}% "
            "| ETA {}{}",
            step + 1, tc.steps, loss_sum_window / window_steps, lr, grad_norm, format_count(tok_s),
            100.0 * mfu, format_duration(eta),
            moe.is_null() ? ""
                          : fmt::format(" | aux {:.3f} | z {:.3f} | imbalance {:.2f}",
                                        moe["aux_loss"].get<double>(), moe["z_loss"].get<double>(),
                                        moe["expert_imbalance"].get<double>()));
        routing.reset(config_.model.num_hidden_layers, false);
        summary.tokens_per_s = tok_s;
        window.restart();
        window_tokens = 0;
        window_bytes = 0;
        loss_sum_window = 0.0;
        window_steps = 0;
      }
    }
    summary.steps = step + 1;
    const int stop_signal = agreed_stop_signal(groups.world(), signals.received());
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
    if (check.verdict != StepVerdict::apply) continue;
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
  if (root)
    write_run_outcome(run_dir_,
                      {{"outcome", "finished"},
                       {"steps", summary.steps},
                       {"final_loss", summary.final_loss},
                       {"final_val_loss", summary.final_val_loss},
                       {"tokens_per_s", summary.tokens_per_s},
                       {"parameters", whole_infos.back().offset + whole_infos.back().numel()},
                       {"time_s", elapsed_before + wall.seconds()}});
  spdlog::info("done: {} steps in {}, checkpoint {}", summary.steps,
               format_duration(elapsed_before + wall.seconds()), summary.checkpoint);
  return summary;
}

}  // namespace gatedlm
