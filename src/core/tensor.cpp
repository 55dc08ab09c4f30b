#include "gatedlm/core/tensor.h"

#include <stdexcept>

namespace gatedlm {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Tensor::Tensor(std::shared_ptr<Buffer> buffer, Shape shape, size_t offset_elems)
    : buffer_(std::move(buffer)), shape_(std::move(shape)), offset_(offset_elems) {
  if (buffer_ && (offset_ + numel()) * sizeof(float) > buffer_->bytes()) {
    throw std::logic_error("tensor view " + shape_str(shape_) + " exceeds its buffer");
  }
}

float* Tensor::data() const {
  return buffer_ ? static_cast<float*>(buffer_->data()) + offset_ : nullptr;
}

Device Tensor::device() const { return buffer_ ? buffer_->device() : Device::cpu; }

Tensor Tensor::view(Shape shape, int64_t offset_elems) const {
  return Tensor(buffer_, std::move(shape), offset_ + offset_elems);
}

}  // namespace gatedlm
