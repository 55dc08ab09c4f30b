// The FLOP rate MFU is taken against: a stated hardware peak, never a rate measured under
// whatever load the machine has at start-up (docs/outputs.md). In order: train.peak_tflops; a
// table of GPUs (dense bf16 and fp32 peaks from the vendors' data sheets, as Megatron and
// torchtitan use); on a CPU, the best sgemm rate this machine has reached at this thread count,
// kept in a per-machine cache and raised whenever a measurement beats it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gatedlm/config/config.h"

namespace gatedlm {

struct HardwarePeak {
  double tflops = 0.0;  // per process; 0 = unknown (no MFU is reported)
  std::string source;   // printed with the MFU: where the number comes from
};

// The data-sheet peak (TFLOP/s, dense) of a GPU whose name contains a table entry, for fp32
// (CUDA cores: gatedlm's GEMMs run without TF32) or bf16 (tensor cores); nullopt if not listed.
std::optional<double> gpu_peak_tflops(std::string_view device_name, Precision precision);

// $GATEDLM_CACHE_DIR, else $XDG_CACHE_HOME/gatedlm, else $HOME/.cache/gatedlm.
std::string peak_cache_dir();

// The CPU peak: the cache's entry for (cpu model, threads) raised to `measured_gflops` when that
// is higher (and written back); `cache_dir` "" = no cache, the measurement alone.
HardwarePeak cpu_peak(const std::string& cache_dir, const std::string& cpu_model, int threads,
                      double measured_gflops);

// The peak for a run: `configured_tflops` > 0 wins; else the GPU table for `device_name`; else,
// on a CPU, cpu_peak(); else none.
HardwarePeak hardware_peak(double configured_tflops, bool is_cpu, const std::string& device_name,
                           Precision precision, int threads, double measured_gflops);

// Model FLOP utilisation (0..1 for a correct peak): achieved FLOP/s over the peak; 0 without one.
inline double mfu(double achieved_flops_per_s, const HardwarePeak& peak) {
  return peak.tflops > 0 ? achieved_flops_per_s / (peak.tflops * 1e12) : 0.0;
}

}  // namespace gatedlm
