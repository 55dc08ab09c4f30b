// The evaluations a staged sweep ran on one run (docs/sweeps.md "Staged sweeps"): listed in
// RUN/sweep-run.json "evaluations", each result in RUN/evals/SETTING-LEN.json as
// `gatedlm eval --json --per-position-buckets` printed it. Read by gatedlm report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gatedlm {

struct EvalBucketLoss {
  int64_t start = 0, end = 0;  // positions [start, end)
  double loss = 0.0;
};

struct RunEvalResult {
  std::string setting;  // "plain", "yarn", ...
  int64_t seq_len = 0;
  double val_loss = 0.0;
  std::vector<EvalBucketLoss> buckets;
};

// The results written so far, in the order the spec lists them; unwritten ones are left out,
// unreadable ones are a RuntimeFailure naming the file.
std::vector<RunEvalResult> read_eval_results(const std::string& run_dir);

}  // namespace gatedlm
