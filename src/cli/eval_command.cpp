// `gatedlm eval` and `gatedlm analyze`: a checkpoint on non-overlapping windows from the start
// of a shard (window i = tokens [i*T, i*T+T]).
#include <spdlog/spdlog.h>

#include <cstdio>

#include "commands.h"
#include "gatedlm/backend/select.h"
#include "gatedlm/checkpoint/checkpoint.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/data/tokenizer_files.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/train/evaluate.h"

namespace gatedlm::cli {
namespace {

struct EvalArgs {
  std::string checkpoint, data;
  int64_t seq_len = 0, batch_size = 0, batches = 0, position_buckets = 0;
  std::vector<std::string> overrides;
  bool json = false;
  int threads = 0;
  std::string device = "cpu";
  std::string tokenizer;  // eval only: for bits per byte
};

// What eval reports beyond the loss: bits per byte, when a tokenizer is known.
struct ByteCount {
  int64_t bytes = 0;
  std::string tokenizer;
};

void add_eval_options(CLI::App& cmd, EvalArgs& a) {
  cmd.add_option("--checkpoint", a.checkpoint, "checkpoint dir, its model.h5, or a run dir")
      ->required();
  cmd.add_option("--data", a.data, "token shard path or glob")->required();
  cmd.add_option("--seq-len", a.seq_len, "window length (default: the run's train.seq_len)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--batch-size", a.batch_size, "windows per batch (default: micro_batch_size)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--batches", a.batches, "batches to use (default: every whole batch)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--set", a.overrides,
                 "override model.rope_theta or model.rope_scaling[.key] for this evaluation "
                 "(e.g. model.rope_scaling={type: yarn, factor: 4, "
                 "original_max_position_embeddings: 256})");
  cmd.add_flag("--json", a.json, "print one JSON object");
  add_threads_option(cmd, a.threads);
  add_device_option(cmd, a.device);
}

void check_eval_overrides(const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    if (!is_eval_override_key(o.substr(0, o.find('='))) || o.find('=') == std::string::npos)
      throw InputError("--set " + o +
                       ": eval accepts only model.rope_theta=V and model.rope_scaling[.key]=V");
  }
}

// --tokenizer, else the checkpoint's data.tokenizer; nullptr (no bits per byte) when neither
// is given or the recorded one cannot be read here (a relative path from another directory).
std::unique_ptr<Tokenizer> eval_tokenizer(const EvalArgs& a, const Config& config,
                                          std::string& spec) {
  spec = a.tokenizer.empty() ? config.data.tokenizer : a.tokenizer;
  if (spec.empty()) return nullptr;
  if (!a.tokenizer.empty()) return load_tokenizer(spec);
  try {
    return load_tokenizer(spec);
  } catch (const InputError& e) {
    spdlog::warn("no bits per byte: the recorded data.tokenizer does not load ({})", e.what());
    return nullptr;
  }
}

// Loads the checkpoint's model and runs the windows; analysis when `analysis` is non-null;
// counts the targets' bytes into `bytes` when given and a tokenizer is known.
EvalResult run_windows(const EvalArgs& a, ModelAnalysis* analysis, Config& config_out,
                       ByteCount* bytes = nullptr) {
  apply_threads(a.threads);
  const std::string dir = resolve_checkpoint(a.checkpoint);
  config_out = load_checkpoint_config(dir);
  if (!a.overrides.empty()) {
    check_eval_overrides(a.overrides);
    config_out = load_config_text(config_to_yaml(config_out), dir + ":config_yaml", a.overrides);
  }
  auto backend = make_backend(a.device);
  Transformer model(config_out.model, *backend);
  load_model_h5(dir + "/model.h5", model.params());
  WindowLoaderOptions opts;
  opts.pattern = a.data;
  opts.seq_len = a.seq_len > 0 ? a.seq_len : config_out.train.seq_len;
  opts.batch = a.batch_size > 0 ? a.batch_size : config_out.train.micro_batch_size;
  opts.order = WindowOrder::sequential;
  opts.vocab_size = config_out.model.vocab_size;
  opts.bos_token = static_cast<int32_t>(config_out.data.bos_token_id);  // as in training
  auto loader = make_window_loader(opts);
  const int64_t available = loader->num_windows() / opts.batch;
  if (available < 1)
    throw InputError(a.data + ": too few windows for one batch of " + std::to_string(opts.batch) +
                     " x " + std::to_string(opts.seq_len) + " tokens");
  int64_t batches = a.batches > 0 ? a.batches : available;
  if (batches > available) {
    spdlog::warn("--batches {} exceeds the {} whole batches in {}; using {}", batches, available,
                 a.data, available);
    batches = available;
  }
  const EvalResult result = evaluate(model, *loader, batches, analysis);
  if (bytes)
    if (const auto tokenizer = eval_tokenizer(a, config_out, bytes->tokenizer))
      bytes->bytes = target_bytes(*loader, batches, *tokenizer);
  return result;
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Validation loss of a checkpoint on a shard");
  add_eval_options(*cmd, *a);
  cmd->add_option("--per-position-buckets", a->position_buckets,
                  "also report the mean loss in K contiguous position buckets "
                  "(bucket k = positions [k*T/K, (k+1)*T/K))")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--tokenizer", a->tokenizer,
                  "for bits per byte (as for prepare); default: the checkpoint's data.tokenizer");
  return {
      cmd, [a] {
        Config config;
        ByteCount count;
        const EvalResult r = run_windows(*a, nullptr, config, &count);
        const auto buckets = position_buckets(r.position_loss, a->position_buckets);
        const double bpb = bits_per_byte(r.loss, r.tokens, count.bytes);
        if (a->json) {
          nlohmann::json out = {{"val_loss", r.loss}, {"tokens", r.tokens}, {"batches", r.batches}};
          if (count.bytes > 0) {
            out["bytes"] = count.bytes;
            out["bits_per_byte"] = bpb;
            out["tokenizer"] = count.tokenizer;
          }
          if (a->position_buckets > 0) {
            out["seq_len"] = static_cast<int64_t>(r.position_loss.size());
            nlohmann::json rows = nlohmann::json::array();
            for (const PositionBucket& b : buckets)
              rows.push_back({{"start", b.start}, {"end", b.end}, {"loss", b.loss}});
            out["position_buckets"] = rows;
          }
          std::printf("%s\n", out.dump().c_str());
        } else {
          std::printf("val loss %.6f over %lld tokens (%lld batches)%s\n", r.loss,
                      static_cast<long long>(r.tokens), static_cast<long long>(r.batches),
                      count.bytes > 0 ? fmt::format(", {:.4f} bits per byte over {} bytes ({})",
                                                    bpb, count.bytes, count.tokenizer)
                                            .c_str()
                                      : "");
          if (a->position_buckets > 0) {
            std::printf("%-8s %-8s %10s\n", "start", "end", "loss");
            for (const PositionBucket& b : buckets)
              std::printf("%-8lld %-8lld %10.6f\n", static_cast<long long>(b.start),
                          static_cast<long long>(b.end), b.loss);
          }
        }
        return 0;
      }};
}

Command add_analyze_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "analyze", "F-Attn (first-token attention), M-Act (max activation) and gate score");
  add_eval_options(*cmd, *a);
  return {cmd, [a] {
            Config config;
            ModelAnalysis analysis;
            const EvalResult r = run_windows(*a, &analysis, config);
            nlohmann::json out = analysis_to_json(analysis);
            out["val_loss"] = r.loss;
            out["tokens"] = r.tokens;
            if (a->json) {
              std::printf("%s\n", out.dump().c_str());
              return 0;
            }
            std::printf("%-6s %10s %12s %12s %12s %12s %10s\n", "layer", "F-Attn", "attn_out",
                        "attn_resid", "ffn_out", "ffn_resid", "gate");
            for (size_t l = 0; l < analysis.layers.size(); ++l) {
              const auto& m = analysis.layers[l].max_act;
              std::printf(
                  "%-6zu %10.4f %12.3f %12.3f %12.3f %12.3f %10s\n", l,
                  analysis.first_token_attn(l), m[0], m[1], m[2], m[3],
                  analysis.has_gate ? fmt::format("{:.4f}", analysis.gate_score(l)).c_str() : "-");
            }
            if (out.contains("moe")) {
              std::printf("%-6s %10s %10s %12s %10s %10s\n", "layer", "aux_loss", "z_loss",
                          "imbalance", "dropped", "experts");
              for (size_t l = 0; l < analysis.layers.size(); ++l) {
                const LayerAnalysis& layer = analysis.layers[l];
                if (!layer.is_moe()) continue;
                std::printf("%-6zu %10.4f %10.4f %12.3f %10.4f %10zu\n", l, layer.aux_loss(),
                            layer.z_loss(), layer.expert_imbalance(), layer.dropped_fraction(),
                            layer.expert_tokens.size());
              }
            }
            std::printf(
                "mean   F-Attn %.4f  M-Act %.3f  gate score %s  (val loss %.4f)\n",
                analysis.mean_first_token_attn(), analysis.mean_max_act(),
                analysis.has_gate ? fmt::format("{:.4f}", analysis.mean_gate_score()).c_str() : "-",
                r.loss);
            return 0;
          }};
}

}  // namespace gatedlm::cli
