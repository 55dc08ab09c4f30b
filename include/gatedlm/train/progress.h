// Progress reporting for long work: rate and ETA from wall time, formatted for one console line.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gatedlm {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void restart() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);
// "12.3k", "1.05M".
std::string format_count(double value);

}  // namespace gatedlm
