#include "gatedlm/train/hardware_peak.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gatedlm/checkpoint/store.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

struct GpuPeak {
  const char* name;  // matched as a substring of the device name
  double bf16, fp32;
};
// Dense (no sparsity) peaks, TFLOP/s. More specific names first: "H100 PCIe" before "H100".
constexpr GpuPeak kGpuPeaks[] = {
    {"H200", 989.0, 67.0}, {"GH200", 989.0, 67.0},    {"H100 PCIe", 756.0, 51.0},
    {"H100", 989.0, 67.0}, {"A100", 312.0, 19.5},     {"A10G", 70.0, 31.2},
    {"A10", 125.0, 31.2},  {"L40S", 362.0, 91.6},     {"L40", 181.0, 90.5},
    {"L4", 121.0, 30.3},   {"RTX 4090", 165.0, 82.6}, {"RTX 3090", 71.0, 35.6},
    {"V100", 125.0, 15.7}, {"T4", 65.0, 8.1},         {"B200", 2250.0, 80.0},
};

std::string cache_key(const std::string& cpu_model, int threads) {
  return fmt::format("{} | {} threads", cpu_model.empty() ? "unknown cpu" : cpu_model, threads);
}

}  // namespace

std::optional<double> gpu_peak_tflops(std::string_view device_name, Precision precision) {
  for (const GpuPeak& g : kGpuPeaks)
    if (device_name.find(g.name) != std::string_view::npos)
      return precision == Precision::bf16 ? g.bf16 : g.fp32;
  return std::nullopt;
}

std::string peak_cache_dir() {
  if (const char* d = std::getenv("GATEDLM_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return (fs::path(d) / "gatedlm").string();
  if (const char* d = std::getenv("HOME"); d && *d)
    return (fs::path(d) / ".cache" / "gatedlm").string();
  return "";
}

HardwarePeak cpu_peak(const std::string& cache_dir, const std::string& cpu_model, int threads,
                      double measured_gflops) {
  const std::string key = cache_key(cpu_model, threads);
  if (cache_dir.empty())
    return {measured_gflops / 1e3, fmt::format("sgemm measured now ({}; no cache)", key)};
  const fs::path path = fs::path(cache_dir) / "cpu_peak.json";
  nlohmann::json cache = nlohmann::json::object();
  // The cache is a small JSON file; anything else there (a FIFO, a link to /dev/zero, a huge
  // file) is ignored rather than read.
  std::error_code ec;
  const bool readable = fs::is_regular_file(path, ec) && fs::file_size(path, ec) <= (1u << 20);
  if (std::ifstream in; readable && (in.open(path), in)) {
    cache = nlohmann::json::parse(in, nullptr, false);
    if (!cache.is_object()) cache = nlohmann::json::object();  // damaged: measure afresh
  }
  const double cached =
      cache.contains(key) && cache[key].is_number() ? cache[key].get<double>() : 0;
  if (measured_gflops > cached) {
    // The best rate seen is the nearest to the machine's peak; a busy start-up cannot lower it.
    cache[key] = measured_gflops;
    try {
      fs::create_directories(cache_dir);
      const std::string tmp = path.string() + fmt::format(".tmp{}", ::getpid());
      write_file_durably(tmp, cache.dump(2) + "\n");
      fs::rename(tmp, path);
    } catch (const std::exception& e) {
      spdlog::warn("{}: cannot cache the CPU peak ({})", path.string(), e.what());
    }
  }
  const double best = std::max(cached, measured_gflops);
  return {best / 1e3, fmt::format("best sgemm rate of {} ({})", key, path.string())};
}

HardwarePeak hardware_peak(double configured_tflops, bool is_cpu, const std::string& device_name,
                           Precision precision, int threads, double measured_gflops) {
  if (configured_tflops > 0) return {configured_tflops, "train.peak_tflops"};
  if (!is_cpu) {
    if (const auto peak = gpu_peak_tflops(device_name, precision))
      return {*peak, fmt::format("data sheet, {} {}", device_name,
                                 precision == Precision::bf16 ? "bf16" : "fp32")};
    return {0.0, fmt::format("{} is not in the GPU table; set train.peak_tflops", device_name)};
  }
  return cpu_peak(peak_cache_dir(), device_name, threads, measured_gflops);
}

}  // namespace gatedlm
