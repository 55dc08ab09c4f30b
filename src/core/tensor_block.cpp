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

std::vector<TensorBlock> flat_range_blocks(const Shape& shape, int64_t begin, int64_t end) {
  std::vector<TensorBlock> blocks;
  if (begin >= end) return blocks;
  if (shape.empty()) return {whole_block(shape)};  // a scalar: its one element
  const Shape inner_shape(shape.begin() + 1, shape.end());
  const int64_t inner = shape_numel(inner_shape);
  // Rows `first` .. `first + rows` of the leading dimension, whole.
  const auto rows_block = [&](int64_t first, int64_t rows) {
    TensorBlock b = whole_block(shape);
    b.start[0] = first;
    b.count[0] = rows;
    return b;
  };
  // Part [from, to) of one row, as blocks of the inner shape lifted to row `row`.
  const auto row_part = [&](int64_t row, int64_t from, int64_t to) {
    for (TensorBlock b : flat_range_blocks(inner_shape, from, to)) {
      b.start.insert(b.start.begin(), row);
      b.count.insert(b.count.begin(), 1);
      blocks.push_back(std::move(b));
    }
  };
  const int64_t first_row = begin / inner, last_row = (end - 1) / inner;
  if (first_row == last_row && (begin % inner != 0 || end % inner != 0)) {
    row_part(first_row, begin - first_row * inner, end - first_row * inner);
    return blocks;
  }
  int64_t full_from = first_row;
  if (begin % inner != 0) {
    row_part(first_row, begin % inner, inner);
    ++full_from;
  }
  const int64_t full_to = end / inner;  // rows before it are whole
  if (full_to > full_from) blocks.push_back(rows_block(full_from, full_to - full_from));
  if (end % inner != 0) row_part(full_to, 0, end % inner);
  return blocks;
}

std::vector<TensorBlock> flat_range_blocks(const TensorBlock& block, int64_t begin, int64_t end) {
  std::vector<TensorBlock> blocks = flat_range_blocks(block.count, begin, end);
  for (TensorBlock& b : blocks)
    for (size_t d = 0; d < b.start.size(); ++d) b.start[d] += block.start[d];
  return blocks;
}

}  // namespace gatedlm
