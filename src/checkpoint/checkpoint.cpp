#include "gatedlm/checkpoint/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gatedlm/checkpoint/h5_file.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;
namespace {

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw RuntimeFailure(path.string() + ": cannot open to fsync");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw RuntimeFailure(path.string() + ": fsync failed");
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw RuntimeFailure(path.string() + ": write failed");
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%08lld", static_cast<long long>(step));
  return buf;
}

}  // namespace

void save_model_h5(const std::string& path, ParameterSet& params, const std::string& config_yaml,
                   int64_t step) {
  H5File file(path, H5File::Mode::truncate);
  std::vector<float> host(static_cast<size_t>(params.numel()));
  params.backend().to_host(host.data(), params.params().data(), params.numel());
  for (const ParamInfo& p : params.infos())
    file.write_floats("model/" + p.name, p.shape, host.data() + p.offset);
  file.set_attribute("/", "config_yaml", config_yaml);
  file.set_attribute("/", "step", std::to_string(step));
  file.set_attribute("/", "gatedlm_version", GATEDLM_VERSION);
  file.flush();
}

void load_model_h5(const std::string& path, ParameterSet& params) {
  H5File file(path, H5File::Mode::read);
  std::vector<float> host(static_cast<size_t>(params.numel()));
  for (const ParamInfo& p : params.infos()) {
    const std::string name = "model/" + p.name;
    if (!file.has(name)) throw InputError(path + ": tensor '" + p.name + "' is missing");
    const Shape shape = file.shape_of(name);
    if (shape != p.shape)
      throw InputError(path + ": tensor '" + p.name + "' has shape " + shape_str(shape) +
                       ", the model expects " + shape_str(p.shape));
    const std::vector<float> data = file.read_floats(name);
    std::copy(data.begin(), data.end(), host.begin() + p.offset);
  }
  params.backend().from_host(params.params().data(), host.data(), params.numel());
}

std::string save_checkpoint(const std::string& run_dir, int64_t step, ParameterSet& params,
                            const std::string& config_yaml) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const fs::path final_dir = root / step_dir_name(step);
  const fs::path tmp_dir = root / (".tmp_" + step_dir_name(step));
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw RuntimeFailure(root.string() + ": cannot create (" + ec.message() + ")");
  fs::remove_all(tmp_dir);
  fs::create_directories(tmp_dir);
  save_model_h5((tmp_dir / "model.h5").string(), params, config_yaml, step);
  write_text_file(tmp_dir / "config.yaml", config_yaml);
  fsync_path(tmp_dir / "model.h5");
  fsync_path(tmp_dir / "config.yaml");
  fsync_path(tmp_dir);
  fs::remove_all(final_dir);
  fs::rename(tmp_dir, final_dir);
  fsync_path(root);
  write_text_file(final_dir / kCheckpointMarker, std::to_string(step) + "\n");
  fsync_path(final_dir / kCheckpointMarker);
  // `latest` is replaced atomically too.
  write_text_file(root / ".latest.tmp", step_dir_name(step) + "\n");
  fsync_path(root / ".latest.tmp");
  fs::rename(root / ".latest.tmp", root / "latest");
  fsync_path(root);
  return final_dir.string();
}

std::string resolve_checkpoint(const std::string& path) {
  fs::path p(path);
  if (fs::is_regular_file(p) && p.filename() == "model.h5") p = p.parent_path();
  if (fs::exists(p / "checkpoints" / "latest")) {
    std::string name = read_text_file(p / "checkpoints" / "latest");
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    p = p / "checkpoints" / name;
  }
  if (!fs::exists(p / "model.h5"))
    throw InputError(path + ": expected a checkpoint directory (with model.h5) or a run directory");
  if (!fs::exists(p / kCheckpointMarker))
    throw InputError(p.string() + ": checkpoint is incomplete (no " + kCheckpointMarker +
                     " marker)");
  return p.string();
}

Config load_checkpoint_config(const std::string& checkpoint_dir) {
  const fs::path file = fs::path(checkpoint_dir) / "config.yaml";
  return load_config_text(read_text_file(file), file.string());
}

}  // namespace gatedlm
