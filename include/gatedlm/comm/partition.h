// Splits n elements into `parts` consecutive blocks whose sizes differ by at most one (the
// first n % parts blocks get the extra element): ZeRO-1's optimizer-state shards.
#pragma once

#include <cstdint>
#include <vector>

namespace gatedlm {

struct Partition {
  std::vector<int64_t> counts, offsets;  // block r is [offsets[r], offsets[r] + counts[r])
  int64_t begin(int r) const { return offsets[r]; }
  int64_t end(int r) const { return offsets[r] + counts[r]; }
};

Partition even_partition(int64_t n, int parts);

}  // namespace gatedlm
