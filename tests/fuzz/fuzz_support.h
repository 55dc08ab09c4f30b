// Shared pieces of the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp, docs/reliability.md).
// A harness feeds one input to a reader and lets only InputError through: the CLI turns that
// into exit 2 with one line. Anything else escaping (std::out_of_range, a YAML or JSON
// library exception, bad_alloc from a size read off the input) would be exit 1 or a crash for
// bad input, so it aborts and libFuzzer records the input.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "gatedlm/core/error.h"

namespace gatedlm::fuzz {

[[noreturn]] inline void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Runs `body`; returns true when it finished, false when it rejected the input with an
// InputError. Any other exception aborts.
template <typename F>
bool accepts(F&& body) {
  try {
    body();
    return true;
  } catch (const InputError&) {
    return false;
  } catch (const std::exception& e) {
    fail(typeid(e).name(), e.what());
  }
}

// A file in memory (tmpfs /dev/shm, else $TMPDIR) for readers that take a file name, so no
// run touches the disk. (A memfd's /proc/self/fd path would do for most readers, but HDF5 wants
// a real path.)
class MemoryFile {
 public:
  MemoryFile() {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : std::getenv("TMPDIR");
    path_ = std::string(dir ? dir : "/tmp") + "/gatedlm-fuzz-" + std::to_string(getpid()) + "-" +
            std::to_string(reinterpret_cast<uintptr_t>(this));
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd_ < 0) fail("open", path_);
  }
  ~MemoryFile() {
    close(fd_);
    unlink(path_.c_str());
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  const std::string& write(std::string_view bytes) {
    if (ftruncate(fd_, 0) != 0) fail("ftruncate", path_);
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = pwrite(fd_, bytes.data() + done, bytes.size() - done, done);
      if (n <= 0) fail("pwrite", path_);
      done += static_cast<size_t>(n);
    }
    return path_;
  }
  const std::string& path() const { return path_; }
  std::string read() const {
    std::string bytes(static_cast<size_t>(lseek(fd_, 0, SEEK_END)), '\0');
    if (pread(fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
      fail("pread", path_);
    return bytes;
  }

 private:
  int fd_;
  std::string path_;
};

// Splits the input at NUL bytes into at most `parts` pieces (the last keeps any further NULs),
// so one input can carry several files or a file and an argument. Missing pieces are empty.
inline std::vector<std::string_view> split_input(const uint8_t* data, size_t size, size_t parts) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> out;
  while (out.size() + 1 < parts) {
    const size_t nul = rest.find('\0');
    if (nul == std::string_view::npos) break;
    out.push_back(rest.substr(0, nul));
    rest.remove_prefix(nul + 1);
  }
  out.push_back(rest);
  out.resize(parts);
  return out;
}

}  // namespace gatedlm::fuzz
