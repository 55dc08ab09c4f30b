// Saving a tensor-, expert-parallel or ZeRO-1 run's checkpoint with one shard file per tensor-
// (or expert-) parallel rank, and under ZeRO-1 one moments file per rank
// (checkpoint/virtual_layout.h, docs/checkpoints.md "Multi-rank checkpoints"), following the atomic
// protocol of checkpoint/store.h across processes: rank 0 creates the temporary directory; the
// ranks of data-parallel index 0 write their model shard files into it in parallel (their replicas
// hold the same shards), every ZeRO-1 rank its block of the moments, and each fsyncs what it wrote;
// rank 0 also writes model.h5, whose tensors are virtual datasets over those files; after all
// agree that every write succeeded, rank 0 alone renames the directory into place, writes the
// marker, updates `latest` and applies retention.
#pragma once

#include <string>
#include <vector>

#include "gatedlm/checkpoint/retention.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/comm/partition.h"
#include "gatedlm/comm/process_groups.h"
#include "gatedlm/model/parameters.h"

namespace gatedlm {

// Collective over the world. `shard` is this rank's snapshot: its shard's tensors (`local`
// their layout) with the AdamW moments whole per shard or, given `zero` (the ZeRO-1 partition of
// the shard's flat buffer over the data group), just this rank's block of them
// (SnapshotMoments::owned). Under expert
// parallelism (`experts_per_rank` routed experts per rank) each expert rank writes its own
// experts, and the snapshot holds this rank's tensors, not gathered ones. Returns the
// checkpoint directory. A failed write on any rank is a RuntimeFailure on every rank (with the
// reason on the ranks that failed); the temporary directory is removed and earlier checkpoints
// stay intact.
std::string save_sharded_checkpoint(const std::string& run_dir, const CheckpointState& shard,
                                    const std::vector<ParamInfo>& local, ProcessGroups& groups,
                                    const RetentionPolicy& retention,
                                    const Partition* zero = nullptr, int64_t experts_per_rank = 0);

}  // namespace gatedlm
