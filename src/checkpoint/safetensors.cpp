#include "gatedlm/checkpoint/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors is little-endian; this writer copies host bytes");

// The reference implementation refuses headers above 100 MB; so do we, before allocating.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

size_t dtype_size(SafetensorsDtype d) { return d == SafetensorsDtype::f32 ? 4 : 2; }

bool parse_dtype(const std::string& s, SafetensorsDtype& out) {
  if (s == "F32")
    out = SafetensorsDtype::f32;
  else if (s == "BF16")
    out = SafetensorsDtype::bf16;
  else if (s == "F16")
    out = SafetensorsDtype::f16;
  else
    return false;
  return true;
}

int64_t numel_checked(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

const char* safetensors_dtype_name(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::f32:
      return "F32";
    case SafetensorsDtype::bf16:
      return "BF16";
    case SafetensorsDtype::f16:
      return "F16";
  }
  return "?";
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       SafetensorsDtype dtype, const std::map<std::string, std::string>& metadata) {
  if (dtype == SafetensorsDtype::f16)
    throw InputError(path + ": writing F16 is not supported (use F32 or BF16)");
  const size_t esize = dtype_size(dtype);
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    if (t.name == "__metadata__" || header.contains(t.name))
      throw InputError(path + ": tensor name '" + t.name + "' is reserved or duplicated");
    const int64_t n = numel_checked(t.shape);
    if (n != static_cast<int64_t>(t.data.size()))
      throw InputError(path + ": tensor '" + t.name + "' has " + std::to_string(t.data.size()) +
                       " values for " + std::to_string(n) + " elements");
    const uint64_t bytes = static_cast<uint64_t>(n) * esize;
    header[t.name] = {{"dtype", safetensors_dtype_name(dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw RuntimeFailure(path + ": cannot create: " + std::strerror(errno));
  const uint64_t n = text.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<uint16_t> half;
  for (const NamedTensor& t : tensors) {
    if (dtype == SafetensorsDtype::f32) {
      out.write(reinterpret_cast<const char*>(t.data.data()),
                static_cast<std::streamsize>(t.data.size() * 4));
    } else {
      half.resize(t.data.size());
      std::transform(t.data.begin(), t.data.end(), half.begin(),
                     [](float v) { return float_to_bf16(v).bits; });
      out.write(reinterpret_cast<const char*>(half.data()),
                static_cast<std::streamsize>(half.size() * 2));
    }
  }
  out.close();
  if (!out) throw RuntimeFailure(path + ": write failed: " + std::strerror(errno));
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw InputError(path + ": cannot open: " + std::strerror(errno));
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto bad = [&](const std::string& what) { return InputError(path + ": " + what); };
  if (file_size < 8)
    throw bad("too short for a safetensors header (" + std::to_string(file_size) + " bytes)");
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  if (header_len > kMaxHeaderBytes || header_len > file_size - 8)
    throw bad("offset 0: header length " + std::to_string(header_len) + " exceeds the file (" +
              std::to_string(file_size) + " bytes) or the 100 MB limit");
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    throw bad("offset 8: header is not valid JSON: " + std::string(e.what()));
  }
  if (!header.is_object()) throw bad("offset 8: header is not a JSON object");
  const uint64_t data_size = file_size - 8 - header_len;

  SafetensorsFile result;
  struct Entry {
    uint64_t begin, end;
    NamedTensor tensor;
    SafetensorsDtype dtype;
  };
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw bad("__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) throw bad("__metadata__['" + k + "'] is not a string");
        result.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
        !value.contains("data_offsets"))
      throw bad(where + "expected {dtype, shape, data_offsets}");
    Entry e;
    if (!value["dtype"].is_string() || !parse_dtype(value["dtype"].get<std::string>(), e.dtype))
      throw bad(where + "dtype " + value["dtype"].dump() + " is not supported (F32, BF16, F16)");
    const auto& shape = value["shape"];
    const auto& offs = value["data_offsets"];
    if (!shape.is_array()) throw bad(where + "shape is not an array");
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw bad(where + "shape holds " + d.dump());
      e.tensor.shape.push_back(d.get<int64_t>());
    }
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
        !offs[1].is_number_unsigned())
      throw bad(where + "data_offsets is not [begin, end]");
    e.begin = offs[0].get<uint64_t>();
    e.end = offs[1].get<uint64_t>();
    const uint64_t want =
        static_cast<uint64_t>(numel_checked(e.tensor.shape)) * dtype_size(e.dtype);
    if (e.end < e.begin || e.end > data_size)
      throw bad(where + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                "] outside the " + std::to_string(data_size) + " data bytes (truncated file?)");
    if (e.end - e.begin != want)
      throw bad(where + "holds " + std::to_string(e.end - e.begin) +
                " bytes, shape and dtype need " + std::to_string(want));
    e.tensor.name = name;
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < entries.size(); ++i)
    if (entries[i].begin < entries[i - 1].end)
      throw bad("tensors '" + entries[i - 1].tensor.name + "' and '" + entries[i].tensor.name +
                "' overlap");

  std::vector<char> raw;
  for (Entry& e : entries) {
    raw.resize(e.end - e.begin);
    in.seekg(static_cast<std::streamoff>(8 + header_len + e.begin));
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (!in) throw bad("tensor '" + e.tensor.name + "': read failed (truncated file?)");
    const size_t n = raw.size() / dtype_size(e.dtype);
    e.tensor.data.resize(n);
    if (e.dtype == SafetensorsDtype::f32) {
      std::memcpy(e.tensor.data.data(), raw.data(), raw.size());
    } else {
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        e.tensor.data[i] =
            e.dtype == SafetensorsDtype::bf16 ? bf16_to_float(bf16_t{h}) : f16_to_float(h);
      }
    }
    result.dtypes[e.tensor.name] = e.dtype;
    result.tensors.push_back(std::move(e.tensor));
  }
  return result;
}

}  // namespace gatedlm
