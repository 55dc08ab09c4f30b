// The periodic training line: metrics.jsonl and the console, with rate, MFU and ETA.
#include "gatedlm/train/train_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/backend/gemm_peak.h"
#include "gatedlm/train/routing_metrics.h"

namespace gatedlm {

ThroughputReference throughput_reference(const Config& config, Backend& backend,
                                         Communicator& world) {
  const bool cpu = backend.device() == Device::cpu;
  double gflops = world.rank() == 0 ? measure_gemm_gflops(backend, cpu ? 1024 : 4096) : 0.0;
  world.all_reduce(&gflops, 1, ReduceOp::max);
  ThroughputReference ref{hardware_peak(config.train.peak_tflops, cpu, backend.hardware(),
                                        config.train.precision, cpu ? cpu_threads() : 1, gflops),
                          gflops};
  if (ref.peak.tflops > 0)
    spdlog::info(
        "MFU against {:.3g} TFLOP/s per process ({}); GEMM measured now {:.0f} GFLOP/s "
        "({:.0f}% of it)",
        ref.peak.tflops, ref.peak.source, gflops, 100 * gflops / (ref.peak.tflops * 1e3));
  else
    spdlog::info("no MFU: {}; GEMM measured now {:.0f} GFLOP/s", ref.peak.source, gflops);
  return ref;
}

TrainLog::TrainLog(const TrainSetup& setup, const RunProgress& progress, MetricsWriter* metrics,
                   const ThroughputReference& reference)
    : train_(setup.config.train),
      layers_(setup.config.model.num_hidden_layers),
      data_ranks_(setup.data_ranks),
      multi_process_(setup.groups.world().size() > 1),
      flops_per_token_(setup.model.training_flops_per_token(train_.seq_len)),
      reference_(reference),
      progress_(progress),
      metrics_(metrics) {
  routing_.reset(layers_, false);
}

void TrainLog::after_update(int64_t step, const StepResult& result, bool last) {
  window_bytes_ += result.bytes_sent;
  window_tokens_ += result.tokens;
  window_loss_sum_ += result.loss;
  ++window_steps_;
  if (step % train_.log_interval == 0 || last) {
    write_line(step, result);
    start_window();
  }
}

void TrainLog::write_line(int64_t step, const StepResult& result) {
  const double elapsed = window_.seconds();
  const double tok_s = window_tokens_ / std::max(elapsed, 1e-9);
  // Per rank: each processes its data group's tokens with its shard's FLOPs.
  const double achieved = tok_s / data_ranks_ * flops_per_token_;
  const double utilisation = mfu(achieved, reference_.peak);
  const double gemm_efficiency =
      reference_.gemm_gflops > 0 ? achieved / (reference_.gemm_gflops * 1e9) : 0.0;
  const double loss_avg = window_loss_sum_ / window_steps_;
  const double eta =
      (train_.steps - step) * (progress_.wall.seconds() / (step - progress_.start_step));
  nlohmann::json line = {{"step", step},
                         {"loss", result.loss},
                         {"loss_avg", loss_avg},
                         {"loss_avg_steps", window_steps_},
                         {"lr", result.lr},
                         {"grad_norm", result.grad_norm},
                         {"tokens", progress_.tokens},
                         {"tokens_per_s", tok_s},
                         {"time_s", progress_.elapsed_s()},
                         {"mfu", utilisation},
                         {"gemm_efficiency", gemm_efficiency}};
  const nlohmann::json moe = routing_to_json(routing_);
  if (!moe.is_null()) line.update(moe);
  if (multi_process_)  // bytes rank 0 sent, per step (docs/parallelism.md)
    line["comm_bytes_per_step"] = window_bytes_ / window_steps_;
  if (metrics_) metrics_->write(line);
  spdlog::info(
      "step {:>6}/{} | loss {:.4f} | loss_avg {:.4f} | lr {:.2e} | gnorm {:.3f} | {} tok/s | "
      "MFU {:.0f}% | GEMM eff {:.0f}% | ETA {}{}",
      step, train_.steps, result.loss, loss_avg, result.lr, result.grad_norm, format_count(tok_s),
      100.0 * utilisation, 100.0 * gemm_efficiency, format_duration(eta),
      moe.is_null() ? ""
                    : fmt::format(" | aux {:.3f} | z {:.3f} | imbalance {:.2f}",
                                  moe["aux_loss"].get<double>(), moe["z_loss"].get<double>(),
                                  moe["expert_imbalance"].get<double>()));
  tokens_per_s_ = tok_s;
}

void TrainLog::start_window() {
  routing_.reset(layers_, false);
  window_.restart();
  window_tokens_ = 0;
  window_bytes_ = 0;
  window_loss_sum_ = 0.0;
  window_steps_ = 0;
}

}  // namespace gatedlm
