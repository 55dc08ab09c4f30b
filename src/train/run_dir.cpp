#include "gatedlm/train/run_dir.h"

#include <filesystem>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/core/error.h"
#include "gatedlm/train/run_lock.h"
#include "gatedlm/train/run_outcome.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

struct Entry {
  fs::path path;  // relative to RUN
  fs::file_type type;
};

const char* type_name(fs::file_type type) {
  switch (type) {
    case fs::file_type::regular:
      return "a regular file";
    case fs::file_type::directory:
      return "a directory";
    case fs::file_type::fifo:
      return "a FIFO";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::block:
    case fs::file_type::character:
      return "a device";
    default:
      return "an unknown kind of file";
  }
}

}  // namespace

void prepare_train_run_dir(const std::string& run_dir) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec || !fs::is_directory(run_dir))
    throw RuntimeFailure(run_dir + ": cannot create the run directory (" + ec.message() + ")");
  const Entry entries[] = {{"config.yaml", fs::file_type::regular},
                           {"metrics.jsonl", fs::file_type::regular},
                           {kRunDoneFile, fs::file_type::regular},
                           {kRunLockFile, fs::file_type::regular},
                           {"tb", fs::file_type::directory},
                           {"checkpoints", fs::file_type::directory},
                           {fs::path("checkpoints") / kLatestFile, fs::file_type::regular}};
  for (const Entry& entry : entries) {
    const fs::path path = fs::path(run_dir) / entry.path;
    const fs::file_status status = fs::symlink_status(path, ec);
    if (status.type() == fs::file_type::not_found) continue;
    if (status.type() == fs::file_type::symlink)
      throw InputError(path.string() +
                       ": is a symbolic link; the run writes its own files and will not write "
                       "through a link (remove it, or choose another --run-dir)");
    if (status.type() != entry.type)
      throw InputError(path.string() + ": expected " + type_name(entry.type) + ", found " +
                       type_name(status.type()));
  }
}

}  // namespace gatedlm
