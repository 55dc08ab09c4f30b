// TensorBoard event files (RUN/tb/events.out.tfevents.*), so `tensorboard --logdir RUN/tb` shows
// the training scalars. The format, written by hand (no TensorFlow): TFRecords of
//   uint64 length, uint32 masked CRC32C of the length, `length` bytes, uint32 masked CRC32C
// holding serialized Event protobufs: wall_time (1, double), step (2, int64), file_version
// (3, string; the first event), summary (5) of Summary.Value {tag (1), simple_value (2, float)},
// session_log (7) of SessionLog {status (1, enum: START = 1)}.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatedlm {

uint32_t crc32c(const void* data, size_t size);
// TFRecord's mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t size);

class TensorBoardWriter {
 public:
  // Creates `dir` and a new event file in it (one per process: a resumed run adds a file).
  explicit TensorBoardWriter(const std::string& dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One event holding every (tag, value) at `step`; flushed at once, like metrics.jsonl.
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& scalars);
  // A SessionLog START at `step` + 1: TensorBoard then discards the points logged before it at
  // steps from `step` + 1 on (it keeps those with a smaller step), the steps a run resumed or
  // rolled back to `step` writes again.
  void add_session_start(int64_t step);
  const std::string& path() const { return path_; }

 private:
  void write_record(std::string_view event);

  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace gatedlm
