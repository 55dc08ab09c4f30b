// `gatedlm export --checkpoint CKPT --format hf --out DIR [--dtype fp32|bf16] [--tokenizer TOK]`:
// a checkpoint as Hugging Face files (model.safetensors, config.json, generation_config.json and
// the tokenizer's files); the layout is in checkpoint/hf_layout.h, checkpoint/hf_tokenizer.h and
// docs/interop.md.
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "commands.h"
#include "gatedlm/checkpoint/checkpoint.h"
#include "gatedlm/checkpoint/hf_layout.h"
#include "gatedlm/checkpoint/hf_tokenizer.h"
#include "gatedlm/checkpoint/safetensors.h"
#include "gatedlm/core/build_info.h"
#include "gatedlm/core/error.h"

namespace gatedlm::cli {
namespace {

void write_json(const std::filesystem::path& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::trunc);
  out << j.dump(2) << "\n";
  out.close();
  if (!out) throw RuntimeFailure(path.string() + ": write failed");
}

// HF reads max_position_embeddings as the RoPE length for dynamic NTK (gatedlm's L0), and
// recomputes yarn's factor as max_position_embeddings / L0; otherwise it only documents the
// trained length.
int64_t max_position_embeddings(const Config& config) {
  const auto& rs = config.model.rope_scaling;
  if (rs && rs->type == "dynamic") return rs->original_max_position_embeddings;
  if (rs && rs->type == "yarn" && rs->original_max_position_embeddings > 0)
    return std::llround(rs->factor * static_cast<double>(rs->original_max_position_embeddings));
  return config.train.seq_len;
}

}  // namespace

Command add_export_command(CLI::App& app) {
  struct Args {
    std::string checkpoint, format = "hf", out, dtype = "fp32", tokenizer, layout = "auto";
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Export a checkpoint as Hugging Face safetensors + config.json (Qwen3 layout)");
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint dir, its model.h5, or a run dir")
      ->required();
  cmd->add_option("--format", a->format, "output format (only hf)")->check(CLI::IsMember({"hf"}));
  cmd->add_option("--out", a->out, "output directory (created)")->required();
  cmd->add_option("--dtype", a->dtype, "tensor dtype on disk: fp32 (default) or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--layout", a->layout,
                  "auto (default): what stock transformers loads (qwen3; qwen3_next for a G1 "
                  "elementwise gate); official: the gated-attention paper's modeling_qwen3.py "
                  "layout (G1 headwise, G1 on MoE)")
      ->check(CLI::IsMember({"auto", "official"}));
  cmd->add_option("--tokenizer", a->tokenizer,
                  "tokenizer to write beside the model (as for prepare); default: the "
                  "checkpoint's data.tokenizer");
  return {
      cmd, [a] {
        const std::string dir = resolve_checkpoint(a->checkpoint);
        const std::string h5 = dir + "/" + kCheckpointFile;
        const Config config = load_checkpoint_config(dir);
        // Refuse before reading the tensors: the config alone decides.
        std::string why = hf_unsupported_reason(config.model);
        HfLayout layout = HfLayout::qwen3;
        if (why.empty() && a->layout == "auto") layout = stock_hf_layout(config.model, why);
        if (!why.empty())
          throw InputError(h5 + ": cannot export to the Hugging Face layout: " + why);

        const CheckpointState state = read_checkpoint_file(h5, nullptr, false);
        std::vector<NamedTensor> tensors;
        tensors.reserve(state.tensors.size());
        for (const TensorSlot& s : state.tensors) {
          const auto begin = state.params.begin() + s.offset;
          tensors.push_back({s.name, s.shape, {begin, begin + shape_numel(s.shape)}});
        }
        const std::vector<NamedTensor> hf =
            to_hf_tensors(config.model, std::move(tensors), h5, layout);

        const std::filesystem::path out(a->out);
        std::error_code ec;
        std::filesystem::create_directories(out, ec);
        if (ec) throw RuntimeFailure(a->out + ": cannot create: " + ec.message());
        const bool bf16 = a->dtype == "bf16";
        write_safetensors((out / "model.safetensors").string(), hf,
                          bf16 ? SafetensorsDtype::bf16 : SafetensorsDtype::f32,
                          {{"format", "pt"},
                           {"gatedlm_step", std::to_string(state.step)},
                           {"gatedlm_version", gatedlm_version()}});
        const int64_t max_pos = max_position_embeddings(config);
        write_json(out / "config.json",
                   hf_config_json(config.model, max_pos, bf16 ? "bfloat16" : "float32", layout));
        const std::string tokenizer = a->tokenizer.empty() ? config.data.tokenizer : a->tokenizer;
        HfTokenizerExport tok;
        if (!tokenizer.empty())
          tok = write_hf_tokenizer(tokenizer, config.model.vocab_size, max_pos, out);
        else
          spdlog::warn(
              "{}: no data.tokenizer recorded, so no tokenizer files; pass "
              "--tokenizer to write them",
              dir);
        write_json(out / "generation_config.json",
                   hf_generation_config_json(tok.bos_id, tok.eos_id));
        spdlog::info("exported {} (step {}, {} tensors, {}{}) to {}", dir, state.step, hf.size(),
                     a->dtype, tok.files.empty() ? "" : ", tokenizer " + tokenizer, a->out);
        return 0;
      }};
}

}  // namespace gatedlm::cli
