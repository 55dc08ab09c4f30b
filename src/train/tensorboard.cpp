#include "gatedlm/train/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
    table[i] = crc;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

// Protocol buffer wire format: varint, tag = (field << 3) | wire type.
void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}
template <class T>
void put_fixed(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian hosts only, as the rest of gatedlm
  out.append(bytes, sizeof(T));
}
void put_bytes_field(std::string& out, int field, std::string_view bytes) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

std::string event_header(double wall_time, int64_t step) {
  std::string event;
  put_varint(event, 1 << 3 | 1);  // wall_time, fixed64
  put_fixed(event, wall_time);
  put_varint(event, 2 << 3 | 0);  // step, varint
  put_varint(event, static_cast<uint64_t>(step));
  return event;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = kCrc32cTable[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

namespace {

// The seconds in the newest "events.out.tfevents.<seconds>.*" name in `dir`, or 0.
int64_t newest_event_file_seconds(const std::string& dir) {
  static const std::string kPrefix = "events.out.tfevents.";
  int64_t newest = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    newest = std::max<int64_t>(newest, std::atoll(name.c_str() + kPrefix.size()));
  }
  return newest;
}

}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const double wall = now_seconds();
  // TensorBoard reads a directory's files in name order, and a resumed session's START marker
  // purges only what came before it: its file must sort after every earlier one, even one
  // started within the same second.
  const int64_t seconds = std::max(static_cast<int64_t>(wall), newest_event_file_seconds(dir) + 1);
  path_ = (fs::path(dir) / ("events.out.tfevents." + std::to_string(seconds) + "." + host + "." +
                            std::to_string(getpid())))
              .string();
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw RuntimeFailure(path_ + ": cannot create the TensorBoard event file");
  std::string event = event_header(wall, 0);
  put_bytes_field(event, 3, "brain.Event:2");
  write_record(event);
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::add_scalars(int64_t step,
                                    const std::vector<std::pair<std::string, double>>& scalars) {
  if (scalars.empty()) return;
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string entry;
    put_bytes_field(entry, 1, tag);
    put_varint(entry, 2 << 3 | 5);  // simple_value, fixed32
    put_fixed(entry, static_cast<float>(value));
    put_bytes_field(summary, 1, entry);
  }
  std::string event = event_header(now_seconds(), step);
  put_bytes_field(event, 5, summary);
  write_record(event);
}

void TensorBoardWriter::add_session_start(int64_t step) {
  std::string session_log;
  put_varint(session_log, 1 << 3 | 0);  // status, varint
  put_varint(session_log, 1);           // SessionLog.START
  std::string event = event_header(now_seconds(), step + 1);
  put_bytes_field(event, 7, session_log);
  write_record(event);
}

void TensorBoardWriter::write_record(std::string_view event) {
  std::string record;
  const uint64_t length = event.size();
  put_fixed(record, length);
  put_fixed(record, masked_crc32c(&length, sizeof(length)));
  record.append(event);
  put_fixed(record, masked_crc32c(event.data(), event.size()));
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() ||
      std::fflush(file_) != 0)
    throw RuntimeFailure(path_ + ": write failed");
}

}  // namespace gatedlm
