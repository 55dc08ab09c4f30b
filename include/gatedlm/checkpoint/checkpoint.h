// Checkpoint directories: RUN/checkpoints/step_XXXXXXXX/{model.h5, config.yaml, COMPLETE} and
// RUN/checkpoints/latest naming the newest complete one. A checkpoint is written into a
// temporary directory, fsynced, renamed into place, and only then marked complete.
#pragma once

#include <cstdint>
#include <string>

#include "gatedlm/config/config.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

inline constexpr const char* kCheckpointMarker = "COMPLETE";

// Writes every parameter as a full float32 dataset model/<name> (h5py-readable), with the
// resolved config and step as root attributes.
void save_model_h5(const std::string& path, ParameterSet& params, const std::string& config_yaml,
                   int64_t step);
// Loads parameters by name; a missing tensor or a shape mismatch is an InputError naming it.
void load_model_h5(const std::string& path, ParameterSet& params);

// Saves a checkpoint for `step` under run_dir/checkpoints and updates `latest`. Returns its dir.
std::string save_checkpoint(const std::string& run_dir, int64_t step, ParameterSet& params,
                            const std::string& config_yaml);

// Accepts a checkpoint directory, its model.h5, or a run directory (then its latest complete
// checkpoint). Returns the checkpoint directory; InputError when none is found or incomplete.
std::string resolve_checkpoint(const std::string& path);
// The resolved config stored with a checkpoint.
Config load_checkpoint_config(const std::string& checkpoint_dir);

}  // namespace gatedlm
