#include "gatedlm/checkpoint/writer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "gatedlm/checkpoint/store.h"

namespace gatedlm {

CheckpointWriter::CheckpointWriter(std::string run_dir, RetentionPolicy retention, bool async)
    : run_dir_(std::move(run_dir)), retention_(retention), async_(async) {}

CheckpointWriter::~CheckpointWriter() {
  try {
    wait();
  } catch (const std::exception& e) {
    spdlog::error("checkpoint: {}", e.what());
  }
}

void CheckpointWriter::wait() {
  if (thread_.joinable()) thread_.join();
  if (error_) {
    std::exception_ptr error = error_;
    error_ = nullptr;
    std::rethrow_exception(error);
  }
}

std::string CheckpointWriter::save(CheckpointState state) {
  wait();
  const std::string dir =
      (std::filesystem::path(checkpoints_root(run_dir_)) / checkpoint_dir_name(state.step))
          .string();
  if (!async_) {
    try {
      write(state);
    } catch (...) {
      spare_ = std::move(state);
      throw;
    }
    spare_ = std::move(state);
    return dir;
  }
  thread_ = std::thread([this, owned = std::move(state)]() mutable {
    try {
      write(owned);
    } catch (...) {
      error_ = std::current_exception();
    }
    spare_ = std::move(owned);
  });
  return dir;
}

CheckpointState CheckpointWriter::take_buffers() {
  if (thread_.joinable()) return {};
  return std::move(spare_);
}

void CheckpointWriter::write(const CheckpointState& state) {
  const auto start = std::chrono::steady_clock::now();
  const std::string dir = commit_checkpoint(run_dir_, state);
  const std::vector<std::string> deleted = apply_retention(run_dir_, retention_);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("checkpoint step {} saved to {} ({:.0f} ms{}{})", state.step, dir, ms,
               async_ ? ", in the background" : "",
               deleted.empty() ? "" : fmt::format("; removed {} old", deleted.size()));
}

}  // namespace gatedlm
