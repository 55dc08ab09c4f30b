// RUN/metrics.jsonl: one JSON object per line, flushed as written so a crash loses nothing and
// reports can read a live run.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace gatedlm {

class MetricsWriter {
 public:
  // append = false truncates (a fresh run); true continues a resumed run's file.
  MetricsWriter(const std::string& path, bool append);
  void write(const nlohmann::json& line);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace gatedlm
