// A hyperslab of a row-major tensor: `count` elements along each dimension from `start`. The
// one place where blocks become runs of contiguous elements, for tensor-parallel shards
// (model/shard_layout.h) and for checkpoint slices (checkpoint/virtual_layout.h).
#pragma once

#include <cstdint>
#include <vector>

#include "gatedlm/core/tensor.h"

namespace gatedlm {

struct TensorBlock {
  Shape start, count;
  bool operator==(const TensorBlock& other) const {
    return start == other.start && count == other.count;
  }
};

TensorBlock whole_block(const Shape& shape);
// `inner` lies inside `outer` (same rank).
bool block_contains(const TensorBlock& outer, const TensorBlock& inner);
// The two blocks share an element (same rank).
bool blocks_overlap(const TensorBlock& a, const TensorBlock& b);
// The element at index `point` lies inside `block` (same rank).
bool block_contains_point(const TensorBlock& block, const Shape& point);
// `inner` (in the coordinates `outer` uses) relative to `outer`'s start.
TensorBlock relative_block(const TensorBlock& outer, const TensorBlock& inner);

// Blocks (at most 2*rank - 1) that cover exactly elements [begin, end) of a row-major tensor
// of `shape`, in element order: a flat range (a ZeRO-1 shard's part of a tensor) as hyperslabs.
std::vector<TensorBlock> flat_range_blocks(const Shape& shape, int64_t begin, int64_t end);
// The same for elements [begin, end) of `block` (row-major within it), as blocks of the tensor
// that holds it: a ZeRO-1 block's part of a tensor-parallel shard.
std::vector<TensorBlock> flat_range_blocks(const TensorBlock& block, int64_t begin, int64_t end);

// Calls run(tensor_offset, block_offset, length) for each contiguous run of `block` inside a
// row-major tensor of `shape`: offsets are elements from the tensor's start and from the start
// of the block packed row-major on its own.
template <typename Run>
void for_each_block_run(const Shape& shape, const TensorBlock& block, Run run) {
  const size_t rank = shape.size();
  if (rank == 0) {
    run(int64_t{0}, int64_t{0}, int64_t{1});
    return;
  }
  if (shape_numel(block.count) == 0) return;
  Shape stride(rank, 1), index(rank - 1, 0);
  for (size_t d = rank - 1; d > 0; --d) stride[d - 1] = stride[d] * shape[d];
  const int64_t length = block.count[rank - 1];
  for (int64_t packed = 0;; packed += length) {
    int64_t at = block.start[rank - 1];
    for (size_t d = 0; d + 1 < rank; ++d) at += (block.start[d] + index[d]) * stride[d];
    run(at, packed, length);
    size_t d = rank - 1;  // odometer over the leading dimensions
    while (d > 0 && ++index[d - 1] == block.count[d - 1]) index[--d] = 0;
    if (d == 0) return;
  }
}

}  // namespace gatedlm
