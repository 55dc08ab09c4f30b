// The training line, in metrics.jsonl and on the console, every train.log_interval applied
// steps and after the last one: `loss` (this step's), `loss_avg` (the mean over the
// `loss_avg_steps` applied steps since the previous line: after a resume, only this session's),
// LR, gradient norm and the tokens so far, with throughput, MFU, GEMM efficiency and MoE routing
// over that window, the ETA and, across processes, the bytes rank 0 sent per step
// (docs/outputs.md).
#pragma once

#include <cstdint>

#include "gatedlm/comm/communicator.h"
#include "gatedlm/config/config.h"
#include "gatedlm/model/instrumentation.h"
#include "gatedlm/train/hardware_peak.h"
#include "gatedlm/train/metrics.h"
#include "gatedlm/train/progress.h"
#include "gatedlm/train/run_progress.h"
#include "gatedlm/train/train_setup.h"
#include "gatedlm/train/train_step.h"

namespace gatedlm {

// What the line's rates are reckoned against: MFU against the stated hardware peak, GEMM
// efficiency against the GEMM rate measured at start-up (which a busy machine lowers, so that
// ratio may exceed 100%; MFU may not).
struct ThroughputReference {
  HardwarePeak peak;
  double gemm_gflops = 0.0;
};

// Collective over `world`: rank 0 times the GEMM while the others wait, so ranks sharing a
// machine do not slow each other's measurement, and every rank takes its rate. Logs both.
ThroughputReference throughput_reference(const Config& config, Backend& backend,
                                         Communicator& world);

class TrainLog {
 public:
  // `metrics`: null on the ranks that do not write (all but rank 0).
  TrainLog(const TrainSetup& setup, const RunProgress& progress, MetricsWriter* metrics,
           const ThroughputReference& reference);

  // Where the steps record their micro-batches' MoE routing (StepExtras::routing).
  ModelAnalysis& routing() { return routing_; }
  // After the update of `step` (1-based) was applied.
  void after_update(int64_t step, const StepResult& result, bool last);
  // Over the window of the last line; 0 before one.
  double tokens_per_s() const { return tokens_per_s_; }

 private:
  void write_line(int64_t step, const StepResult& result);
  void start_window();

  const TrainConfig& train_;
  const int64_t layers_;
  const int64_t data_ranks_;
  const bool multi_process_;
  const double flops_per_token_;
  const ThroughputReference reference_;
  const RunProgress& progress_;
  MetricsWriter* metrics_;
  // The window since the last line, over applied steps; bytes are those the steps sent (not
  // evaluations' or checkpoints'), routing that of every step computed.
  Stopwatch window_;
  ModelAnalysis routing_;
  int64_t window_bytes_ = 0, window_tokens_ = 0, window_steps_ = 0;
  double window_loss_sum_ = 0.0;
  double tokens_per_s_ = 0.0;
};

}  // namespace gatedlm
