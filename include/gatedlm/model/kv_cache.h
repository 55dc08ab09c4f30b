// Keys and values of the tokens decoded so far, per layer, so each new token costs one forward
// over one position (Transformer::decode_step). Batch 1. Keys are stored after QK-norm, RoPE
// and any key gate, values after any value gate: exactly what attention reads.
#pragma once

#include <cstdint>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/config/config.h"
#include "gatedlm/core/tensor.h"

namespace gatedlm {

// What one attention layer sees of the cache: positions [0, position) are filled, and the
// token being decoded goes to row `position`. Rows are kv_heads * head_dim floats.
struct KvCacheSlot {
  float* keys = nullptr;
  float* values = nullptr;
  int64_t position = 0;
};

class KvCache {
 public:
  KvCache(Backend& backend, const ModelConfig& config, int64_t capacity);

  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  KvCacheSlot slot(int64_t layer);
  // Marks the token of the last decode step as cached.
  void advance() { ++length_; }
  void clear() { length_ = 0; }

 private:
  std::vector<Tensor> keys_, values_;  // per layer [capacity, kv_heads * head_dim]
  int64_t capacity_ = 0;
  int64_t length_ = 0;
};

}  // namespace gatedlm
