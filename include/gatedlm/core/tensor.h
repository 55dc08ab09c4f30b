// Tensor: a shape, an element type and a view into a device buffer owned by a Backend. Layers
// hand typed pointers from tensors to backend ops; the tensor itself does no math and knows no
// device details.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gatedlm/core/dtype.h"

namespace gatedlm {

enum class Device { cpu, cuda };

// A block of device memory; freed by the backend that allocated it.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual size_t bytes() const = 0;
  virtual Device device() const = 0;
};

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  // std::logic_error when the view does not fit in the buffer.
  Tensor(std::shared_ptr<Buffer> buffer, Shape shape, DType dtype = DType::f32,
         size_t offset_elems = 0);

  // The elements as T; std::logic_error when T is not the tensor's dtype.
  template <typename T>
  T* data_as() const {
    if (dtype_of<T>() != dtype_) throw_dtype_mismatch(dtype_of<T>());
    return static_cast<T*>(raw());
  }
  float* data() const { return data_as<float>(); }  // fp32 tensors, the common case
  void* raw() const;                                // untyped (copies, collectives)
  DType dtype() const { return dtype_; }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_numel(shape_); }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  Device device() const;
  bool defined() const { return buffer_ != nullptr; }

  // A view of `shape` starting `offset_elems` elements into this tensor (same dtype, no copy).
  Tensor view(Shape shape, int64_t offset_elems = 0) const;

 private:
  [[noreturn]] void throw_dtype_mismatch(DType asked) const;

  std::shared_ptr<Buffer> buffer_;
  Shape shape_;
  DType dtype_ = DType::f32;
  size_t offset_ = 0;
};

}  // namespace gatedlm
