#include "gatedlm/core/tensor_block.h"

namespace gatedlm {

TensorBlock whole_block(const Shape& shape) { return {Shape(shape.size(), 0), shape}; }

bool block_contains(const TensorBlock& outer, const TensorBlock& inner) {
  for (size_t d = 0; d < outer.start.size(); ++d)
    if (inner.start[d] < outer.start[d] ||
        inner.start[d] + inner.count[d] > outer.start[d] + outer.count[d])
      return false;
  return true;
}

bool blocks_overlap(const TensorBlock& a, const TensorBlock& b) {
  for (size_t d = 0; d < a.start.size(); ++d)
    if (a.start[d] >= b.start[d] + b.count[d] || b.start[d] >= a.start[d] + a.count[d])
      return false;
  return true;
}

bool block_contains_point(const TensorBlock& block, const Shape& point) {
  for (size_t d = 0; d < block.start.size(); ++d)
    if (point[d] < block.start[d] || point[d] >= block.start[d] + block.count[d]) return false;
  return true;
}

TensorBlock relative_block(const TensorBlock& outer, const TensorBlock& inner) {
  TensorBlock out = inner;
  for (size_t d = 0; d < out.start.size(); ++d) out.start[d] -= outer.start[d];
  return out;
}

}  // namespace gatedlm
