// Checkpoints for readers outside training (eval, analyze, export, the checkpoint tools). The
// layout is documented in docs/checkpoints.md; the parts live in:
//   h5_file.h    the HDF5 layer           checksum.h   per-dataset xxh3_64
//   state.h      what a checkpoint holds   format.h     model.h5 read/write/verify
//   store.h      atomic directories, `latest`          retention.h  keep_last / keep_every
//   snapshot.h   live training <-> state  writer.h     sync / async saving
//   virtual_layout.h  tensor-parallel shard files behind virtual datasets; block reads
//   resume.h     which checkpoint a run continues from
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "gatedlm/checkpoint/format.h"
#include "gatedlm/checkpoint/h5_file.h"
#include "gatedlm/checkpoint/store.h"
#include "gatedlm/config/config.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// Loads parameters by name, verifying their checksums; a missing tensor or a shape mismatch is
// an InputError naming it, damage a CheckpointCorrupt naming the file and dataset.
void load_model_h5(const std::string& path, ParameterSet& params);

// The resolved config stored with a checkpoint (from model.h5, verified).
Config load_checkpoint_config(const std::string& checkpoint_dir);

// What `gatedlm checkpoint inspect` shows.
struct CheckpointSummary {
  std::string dir;
  std::string file;
  bool complete = false;                                      // the COMPLETE marker exists
  std::vector<std::pair<std::string, std::string>> metadata;  // root attributes
  std::vector<H5DatasetInfo> datasets;
};
// `path` as for resolve_checkpoint, but an incomplete checkpoint is still described.
CheckpointSummary describe_checkpoint(const std::string& path);

}  // namespace gatedlm
