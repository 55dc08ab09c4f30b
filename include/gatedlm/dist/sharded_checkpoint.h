// Saving a tensor-parallel run's checkpoint with one shard file per tensor-parallel rank
// (checkpoint/virtual_layout.h, docs/checkpoints.md "Multi-rank checkpoints"), following the
// atomic protocol of checkpoint/store.h across processes: rank 0 creates the temporary
// directory; the ranks of data-parallel index 0 write their shard files into it in parallel
// (their replicas hold the same shards) and fsync them, rank 0 also model.h5, whose tensors are
// virtual datasets over the shard files; after all agree that every write succeeded, rank 0
// alone renames the directory into place, writes the marker, updates `latest` and applies
// retention.
#pragma once

#include <string>
#include <vector>

#include "gatedlm/checkpoint/retention.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/dist/process_groups.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// Collective over the world. `shard` is this rank's snapshot (its shard's tensors, `local`
// their layout; AdamW moments whole per shard, i.e. already gathered under ZeRO-1). Returns the
// checkpoint directory. A failed write on any rank is a RuntimeFailure on every rank (with the
// reason on the ranks that failed); the temporary directory is removed and earlier checkpoints
// stay intact.
std::string save_sharded_checkpoint(const std::string& run_dir, const CheckpointState& shard,
                                    const std::vector<ParamInfo>& local, ProcessGroups& groups,
                                    const RetentionPolicy& retention);

}  // namespace gatedlm
