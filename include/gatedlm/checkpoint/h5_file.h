// A small RAII layer over the HDF5 C API: float32/int32 datasets by path (intermediate groups
// created on write), string attributes, listing. Errors name the file and the dataset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gatedlm/core/tensor.h"

namespace gatedlm {

class H5File {
 public:
  enum class Mode { read, truncate };
  H5File(const std::string& path, Mode mode);
  ~H5File();
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;

  void write_floats(const std::string& name, const Shape& shape, const float* data);
  void write_ints(const std::string& name, const Shape& shape, const int32_t* data);
  void write_doubles(const std::string& name, const Shape& shape, const double* data);
  // Reads a whole dataset; its shape is returned through `shape` when non-null.
  std::vector<float> read_floats(const std::string& name, Shape* shape = nullptr) const;
  std::vector<int32_t> read_ints(const std::string& name, Shape* shape = nullptr) const;
  Shape shape_of(const std::string& name) const;
  bool has(const std::string& name) const;
  // Dataset names under a group (non-recursive), sorted.
  std::vector<std::string> list(const std::string& group) const;

  // String attributes on an object ("/" = the file's root group).
  void set_attribute(const std::string& object, const std::string& key, const std::string& value);
  std::string attribute(const std::string& object, const std::string& key) const;
  bool has_attribute(const std::string& object, const std::string& key) const;

  const std::string& path() const { return path_; }
  void flush();

 private:
  std::string path_;
  int64_t file_ = -1;
};

}  // namespace gatedlm
