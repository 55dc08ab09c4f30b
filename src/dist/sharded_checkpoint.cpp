#include "gatedlm/dist/sharded_checkpoint.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/dist/tensor_shards.h"

namespace gatedlm {
namespace {

// Runs `body` on this rank and tells whether it succeeded on every rank; `failure` gets this
// rank's reason.
template <typename Body>
bool succeeded_everywhere(Communicator& world, std::string& failure, Body body) {
  try {
    body();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  double failed = failure.empty() ? 0.0 : 1.0;
  world.all_reduce(&failed, 1, ReduceOp::max);
  return failed == 0.0;
}

}  // namespace

std::string save_sharded_checkpoint(const std::string& run_dir, const CheckpointState& shard,
                                    const std::vector<ParamInfo>& local, ProcessGroups& groups,
                                    const RetentionPolicy& retention) {
  const auto start = std::chrono::steady_clock::now();
  Communicator& world = groups.world();
  const bool root = world.rank() == 0, writes = groups.data().rank() == 0;
  const int64_t step = shard.step;
  const std::string temp_dir = checkpoint_temp_dir(run_dir, step);
  const ShardedLayout layout = sharded_layout(local, groups.tensor().size());
  std::string failure;
  bool ok = succeeded_everywhere(world, failure, [&] {
    if (root) begin_checkpoint(run_dir, step);
  });
  if (ok)
    ok = succeeded_everywhere(world, failure, [&] {
      if (!writes) return;
      const std::string path =
          (std::filesystem::path(temp_dir) / shard_file_name(groups.tensor().rank(), layout.shards))
              .string();
      write_shard_file(path, shard, layout, groups.tensor().rank());
      fsync_path(path);
      if (root) write_checkpoint_main(temp_dir, shard, &layout);
    });
  if (!ok) {
    if (root) abandon_checkpoint(run_dir, step);
    throw checkpoint_write_failure(run_dir, step,
                                   failure.empty() ? "a write failed on another rank" : failure);
  }
  if (!root)
    return (std::filesystem::path(checkpoints_root(run_dir)) / checkpoint_dir_name(step)).string();
  const std::string dir = publish_checkpoint(run_dir, step);
  const std::vector<std::string> deleted = apply_retention(run_dir, retention);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("checkpoint step {} saved to {} ({:.0f} ms, {} shard files{})", step, dir, ms,
               layout.shards,
               deleted.empty() ? "" : fmt::format("; removed {} old", deleted.size()));
  return dir;
}

}  // namespace gatedlm
