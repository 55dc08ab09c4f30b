// `gatedlm bench`: steady-state training step time on random tokens (forward, backward,
// clipping, AdamW), tokens/s, MFU against the stated hardware peak (train/hardware_peak.h),
// GEMM efficiency against the sgemm rate measured now, and peak RSS.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/backend/gemm_peak.h"
#include "gatedlm/backend/select.h"
#include "gatedlm/config/enum_names.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/optim/adamw.h"
#include "gatedlm/train/hardware_peak.h"
#include "gatedlm/train/progress.h"

namespace gatedlm::cli {

Command add_bench_command(CLI::App& app) {
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    int64_t steps = 5, warmup = 2, seq_len = 0, batch = 0;
    bool json = false;
    int threads = 0;
    std::string device = "cpu";
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure steady-state training throughput");
  cmd->add_option("config", a->config, "config YAML")->required();
  cmd->add_option("--set", a->overrides, "override a key");
  cmd->add_option("--steps", a->steps, "timed steps (default 5)")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", a->warmup, "untimed steps first (default 2)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seq-len", a->seq_len, "sequence length (default: train.seq_len)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", a->batch, "micro-batch (default: train.micro_batch_size)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", a->json, "print one JSON object");
  add_threads_option(*cmd, a->threads);
  add_device_option(*cmd, a->device);
  return {cmd, [a] {
            const Config config = load_config(a->config, a->overrides);
            apply_threads(a->threads);
            const int64_t T = a->seq_len > 0 ? a->seq_len : config.train.seq_len;
            const int64_t B = a->batch > 0 ? a->batch : config.train.micro_batch_size;
            auto backend = make_backend(a->device);
            Transformer model(config.model, *backend);
            model.init_weights(config.train.seed);
            model.set_recompute(config.train.recompute);
            model.reserve(B, T);
            AdamW optimizer(config.optimizer, model.params());
            Rng rng = Rng::stream(config.train.seed, StreamId::data);
            std::vector<int32_t> inputs(B * T), targets(B * T);
            for (auto* v : {&inputs, &targets})
              for (int32_t& t : *v)
                t = static_cast<int32_t>(rng.uniform_int(config.model.vocab_size));
            auto step = [&] {
              model.params().zero_grads();
              model.begin_accumulation();
              model.forward_backward(inputs.data(), targets.data(), B, T, 1.0f);
              const double norm = global_grad_norm(model.params());
              clip_grad_norm(model.params(), norm, config.train.max_grad_norm);
              optimizer.step(static_cast<float>(config.optimizer.lr));
              backend->synchronize();  // time the GPU's work, not its launches
            };
            for (int64_t i = 0; i < a->warmup; ++i) step();
            std::vector<double> times;
            for (int64_t i = 0; i < a->steps; ++i) {
              Stopwatch sw;
              step();
              times.push_back(sw.seconds());
              if (!a->json)
                std::fprintf(stderr, "\rbench step %lld/%lld: %.3f s",
                             static_cast<long long>(i + 1), static_cast<long long>(a->steps),
                             times.back());
            }
            if (!a->json) std::fprintf(stderr, "\n");
            std::sort(times.begin(), times.end());
            const double median = times[times.size() / 2];
            const double tok_s = B * T / median;
            // The GEMM rate now (GEMM efficiency) and the stated peak (MFU): a GPU needs
            // larger products to reach its rate.
            const double gemm =
                measure_gemm_gflops(*backend, backend->device() == Device::cuda ? 8192 : 1024);
            const bool cpu = backend->device() == Device::cpu;
            const HardwarePeak peak =
                hardware_peak(config.train.peak_tflops, cpu, backend->hardware(),
                              config.train.precision, cpu ? cpu_threads() : 1, gemm);
            const double flops = model.training_flops_per_token(T);
            const double achieved = tok_s * flops;
            rusage usage{};
            getrusage(RUSAGE_SELF, &usage);
            nlohmann::json out = {{"impl", "gatedlm"},
                                  {"device", backend->name()},
                                  {"hardware", backend->hardware()},
                                  {"config", a->config},
                                  {"params", model.params().numel()},
                                  {"threads", cpu_threads()},
                                  {"seq_len", T},
                                  {"batch", B},
                                  {"step_s", median},
                                  {"step_s_min", times.front()},
                                  {"tokens_per_s", tok_s},
                                  {"model_gflops_per_s", achieved / 1e9},
                                  {"sgemm_gflops", gemm},
                                  {"gemm_efficiency", achieved / (gemm * 1e9)},
                                  {"peak_tflops", peak.tflops},
                                  {"peak_source", peak.source},
                                  {"mfu", mfu(achieved, peak)},
                                  {"flops_per_token", flops},
                                  {"recompute", enum_name(config.train.recompute)},
                                  {"activation_bytes", model.activation_bytes()},
                                  {"peak_rss_mb", usage.ru_maxrss / 1024.0}};
            if (a->json) {
              std::printf("%s\n", out.dump().c_str());
            } else {
              std::printf(
                  "%s: %lld params, B=%lld T=%lld, %d threads\n  step %.3f s (median of %zu) | "
                  "%.0f tok/s | %.1f GFLOP/s | MFU %.0f%% of %.3g TFLOP/s (%s) | GEMM efficiency "
                  "%.0f%% of sgemm now (%.1f GFLOP/s) | peak RSS %.0f MB | activations %.1f MB "
                  "(recompute %s)\n",
                  a->config.c_str(), static_cast<long long>(model.params().numel()),
                  static_cast<long long>(B), static_cast<long long>(T), cpu_threads(), median,
                  times.size(), tok_s, achieved / 1e9, 100.0 * mfu(achieved, peak), peak.tflops,
                  peak.source.c_str(), 100.0 * achieved / (gemm * 1e9), gemm,
                  usage.ru_maxrss / 1024.0, model.activation_bytes() / 1e6,
                  std::string(enum_name(config.train.recompute)).c_str());
            }
            return 0;
          }};
}

}  // namespace gatedlm::cli
