#include "gatedlm/checkpoint/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gatedlm/checkpoint/format.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;
namespace {

std::string errno_text() { return std::strerror(errno); }

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw RuntimeFailure("cannot rename " + from.string() + " to " + to.string() + ": " +
                         errno_text());
}

}  // namespace

std::string checkpoint_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%08lld", static_cast<long long>(step));
  return buf;
}

int64_t checkpoint_step_of(const std::string& name) {
  if (name.rfind("step_", 0) != 0 || name.size() <= 5 || name.size() > 5 + 18) return -1;
  int64_t step = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');  // at most 18 digits: no overflow
  }
  return checkpoint_dir_name(step) == name ? step : -1;
}

std::string checkpoints_root(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints").string();
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw RuntimeFailure(path + ": cannot open to fsync: " + errno_text());
  const int rc = ::fsync(fd);
  const std::string why = rc != 0 ? errno_text() : "";
  ::close(fd);
  if (rc != 0) throw RuntimeFailure(path + ": fsync failed: " + why);
}

void write_file_durably(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw RuntimeFailure(path + ": cannot create: " + errno_text());
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = errno_text();
      ::close(fd);
      throw RuntimeFailure(path + ": write failed: " + why);
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const std::string why = synced ? "" : errno_text();
  if (::close(fd) != 0 || !synced)
    throw RuntimeFailure(path + ": write failed: " + (synced ? errno_text() : why));
}

std::vector<CheckpointEntry> list_complete_checkpoints(const std::string& run_dir) {
  std::vector<CheckpointEntry> out;
  std::error_code ec;
  const fs::path root = checkpoints_root(run_dir);
  if (!fs::is_directory(root, ec)) return out;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    const int64_t step = checkpoint_step_of(e.path().filename().string());
    // A linked step directory is not one this run wrote: never resumed from, never deleted.
    if (step < 0 || e.is_symlink(ec) || !e.is_directory(ec)) continue;
    if (fs::exists(e.path() / kCheckpointMarker, ec) && fs::exists(e.path() / kCheckpointFile, ec))
      out.push_back({step, e.path().string()});
  }
  std::sort(out.begin(), out.end(),
            [](const CheckpointEntry& a, const CheckpointEntry& b) { return a.step < b.step; });
  return out;
}

std::string read_latest(const std::string& run_dir) {
  const fs::path file = fs::path(checkpoints_root(run_dir)) / kLatestFile;
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(file, ec);
  if (status.type() == fs::file_type::not_found) return "";
  if (status.type() != fs::file_type::regular)
    throw InputError(
        file.string() + ": expected a regular file naming a checkpoint, found " +
        (status.type() == fs::file_type::symlink ? "a symbolic link" : "another kind of file"));
  // Only the writer's own form, "step_XXXXXXXX\n": never a path out of the checkpoints directory.
  constexpr std::streamsize kMaxBytes = 64;
  std::ifstream in(file, std::ios::binary);
  std::string text(kMaxBytes + 1, '\0');
  in.read(text.data(), kMaxBytes + 1);
  text.resize(static_cast<size_t>(in.gcount()));
  std::string name = text;
  if (!name.empty() && name.back() == '\n') name.pop_back();
  if (text.size() > static_cast<size_t>(kMaxBytes) || checkpoint_step_of(name) < 0) {
    size_t offset = 0;  // the first byte that departs from the expected form
    const std::string expected = "step_00000000";
    while (offset < name.size() && offset < 5 && name[offset] == expected[offset]) ++offset;
    while (offset >= 5 && offset < name.size() && name[offset] >= '0' && name[offset] <= '9')
      ++offset;
    throw InputError(file.string() + ": offset " + std::to_string(offset) +
                     ": expected a checkpoint name step_NNNNNNNN and a newline");
  }
  return (fs::path(checkpoints_root(run_dir)) / name).string();
}

std::string checkpoint_temp_dir(const std::string& run_dir, int64_t step) {
  return (fs::path(checkpoints_root(run_dir)) / (".tmp_" + checkpoint_dir_name(step))).string();
}

RuntimeFailure checkpoint_write_failure(const std::string& run_dir, int64_t step,
                                        const std::string& why) {
  return RuntimeFailure("cannot write checkpoint " +
                        (fs::path(checkpoints_root(run_dir)) / checkpoint_dir_name(step)).string() +
                        ": " + why + " (earlier checkpoints are intact)");
}

void begin_checkpoint(const std::string& run_dir, int64_t step) {
  const fs::path root = checkpoints_root(run_dir), tmp_dir = checkpoint_temp_dir(run_dir, step);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw RuntimeFailure(root.string() + ": cannot create: " + ec.message());
  fs::remove_all(tmp_dir, ec);
  fs::remove_all(root / (".trash_" + checkpoint_dir_name(step)), ec);
  if (!fs::create_directory(tmp_dir, ec) || ec)
    throw RuntimeFailure(tmp_dir.string() +
                         ": cannot create: " + (ec ? ec.message() : "it exists"));
}

void write_checkpoint_main(const std::string& tmp_dir, const CheckpointState& state,
                           const ShardedLayout* sharded, const ShardedLayout* sharded_moments) {
  write_checkpoint_file((fs::path(tmp_dir) / kCheckpointFile).string(), state, sharded,
                        sharded_moments);
  write_file_durably((fs::path(tmp_dir) / "config.yaml").string(), state.config_yaml);
  fsync_path((fs::path(tmp_dir) / kCheckpointFile).string());
}

void abandon_checkpoint(const std::string& run_dir, int64_t step) {
  std::error_code ec;
  fs::remove_all(checkpoint_temp_dir(run_dir, step), ec);
}

std::string publish_checkpoint(const std::string& run_dir, int64_t step) {
  const fs::path root = checkpoints_root(run_dir);
  const std::string name = checkpoint_dir_name(step);
  const fs::path final_dir = root / name, tmp_dir = checkpoint_temp_dir(run_dir, step);
  const fs::path trash_dir = root / (".trash_" + name);
  std::error_code ec;
  try {
    fsync_path(tmp_dir.string());
    // A directory of the same step (an older timeline, or an interrupted save) moves aside first:
    // rename() will not replace a non-empty directory.
    if (fs::exists(final_dir, ec)) rename_or_throw(final_dir, trash_dir);
    rename_or_throw(tmp_dir, final_dir);
    fsync_path(root.string());
  } catch (const std::exception& e) {
    abandon_checkpoint(run_dir, step);
    throw checkpoint_write_failure(run_dir, step, e.what());
  }
  try {
    write_file_durably((final_dir / kCheckpointMarker).string(), std::to_string(step) + "\n");
    fsync_path(final_dir.string());
    const fs::path latest_tmp = root / ".latest.tmp";
    write_file_durably(latest_tmp.string(), name + "\n");
    rename_or_throw(latest_tmp, root / kLatestFile);
    fsync_path(root.string());
  } catch (const std::exception& e) {
    throw RuntimeFailure("cannot complete checkpoint " + final_dir.string() + ": " + e.what() +
                         " (`latest` still names the previous checkpoint)");
  }
  fs::remove_all(trash_dir, ec);
  return final_dir.string();
}

std::string commit_checkpoint(const std::string& run_dir, const CheckpointState& state) {
  try {
    begin_checkpoint(run_dir, state.step);
    write_checkpoint_main(checkpoint_temp_dir(run_dir, state.step), state, nullptr);
  } catch (const std::exception& e) {
    abandon_checkpoint(run_dir, state.step);
    throw checkpoint_write_failure(run_dir, state.step, e.what());
  }
  return publish_checkpoint(run_dir, state.step);
}

std::string resolve_checkpoint(const std::string& path) {
  fs::path p(path);
  std::error_code ec;
  if (fs::is_regular_file(p, ec) && p.filename() == kCheckpointFile) p = p.parent_path();
  if (!fs::exists(p / kCheckpointFile, ec) && fs::is_directory(p / "checkpoints", ec)) {
    const std::string latest = read_latest(p.string());
    if (latest.empty())
      throw InputError(path + ": run directory has no complete checkpoint (no checkpoints/" +
                       kLatestFile + ")");
    p = latest;
  }
  if (!fs::exists(p / kCheckpointFile, ec))
    throw InputError(path + ": expected a checkpoint directory (with " + kCheckpointFile +
                     ") or a run directory");
  if (!fs::exists(p / kCheckpointMarker, ec))
    throw InputError(p.string() + ": checkpoint is incomplete (no " + kCheckpointMarker +
                     " marker)");
  return p.string();
}

}  // namespace gatedlm
