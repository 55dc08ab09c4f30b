// Saving a run's checkpoints. With tensor or expert parallelism or ZeRO-1, every rank that
// holds a shard writes its own file of a multi-file checkpoint, synchronously
// (checkpoint/sharded_checkpoint.h); otherwise rank 0 alone writes one file through the
// CheckpointWriter, in the background with checkpoint.async. A failed save stops the run unless
// checkpoint.on_write_failure is "continue"; a save that must succeed (the last one, the one on
// a stop signal) always stops it.
#pragma once

#include <cstdint>
#include <string>

#include "gatedlm/checkpoint/snapshot.h"
#include "gatedlm/checkpoint/state.h"
#include "gatedlm/checkpoint/writer.h"
#include "gatedlm/config/config.h"
#include "gatedlm/core/error.h"
#include "gatedlm/train/run_progress.h"
#include "gatedlm/train/train_setup.h"

namespace gatedlm {

class CheckpointSaver {
 public:
  // `config_yaml` goes into every checkpoint; `resumed_from` is the checkpoint the run resumed
  // from ("" for a fresh start), the last one until this saver writes another.
  CheckpointSaver(std::string run_dir, std::string config_yaml, TrainSetup& setup,
                  const RunProgress& progress, std::string resumed_from);

  // The checkpoint of `steps_done` steps. Collective: every rank calls it after the same step.
  void save(int64_t steps_done, bool must_succeed);
  // The save every checkpoint.interval applied steps (the last step's is the final save).
  void after_step(int64_t step, bool last);
  // Blocks until a background save is written, and rethrows its failure.
  void wait() { writer_.wait(); }
  // The last checkpoint written (on this rank's count), or the one resumed from.
  const std::string& checkpoint() const { return checkpoint_; }

 private:
  void save_sharded(int64_t steps_done, bool must_succeed);
  void save_single(int64_t steps_done, bool must_succeed);  // rank 0 only
  // This rank's shard of the model and the `moments` of AdamW (whole ones are collective under
  // ZeRO-1), with the progress so far.
  void snapshot(int64_t steps_done, CheckpointState& into, SnapshotMoments moments);
  // Called in a catch block: rethrows unless the config lets training go on.
  void on_failure(const RuntimeFailure& e, bool must_succeed) const;

  const Config& config_;
  std::string run_dir_;
  std::string config_yaml_;
  TrainSetup& setup_;
  const RunProgress& progress_;
  CheckpointWriter writer_;
  CheckpointState shard_buffers_;  // reused by multi-file saves, which skip the writer
  std::string checkpoint_;
};

}  // namespace gatedlm
