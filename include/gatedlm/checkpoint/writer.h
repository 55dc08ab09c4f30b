// Saves checkpoints of a run, synchronously or in a background thread. The caller hands over a
// host snapshot (checkpoint/snapshot.h), so training may go on changing the live tensors while
// an asynchronous save writes; at most one save is in flight.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <thread>

#include "gatedlm/checkpoint/retention.h"
#include "gatedlm/checkpoint/state.h"

namespace gatedlm {

class CheckpointWriter {
 public:
  CheckpointWriter(std::string run_dir, RetentionPolicy retention, bool async);
  ~CheckpointWriter();  // waits for a save in flight; logs a failure nobody collected
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Writes `state` as the run's checkpoint for state.step, applies retention, and returns the
  // checkpoint directory. Async: returns at once. Waits for an earlier save first (and rethrows
  // its failure). RuntimeFailure on a failed write.
  std::string save(CheckpointState state);
  // Blocks until the save in flight (if any) is done and rethrows its failure, once.
  void wait();
  // Host buffers to snapshot into: those of the last finished save, so that repeated saves reuse
  // memory that is already allocated and paged in. Empty while a save is in flight.
  CheckpointState take_buffers();
  bool async() const { return async_; }

 private:
  void write(const CheckpointState& state);

  std::string run_dir_;
  RetentionPolicy retention_;
  bool async_;
  std::thread thread_;
  std::exception_ptr error_;
  CheckpointState spare_;  // written by the writing thread only before it ends
};

}  // namespace gatedlm
