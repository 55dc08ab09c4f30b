// Per-dataset checksums: XXH3-64 over a dataset's stored bytes (C order, little-endian), kept as
// a 16-hex-digit string attribute `xxh3_64` on the dataset. In Python:
//   xxhash.xxh3_64(ds[()].tobytes()).hexdigest() == ds.attrs["xxh3_64"].decode()
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "gatedlm/checkpoint/h5_file.h"

namespace gatedlm {

inline constexpr const char* kChecksumAttribute = "xxh3_64";

uint64_t xxh3_64(const void* data, size_t bytes);
std::string checksum_hex(const void* data, size_t bytes);

// Tags `name` (already written from `data`) with its checksum.
void write_checksum(H5File& file, const std::string& name, const void* data, size_t bytes);

// Why `name` fails its checksum given its stored bytes, or "" when it passes.
std::string checksum_problem(const H5File& file, const std::string& name, const void* data,
                             size_t bytes);

}  // namespace gatedlm
