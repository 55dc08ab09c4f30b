// `gatedlm import --hf DIR --out CKPT [--config YAML]`: a Hugging Face Qwen3 directory
// (config.json + model.safetensors, or a sharded model.safetensors.index.json) as a gatedlm
// checkpoint directory (model.h5, config.yaml, COMPLETE) at step 0 with zero AdamW moments and
// a fresh train-loader state, usable by eval, analyze, export and `train --resume`.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "commands.h"
#include "gatedlm/checkpoint/checkpoint.h"
#include "gatedlm/checkpoint/hf_layout.h"
#include "gatedlm/checkpoint/safetensors.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"
#include "gatedlm/core/rng.h"

namespace gatedlm::cli {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string() + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    throw InputError(path.string() + ": not valid JSON: " + e.what());
  }
}

// The safetensors files of a HF directory: the single file, or every shard the index names.
std::vector<fs::path> safetensors_files(const fs::path& dir) {
  if (fs::exists(dir / "model.safetensors")) return {dir / "model.safetensors"};
  const fs::path index = dir / "model.safetensors.index.json";
  if (!fs::exists(index))
    throw InputError(dir.string() + ": expected model.safetensors or model.safetensors.index.json");
  const nlohmann::json j = read_json(index);
  if (!j.contains("weight_map") || !j["weight_map"].is_object())
    throw InputError(index.string() + ": weight_map: expected an object");
  std::set<std::string> files;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string())
      throw InputError(index.string() + ": weight_map." + name + ": expected a file name");
    files.insert(file.get<std::string>());
  }
  std::vector<fs::path> out;
  for (const std::string& f : files) out.push_back(dir / f);
  return out;
}

}  // namespace

Command add_import_command(CLI::App& app) {
  struct Args {
    std::string hf, out, config;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "import",
      "Import a Hugging Face Qwen3 directory (safetensors + config.json) as a checkpoint");
  cmd->add_option("--hf", a->hf, "directory with config.json and model.safetensors")->required();
  cmd->add_option("--out", a->out, "checkpoint directory to write")->required();
  cmd->add_option("--config", a->config,
                  "YAML for the non-model sections (train, optimizer, data, ...); its model "
                  "section is replaced by config.json's");
  return {cmd, [a] {
            const fs::path src(a->hf);
            const fs::path config_path = src / "config.json";
            Config config = a->config.empty() ? Config{} : load_config(a->config);
            const nlohmann::json hf_config = read_json(config_path);
            config.model = model_config_from_hf(hf_config, config_path.string());
            config.locations = {};
            validate_config(config, config_path.string());

            std::vector<NamedTensor> hf;
            for (const fs::path& file : safetensors_files(src)) {
              SafetensorsFile f = read_safetensors(file.string());
              for (NamedTensor& t : f.tensors) hf.push_back(std::move(t));
            }
            const std::vector<NamedTensor> tensors =
                from_hf_tensors(config.model, std::move(hf), src.string(), hf_layout_of(hf_config));

            CheckpointState state;
            int64_t offset = 0;
            for (const NamedTensor& t : tensors) {
              state.tensors.push_back({t.name, t.shape, offset});
              offset += static_cast<int64_t>(t.data.size());
            }
            state.params.reserve(static_cast<size_t>(offset));
            for (const NamedTensor& t : tensors)
              state.params.insert(state.params.end(), t.data.begin(), t.data.end());
            // Zero moments and step 0: what a fresh AdamW holds, so `train --resume` can start.
            state.exp_avg.assign(state.params.size(), 0.0f);
            state.exp_avg_sq.assign(state.params.size(), 0.0f);
            state.seed = config.train.seed;
            // The train loader as a fresh run starts it, so `train --resume` begins at window 0.
            LoaderState fresh;
            fresh.rng = Rng::stream(config.train.seed, StreamId::data).state();
            state.loaders.emplace_back("train", fresh);
            state.schedule_total_steps = config.train.steps;
            state.config_yaml = config_to_yaml(config);

            const fs::path out(a->out);
            std::error_code ec;
            fs::create_directories(out, ec);
            if (ec) throw RuntimeFailure(a->out + ": cannot create: " + ec.message());
            fs::remove(out / kCheckpointMarker, ec);  // incomplete until the end
            write_checkpoint_file((out / kCheckpointFile).string(), state);
            write_file_durably((out / "config.yaml").string(), state.config_yaml);
            fsync_path((out / kCheckpointFile).string());
            write_file_durably((out / kCheckpointMarker).string(), "0\n");
            spdlog::info("imported {} ({} tensors, {} parameters) to {}", a->hf, tensors.size(),
                         offset, a->out);
            return 0;
          }};
}

}  // namespace gatedlm::cli
