// Checkpoint directories in a run: RUN/checkpoints/step_XXXXXXXX/{model.h5, config.yaml,
// COMPLETE} and RUN/checkpoints/latest naming the newest complete one. A save is atomic: files
// go to a hidden temporary directory, are fsynced with it, renamed into place, and only then is
// the COMPLETE marker written and `latest` replaced (write + fsync + rename). A directory
// without the marker is never used; hidden directories are leftovers of interrupted saves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gatedlm/checkpoint/state.h"

namespace gatedlm {

inline constexpr const char* kCheckpointMarker = "COMPLETE";
inline constexpr const char* kCheckpointFile = "model.h5";
inline constexpr const char* kLatestFile = "latest";

std::string checkpoint_dir_name(int64_t step);             // "step_00000012"
std::string checkpoints_root(const std::string& run_dir);  // RUN/checkpoints

struct CheckpointEntry {
  int64_t step = 0;
  std::string dir;
};
// Complete checkpoints (marker and model.h5 present) of a run, ascending by step.
std::vector<CheckpointEntry> list_complete_checkpoints(const std::string& run_dir);
// The checkpoint directory `latest` names (not checked), or "" when there is no `latest`.
std::string read_latest(const std::string& run_dir);

// Writes `state` as RUN/checkpoints/step_<state.step> and points `latest` at it; replaces an
// existing directory of that step. RuntimeFailure names the checkpoint and the cause; the
// previous checkpoints and `latest` are untouched then.
std::string commit_checkpoint(const std::string& run_dir, const CheckpointState& state);

// A checkpoint directory, its model.h5, or a run directory (then its latest checkpoint) -> the
// checkpoint directory. InputError when there is none or it is incomplete.
std::string resolve_checkpoint(const std::string& path);

// Durable small-file helpers (also used for the run directory's own files).
void fsync_path(const std::string& path);
void write_file_durably(const std::string& path, const std::string& text);

}  // namespace gatedlm
