// The safetensors format, natively: an 8-byte little-endian header length N, N bytes of JSON
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}), then the
// raw little-endian tensor bytes, offsets relative to the end of the header. Tensors are held
// as float32 in memory; on disk they are F32 or BF16 (written round-to-nearest-even). F16 is
// also read, since published checkpoints use it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gatedlm/core/tensor.h"

namespace gatedlm {

enum class SafetensorsDtype { f32, bf16, f16 };
const char* safetensors_dtype_name(SafetensorsDtype dtype);  // "F32", "BF16", "F16"

struct NamedTensor {
  std::string name;
  Shape shape;
  std::vector<float> data;  // row-major, numel(shape) values
};

// float16 bits -> float32 (bf16 conversions: core/dtype.h).
float f16_to_float(uint16_t bits);

// Writes `tensors` in the given order (F32 or BF16; F16 is not written). RuntimeFailure on I/O
// errors; InputError for duplicate names or data that does not fit its shape.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       SafetensorsDtype dtype,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

struct SafetensorsFile {
  std::vector<NamedTensor> tensors;                // in file offset order
  std::map<std::string, SafetensorsDtype> dtypes;  // as stored
  std::map<std::string, std::string> metadata;     // "__metadata__"
};

// Reads and validates a whole file: header bounds, JSON, dtypes, shapes against byte ranges,
// ranges inside the data and not overlapping. Any problem is an InputError naming the file
// (and the tensor).
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace gatedlm
