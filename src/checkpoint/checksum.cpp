#include "gatedlm/checkpoint/checksum.h"

#include <fmt/format.h>
#include <xxhash.h>

namespace gatedlm {

uint64_t xxh3_64(const void* data, size_t bytes) { return XXH3_64bits(data, bytes); }

std::string checksum_hex(const void* data, size_t bytes) {
  return fmt::format("{:016x}", xxh3_64(data, bytes));
}

void write_checksum(H5File& file, const std::string& name, const void* data, size_t bytes) {
  file.set_attribute(name, kChecksumAttribute, checksum_hex(data, bytes));
}

std::string checksum_problem(const H5File& file, const std::string& name, const void* data,
                             size_t bytes) {
  if (!file.has_attribute(name, kChecksumAttribute))
    return std::string("no ") + kChecksumAttribute + " checksum attribute";
  const std::string stored = file.attribute(name, kChecksumAttribute);
  const std::string actual = checksum_hex(data, bytes);
  if (stored != actual)
    return fmt::format("checksum mismatch (stored {}, data hashes to {})", stored, actual);
  return "";
}

}  // namespace gatedlm
