#include "gatedlm/core/tensor.h"

namespace gatedlm {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "float32";
    case DType::bf16:
      return "bfloat16";
    case DType::i32:
      return "int32";
  }
  return "?";
}

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

Tensor::Tensor(std::shared_ptr<Buffer> buffer, Shape shape, DType dtype, size_t offset_elems)
    : buffer_(std::move(buffer)), shape_(std::move(shape)), dtype_(dtype), offset_(offset_elems) {
  if (buffer_ && (offset_ + numel()) * dtype_size(dtype_) > buffer_->bytes()) {
    throw std::logic_error("tensor view " + shape_str(shape_) + " exceeds its buffer");
  }
}

void* Tensor::raw() const {
  return buffer_ ? static_cast<char*>(buffer_->data()) + offset_ * dtype_size(dtype_) : nullptr;
}

void Tensor::throw_dtype_mismatch(DType asked) const {
  throw std::logic_error("tensor " + shape_str(shape_) + " holds " +
                         std::string(dtype_name(dtype_)) + ", read as " +
                         std::string(dtype_name(asked)));
}

Device Tensor::device() const { return buffer_ ? buffer_->device() : Device::cpu; }

Tensor Tensor::view(Shape shape, int64_t offset_elems) const {
  return Tensor(buffer_, std::move(shape), dtype_, offset_ + offset_elems);
}

}  // namespace gatedlm
