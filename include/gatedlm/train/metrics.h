// RUN/metrics.jsonl: one JSON object per line, flushed as written so a crash loses nothing and
// reports can read a live run. With a TensorBoard directory, the numeric scalars of each line
// also go to an event file there (train/loss, train/lr, val/loss, analysis/first_token_attn, ...).
// Where steps run again (a resume, a rollback) the event file gets a SessionLog START at the
// step they restart from, so TensorBoard purges the points after it that the replay rewrites.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "gatedlm/train/tensorboard.h"

namespace gatedlm {

class MetricsWriter {
 public:
  // resumed_at: nullopt truncates (a fresh run); a step continues a resumed run's file, whose
  // steps after it run again. tensorboard_dir: "" = no event files.
  MetricsWriter(const std::string& path, std::optional<int64_t> resumed_at,
                const std::string& tensorboard_dir = "");
  void write(const nlohmann::json& line);
  // Drops the lines of steps after `step` but the "event" lines (a rollback replays the steps).
  void rewind(int64_t step);

 private:
  std::string path_;
  std::ofstream out_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

// Rewrites `path` without the lines whose "step" is after `step` (keeping "event" lines when
// `keep_events`), and without a last line cut short (no newline: a kill mid-write); returns
// how many it dropped. A missing file drops nothing.
int64_t drop_metrics_after(const std::string& path, int64_t step, bool keep_events);

// The TensorBoard scalars of one metrics line: (tag, value) for its known numeric keys.
std::vector<std::pair<std::string, double>> tensorboard_scalars(const nlohmann::json& line);

}  // namespace gatedlm
