// A run's checkpoint saves: multi-file by the ranks that hold shards, else one file by rank 0.
#include "gatedlm/train/checkpoint_saver.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "gatedlm/checkpoint/sharded_checkpoint.h"

namespace gatedlm {

CheckpointSaver::CheckpointSaver(std::string run_dir, std::string config_yaml, TrainSetup& setup,
                                 const RunProgress& progress, std::string resumed_from)
    : config_(setup.config),
      run_dir_(std::move(run_dir)),
      config_yaml_(std::move(config_yaml)),
      setup_(setup),
      progress_(progress),
      writer_(run_dir_, {config_.checkpoint.keep_last, config_.checkpoint.keep_every},
              config_.checkpoint.async),
      checkpoint_(std::move(resumed_from)) {}

void CheckpointSaver::after_step(int64_t step, bool last) {
  const int64_t interval = config_.checkpoint.interval;
  if (interval > 0 && step % interval == 0 && !last) save(step, false);
}

void CheckpointSaver::save(int64_t steps_done, bool must_succeed) {
  setup_.data_parallel.check_replicas_agree();
  if (setup_.tp.size() > 1 || setup_.ep.size() > 1 || setup_.optimizer.sharded())
    save_sharded(steps_done, must_succeed);
  else if (setup_.groups.is_root())
    save_single(steps_done, must_succeed);
}

// One shard file per tensor- or expert-parallel rank and, under ZeRO-1, one moments file per
// rank, written synchronously by the ranks that hold them.
void CheckpointSaver::save_sharded(int64_t steps_done, bool must_succeed) {
  try {
    const bool zero = setup_.optimizer.sharded();
    snapshot(steps_done, shard_buffers_, zero ? SnapshotMoments::owned : SnapshotMoments::whole);
    checkpoint_ = save_sharded_checkpoint(
        run_dir_, shard_buffers_, setup_.model.params().infos(), setup_.groups,
        {config_.checkpoint.keep_last, config_.checkpoint.keep_every},
        zero ? &setup_.optimizer.partition() : nullptr, setup_.experts_per_rank);
  } catch (const RuntimeFailure& e) {
    on_failure(e, must_succeed);
  }
}

void CheckpointSaver::save_single(int64_t steps_done, bool must_succeed) {
  const Stopwatch stall;  // what training waits: an unfinished earlier save, the snapshot, ...
  try {
    writer_.wait();  // an earlier background save's failure surfaces here
  } catch (const RuntimeFailure& e) {
    on_failure(e, must_succeed);
  }
  try {
    CheckpointState snapshot_state = writer_.take_buffers();
    snapshot(steps_done, snapshot_state, SnapshotMoments::whole);
    checkpoint_ = writer_.save(std::move(snapshot_state));
    spdlog::info("checkpoint step {}: training paused {:.1f} ms ({})", steps_done,
                 stall.seconds() * 1e3, writer_.async() ? "async" : "sync");
    if (must_succeed) writer_.wait();
  } catch (const RuntimeFailure& e) {
    on_failure(e, must_succeed);
  }
}

void CheckpointSaver::snapshot(int64_t steps_done, CheckpointState& into, SnapshotMoments moments) {
  TrainingProgress progress;
  progress.step = steps_done;
  progress.tokens_seen = progress_.tokens;
  progress.elapsed_s = progress_.elapsed_s();
  progress.last_lr = progress_.last_lr;
  progress.total_steps = config_.train.steps;
  progress.seed = config_.train.seed;
  snapshot_training(setup_.model.params(), setup_.optimizer, progress, setup_.loaders(),
                    config_yaml_, setup_.layout, into, moments);
}

void CheckpointSaver::on_failure(const RuntimeFailure& e, bool must_succeed) const {
  if (must_succeed || config_.checkpoint.on_write_failure == "stop") throw;
  spdlog::error("{}; training continues (checkpoint.on_write_failure: continue)", e.what());
}

}  // namespace gatedlm
