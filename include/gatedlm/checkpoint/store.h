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
#include "gatedlm/core/error.h"

namespace gatedlm {
struct ShardedLayout;
}

namespace gatedlm {

inline constexpr const char* kCheckpointMarker = "COMPLETE";
inline constexpr const char* kCheckpointFile = "model.h5";
inline constexpr const char* kLatestFile = "latest";

std::string checkpoint_dir_name(int64_t step);             // "step_00000012"
std::string checkpoints_root(const std::string& run_dir);  // RUN/checkpoints
// The step of a name exactly as checkpoint_dir_name writes it; -1 for any other name
// ("step_12", "step_+0000001", a count past int64): such a directory is never resumed from nor
// deleted.
int64_t checkpoint_step_of(const std::string& name);

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

// The steps of commit_checkpoint, for saves whose files several processes write
// (checkpoint/sharded_checkpoint.h). All files go to checkpoint_temp_dir(run_dir, step), which
// begin_checkpoint empties and creates; write_checkpoint_main writes (and fsyncs) model.h5 and
// config.yaml there; once every file is written and fsynced, publish_checkpoint fsyncs the
// directory, renames it into place, writes the marker and updates `latest`.
std::string checkpoint_temp_dir(const std::string& run_dir, int64_t step);
void begin_checkpoint(const std::string& run_dir, int64_t step);
void write_checkpoint_main(const std::string& temp_dir, const CheckpointState& state,
                           const ShardedLayout* sharded,
                           const ShardedLayout* sharded_moments = nullptr);
std::string publish_checkpoint(const std::string& run_dir, int64_t step);
// Removes a failed save's temporary directory.
void abandon_checkpoint(const std::string& run_dir, int64_t step);
// The one-line error of a failed save of `step`.
RuntimeFailure checkpoint_write_failure(const std::string& run_dir, int64_t step,
                                        const std::string& why);

// A checkpoint directory, its model.h5, or a run directory (then its latest checkpoint) -> the
// checkpoint directory. InputError when there is none or it is incomplete.
std::string resolve_checkpoint(const std::string& path);

// Durable small-file helpers (also used for the run directory's own files).
void fsync_path(const std::string& path);
void write_file_durably(const std::string& path, const std::string& text);

}  // namespace gatedlm
