// The periodic training line: metrics.jsonl and the console, with rate, MFU and ETA.
#include "gatedlm/train/train_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/train/routing_metrics.h"

namespace gatedlm {

double measured_peak_gflops(const Backend& backend) {
  return backend.device() == Device::cpu ? measure_sgemm_gflops() : 0.0;
}

TrainLog::TrainLog(const TrainSetup& setup, const RunProgress& progress, MetricsWriter* metrics,
                   double peak_gflops)
    : train_(setup.config.train),
      layers_(setup.config.model.num_hidden_layers),
      data_ranks_(setup.data_ranks),
      multi_process_(setup.groups.world().size() > 1),
      flops_per_token_(setup.model.training_flops_per_token(train_.seq_len)),
      peak_gflops_(peak_gflops),
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
  const double mfu =
      peak_gflops_ > 0 ? tok_s / data_ranks_ * flops_per_token_ / (peak_gflops_ * 1e9) : 0.0;
  const double eta =
      (train_.steps - step) * (progress_.wall.seconds() / (step - progress_.start_step));
  nlohmann::json line = {{"step", step},
                         {"loss", result.loss},
                         {"lr", result.lr},
                         {"grad_norm", result.grad_norm},
                         {"tokens", progress_.tokens},
                         {"tokens_per_s", tok_s},
                         {"time_s", progress_.elapsed_s()}};
  const nlohmann::json moe = routing_to_json(routing_);
  if (!moe.is_null()) line.update(moe);
  if (multi_process_)  // bytes rank 0 sent, per step (docs/parallelism.md)
    line["comm_bytes_per_step"] = window_bytes_ / window_steps_;
  if (metrics_) metrics_->write(line);
  spdlog::info(
      "step {:>6}/{} | loss {:.4f} | lr {:.2e} | gnorm {:.3f} | {} tok/s | MFU {:.0f}% | ETA "
      "{}{}",
      step, train_.steps, window_loss_sum_ / window_steps_, result.lr, result.grad_norm,
      format_count(tok_s), 100.0 * mfu, format_duration(eta),
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
