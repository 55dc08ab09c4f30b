// Tensor: a shape and a view into a device buffer owned by a Backend. Layers hand raw pointers
// from tensors to backend ops; the tensor itself does no math and knows no device details.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

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
  Tensor(std::shared_ptr<Buffer> buffer, Shape shape, size_t offset_elems = 0);

  float* data() const;
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_numel(shape_); }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  Device device() const;
  bool defined() const { return buffer_ != nullptr; }

  // A view of `shape` starting `offset_elems` elements into this tensor (no copy).
  Tensor view(Shape shape, int64_t offset_elems = 0) const;

 private:
  std::shared_ptr<Buffer> buffer_;
  Shape shape_;
  size_t offset_ = 0;
};

}  // namespace gatedlm
