#include "gatedlm/checkpoint/sharded_checkpoint.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/checkpoint/expert_slices.h"
#include "gatedlm/checkpoint/tensor_slices.h"
#include "gatedlm/model/shard_layout.h"

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
                                    const RetentionPolicy& retention, const Partition* zero,
                                    int64_t experts_per_rank) {
  const auto start = std::chrono::steady_clock::now();
  Communicator& world = groups.world();
  const int tensor_rank = groups.tensor().rank(), data_rank = groups.data().rank();
  // Model files: one per tensor-parallel rank, or per expert-parallel rank (never both: MoE with
  // tensor parallelism is refused), written by the first replica of each.
  const bool experts = groups.expert().size() > 1;
  const ShardedLayout layout = experts
                                   ? expert_sharded_layout(local, groups.expert().rank(),
                                                           groups.expert().size(), experts_per_rank)
                                   : sharded_layout(local, groups.tensor().size());
  const int model_file = experts ? groups.expert().rank() : tensor_rank;
  const bool root = world.rank() == 0,
             writes = (experts ? groups.expert_data().rank() : data_rank) == 0;
  const int64_t step = shard.step;
  const std::filesystem::path temp_dir = checkpoint_temp_dir(run_dir, step);
  std::optional<ShardedLayout> moments;
  if (zero) moments = zero_moment_layout(local, groups.tensor().size(), *zero);
  std::string failure;
  bool ok = succeeded_everywhere(world, failure, [&] {
    if (root) begin_checkpoint(run_dir, step);
  });
  if (ok)
    ok = succeeded_everywhere(world, failure, [&] {
      if (zero) {
        const int file = tensor_rank * groups.data().size() + data_rank;
        const std::string path = (temp_dir / moments->files[file]).string();
        write_shard_file(path, step, zero_file_slots(local, *moments, file, zero->begin(data_rank)),
                         {nullptr, shard.exp_avg.data(), shard.exp_avg_sq.data()}, *moments, file);
        fsync_path(path);
      }
      if (!writes) return;
      const std::string path = (temp_dir / layout.files[model_file]).string();
      ShardValues values{shard.params.data(), shard.exp_avg.data(), shard.exp_avg_sq.data()};
      if (zero) values.exp_avg = values.exp_avg_sq = nullptr;  // in the moments files instead
      write_shard_file(path, step,
                       experts ? expert_file_slots(local, layout, model_file) : shard.tensors,
                       values, layout, model_file);
      fsync_path(path);
      if (root)
        write_checkpoint_main(temp_dir.string(), shard, &layout, zero ? &*moments : nullptr);
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
               layout.files.size() + (moments ? moments->files.size() : 0),
               deleted.empty() ? "" : fmt::format("; removed {} old", deleted.size()));
  return dir;
}

}  // namespace gatedlm
