// A whole file mapped read-only into memory (POSIX mmap), so token data of any size is paged in
// on demand instead of read up front.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gatedlm {

class MappedFile {
 public:
  // InputError when the path is missing, unreadable or a directory (`what` names the kind of
  // file expected, e.g. "shard file"); RuntimeFailure when mapping fails.
  MappedFile(const std::string& path, const std::string& what);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const unsigned char* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  std::string path_;
  const unsigned char* data_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace gatedlm
