// `gatedlm checkpoint inspect CKPT` (tensors, shapes, step, metadata) and
// `gatedlm checkpoint verify CKPT` (every dataset against its checksum; exit 2 on any failure).
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "gatedlm/checkpoint/checkpoint.h"
#include "gatedlm/core/error.h"

namespace gatedlm::cli {
namespace {

// Small numeric datasets (steps, counters, RNG words) are shown with their values.
std::string small_value(const H5File& file, const H5DatasetInfo& d) {
  if (d.type == H5Type::text || d.type == H5Type::other || shape_numel(d.shape) > 4) return "";
  std::string out;
  auto join = [&](const auto& values) {
    for (const auto& v : values) out += (out.empty() ? "" : ", ") + nlohmann::json(v).dump();
  };
  switch (d.type) {
    case H5Type::f32:
      join(file.read_floats(d.name));
      break;
    case H5Type::f64:
      join(file.read_doubles(d.name));
      break;
    case H5Type::i32:
      join(file.read_ints(d.name));
      break;
    case H5Type::i64:
      join(file.read_int64s(d.name));
      break;
    case H5Type::u64:
      join(file.read_uint64s(d.name));
      break;
    default:
      break;
  }
  return d.shape.empty() ? out : "[" + out + "]";
}

int inspect(const std::string& path, bool json) {
  const CheckpointSummary s = describe_checkpoint(path);
  H5File file(s.file, H5File::Mode::read);
  if (json) {
    nlohmann::json out = {{"dir", s.dir}, {"file", s.file}, {"complete", s.complete}};
    out["metadata"] = nlohmann::json::object();
    for (const auto& [key, value] : s.metadata) out["metadata"][key] = value;
    out["datasets"] = nlohmann::json::array();
    for (const H5DatasetInfo& d : s.datasets)
      out["datasets"].push_back(
          {{"name", d.name}, {"dtype", h5_type_name(d.type)}, {"shape", d.shape}});
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("checkpoint %s (%s)\n", s.dir.c_str(),
              s.complete ? "complete" : "INCOMPLETE: no COMPLETE marker");
  std::printf("file %s, %.1f MiB\n", s.file.c_str(),
              static_cast<double>(std::filesystem::file_size(s.file)) / (1 << 20));
  std::printf("\nmetadata:\n");
  for (const auto& [key, value] : s.metadata)
    std::printf("  %-16s %s\n", key.c_str(), value.c_str());
  int64_t model_tensors = 0, model_numel = 0, moments = 0;
  std::printf("\nmodel tensors:\n");
  for (const H5DatasetInfo& d : s.datasets) {
    if (d.name.rfind("model/", 0) != 0) continue;
    ++model_tensors;
    model_numel += shape_numel(d.shape);
    std::printf("  %-56s %-8s %s\n", d.name.substr(6).c_str(), h5_type_name(d.type),
                shape_str(d.shape).c_str());
  }
  std::printf("  (%lld tensors, %lld parameters)\n", static_cast<long long>(model_tensors),
              static_cast<long long>(model_numel));
  std::printf("\ntraining state:\n");
  for (const H5DatasetInfo& d : s.datasets) {
    if (d.name.rfind("model/", 0) == 0) continue;
    if (d.name.rfind("optimizer/exp_avg", 0) == 0) {
      ++moments;
      continue;
    }
    std::printf("  %-32s %-8s %-10s %s\n", d.name.c_str(), h5_type_name(d.type),
                shape_str(d.shape).c_str(), small_value(file, d).c_str());
  }
  std::printf("  optimizer/exp_avg/*, optimizer/exp_avg_sq/*: %lld AdamW moment tensors\n",
              static_cast<long long>(moments));
  return 0;
}

int verify(const std::string& path) {
  const std::string dir = resolve_checkpoint(path);
  const std::string file = (std::filesystem::path(dir) / kCheckpointFile).string();
  const std::vector<DatasetCheck> checks = verify_checkpoint_file(file);
  int64_t failed = 0;
  const DatasetCheck* first = nullptr;
  for (const DatasetCheck& c : checks) {
    if (c.problem.empty()) continue;
    ++failed;
    if (!first) first = &c;
    if (c.dataset.empty())
      std::printf("FAILED: %s\n", c.problem.c_str());
    else
      std::printf("FAILED %s: %s\n", c.dataset.c_str(), c.problem.c_str());
  }
  if (first) {
    if (first->dataset.empty()) throw InputError(first->problem);
    throw InputError(file + ": dataset '" + first->dataset + "': " + first->problem +
                     (failed > 1 ? " (and " + std::to_string(failed - 1) + " more)" : ""));
  }
  std::printf("ok: %s: %zu datasets match their checksums\n", file.c_str(), checks.size());
  return 0;
}

}  // namespace

Command add_checkpoint_command(CLI::App& app) {
  struct Args {
    std::string path;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("checkpoint", "Inspect or verify a checkpoint");
  cmd->require_subcommand(1);
  CLI::App* inspect_cmd =
      cmd->add_subcommand("inspect", "List tensors, shapes, step and metadata of a checkpoint");
  inspect_cmd->add_option("checkpoint", a->path, "checkpoint dir, its model.h5, or a run dir")
      ->required();
  inspect_cmd->add_flag("--json", a->json, "print one JSON object");
  CLI::App* verify_cmd = cmd->add_subcommand(
      "verify", "Check every dataset against its checksum (exit 2 naming the first failure)");
  verify_cmd->add_option("checkpoint", a->path, "checkpoint dir, its model.h5, or a run dir")
      ->required();
  return {cmd, [a, inspect_cmd] {
            if (inspect_cmd->parsed()) return inspect(a->path, a->json);
            return verify(a->path);
          }};
}

}  // namespace gatedlm::cli
