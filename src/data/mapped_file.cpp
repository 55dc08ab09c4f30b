#include "gatedlm/data/mapped_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gatedlm/core/error.h"

namespace gatedlm {

MappedFile::MappedFile(const std::string& path, const std::string& what) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw InputError(
        fmt::format("{}: expected a readable {} ({})", path, what, std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || S_ISDIR(info.st_mode)) {
    const bool directory = S_ISDIR(info.st_mode);
    ::close(fd);
    throw InputError(directory ? fmt::format("{}: expected a {}, found a directory", path, what)
                               : fmt::format("{}: expected a readable {}", path, what));
  }
  size_ = static_cast<int64_t>(info.st_size);
  if (size_ > 0) {
    void* mapped = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      throw RuntimeFailure(
          fmt::format("{}: cannot map into memory ({})", path, std::strerror(error)));
    }
    data_ = static_cast<const unsigned char*>(mapped);
  }
  ::close(fd);  // the mapping keeps the file open
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<unsigned char*>(data_), static_cast<size_t>(size_));
}

}  // namespace gatedlm
