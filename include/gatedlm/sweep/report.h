// `gatedlm report DIR`: one row per run of a sweep directory (or for one run directory) from
// RUN/metrics.jsonl, RUN/done.json, RUN/config.yaml and RUN/sweep-run.json:
// final train loss, val loss and PPL, F-Attn, M-Act and gate score (the last analysis), loss
// spikes (count and steps), divergence, the maximum stable LR of the run's variant, tok/s and
// parameter count. Written as DIR/report.md, DIR/report.csv and DIR/report.json (what the
// plotting script, scripts/plot_report.py, reads). Runs with evaluations (staged sweeps) add a
// loss-by-length table to report.md and their per-position losses to DIR/positions.csv.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gatedlm/sweep/eval_results.h"

namespace gatedlm {

struct ReportOptions {
  // Spike detection for runs trained without it (stability.spike_zscore 0), over the logged
  // train losses; runs trained with it report the spikes they logged.
  double spike_zscore = 4.0;
  int64_t spike_window = 20;
};

struct RunReport {
  std::string name, dir, variant;
  std::string stage;          // staged sweeps
  int64_t train_seq_len = 0;  // from config.yaml
  double lr = 0.0;
  int64_t steps = 0;
  std::string state;  // done, diverged, partial
  std::optional<double> final_loss, val_loss, first_token_attn, max_act, gate_score;
  std::vector<double> layer_first_token_attn, layer_max_act;
  std::vector<int64_t> spike_steps;
  bool diverged = false;
  std::string divergence;  // why: "non-finite loss at step N", "loss above initial at step N"
  std::optional<double> max_stable_lr;  // of the run's variant: the largest LR that did not diverge
  std::optional<double> tokens_per_s;
  std::optional<int64_t> parameters;
  std::vector<RunEvalResult> evaluations;
};

// The runs under `dir` (itself when it holds metrics.jsonl), sorted by variant, LR and name.
std::vector<RunReport> collect_run_reports(const std::string& dir, const ReportOptions& options);

std::string report_markdown(const std::vector<RunReport>& runs);
std::string report_csv(const std::vector<RunReport>& runs);
// The runs with evaluations: mean loss per evaluation length and setting, and the loss of the
// positions beyond the training length at the longest one; "" when no run has any.
std::string eval_length_markdown(const std::vector<RunReport>& runs);
// One row per position bucket of every evaluation.
std::string positions_csv(const std::vector<RunReport>& runs);

// Writes report.md, report.csv and report.json into `dir`; returns the Markdown.
std::string write_report(const std::string& dir, const ReportOptions& options);

}  // namespace gatedlm
