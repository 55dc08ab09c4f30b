#include "gatedlm/checkpoint/checkpoint.h"

#include <filesystem>

#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;

void load_model_h5(const std::string& path, ParameterSet& params) {
  const CheckpointState state = read_checkpoint_file(path, &params.infos(), false);
  params.backend().from_host(params.params().data(), state.params.data(), params.numel());
}

Config load_checkpoint_config(const std::string& checkpoint_dir) {
  const std::string file = (fs::path(checkpoint_dir) / kCheckpointFile).string();
  return load_config_text(read_checkpoint_config(file), file + ":config_yaml");
}

CheckpointSummary describe_checkpoint(const std::string& path) {
  CheckpointSummary summary;
  fs::path dir(path);
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) {
    summary.file = dir.string();
    dir = dir.parent_path();
  } else {
    if (!fs::exists(dir / kCheckpointFile, ec)) dir = resolve_checkpoint(path);
    summary.file = (dir / kCheckpointFile).string();
  }
  summary.dir = dir.string();
  summary.complete = fs::exists(dir / kCheckpointMarker, ec);
  H5File file(summary.file, H5File::Mode::read);
  summary.metadata = file.attributes("/");
  summary.datasets = file.datasets();
  return summary;
}

}  // namespace gatedlm
