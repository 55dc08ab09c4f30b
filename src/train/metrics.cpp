#include "gatedlm/train/metrics.h"

#include "gatedlm/core/error.h"

namespace gatedlm {

MetricsWriter::MetricsWriter(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  if (!out_) throw RuntimeFailure(path + ": cannot open for writing");
}

void MetricsWriter::write(const nlohmann::json& line) {
  out_ << line.dump() << '\n';
  out_.flush();
  if (!out_) throw RuntimeFailure(path_ + ": write failed");
}

}  // namespace gatedlm
