#include "gatedlm/comm/partition.h"

namespace gatedlm {

Partition even_partition(int64_t n, int parts) {
  Partition p;
  int64_t at = 0;
  for (int r = 0; r < parts; ++r) {
    const int64_t count = n / parts + (r < n % parts ? 1 : 0);
    p.counts.push_back(count);
    p.offsets.push_back(at);
    at += count;
  }
  return p;
}

}  // namespace gatedlm
