#include "gatedlm/dist/sharded_checkpoint.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/dist/expert_shards.h"
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

// Writes file `file` of the ZeRO-1 moments layout: this rank's block of the moments (in
// `shard`, starting at element `begin` of the shard's flat buffer), one flat piece per tensor.
void write_moment_file(const std::string& path, CheckpointState& shard,
                       const std::vector<ParamInfo>& local, const ShardedLayout& moments, int file,
                       int64_t begin) {
  CheckpointState part;
  part.step = shard.step;
  for (size_t i = 0; i < moments.tensors.size(); ++i) {
    TensorSlot slot{local[i].name, {}, 0};
    for (const TensorPiece& piece : moments.tensors[i].pieces)
      if (piece.shard == file)
        slot = {local[i].name, piece.stored_shape(), local[i].offset + piece.flat_begin - begin};
    part.tensors.push_back(std::move(slot));
  }
  std::swap(part.exp_avg, shard.exp_avg);  // borrowed, returned below even on failure
  std::swap(part.exp_avg_sq, shard.exp_avg_sq);
  try {
    write_shard_file(path, part, moments, file);
  } catch (...) {
    std::swap(part.exp_avg, shard.exp_avg);
    std::swap(part.exp_avg_sq, shard.exp_avg_sq);
    throw;
  }
  std::swap(part.exp_avg, shard.exp_avg);
  std::swap(part.exp_avg_sq, shard.exp_avg_sq);
}

// Writes this rank's model shard file, file `file` of `layout` whose tensors `slots` places in
// `shard`'s buffers: parameters, and the moments unless `zero` ranks store them in their own
// files.
void write_model_file(const std::string& path, CheckpointState& shard, const ShardedLayout& layout,
                      int file, std::vector<TensorSlot> slots, bool zero) {
  CheckpointState part;
  part.step = shard.step;
  part.tensors = std::move(slots);
  // Borrowed, and returned below even on failure.
  const auto lend = [&] {
    std::swap(part.params, shard.params);
    if (zero) return;
    std::swap(part.exp_avg, shard.exp_avg);
    std::swap(part.exp_avg_sq, shard.exp_avg_sq);
  };
  lend();
  try {
    write_shard_file(path, part, layout, file);
  } catch (...) {
    lend();
    throw;
  }
  lend();
}

}  // namespace

std::string save_sharded_checkpoint(const std::string& run_dir, CheckpointState& shard,
                                    const std::vector<ParamInfo>& local, ProcessGroups& groups,
                                    const RetentionPolicy& retention, const Partition* zero,
                                    int64_t experts_per_rank) {
  const auto start = std::chrono::steady_clock::now();
  Communicator& world = groups.world();
  const int tensor_rank = groups.tensor().rank(), data_rank = groups.data().rank();
  // Model files: one per tensor-parallel rank, or per expert-parallel rank (never both: MoE with
  // tensor parallelism is refused), written by the first replica of each.
  const bool experts = groups.expert().size() > 1;
  const ShardedLayout layout =
      experts ? expert_sharded_layout(local, groups.expert().size(), experts_per_rank)
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
        write_moment_file(path, shard, local, *moments, file, zero->begin(data_rank));
        fsync_path(path);
      }
      if (!writes) return;
      const std::string path = (temp_dir / layout.files[model_file]).string();
      write_model_file(path, shard, layout, model_file,
                       experts ? expert_file_slots(local, layout, model_file) : shard.tensors,
                       zero != nullptr);
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
