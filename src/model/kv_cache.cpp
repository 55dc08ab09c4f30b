#include "gatedlm/model/kv_cache.h"

#include <stdexcept>

namespace gatedlm {

KvCache::KvCache(Backend& backend, const ModelConfig& config, int64_t capacity)
    : capacity_(capacity) {
  if (capacity < 1) throw std::invalid_argument("KvCache: expected a capacity >= 1");
  const int64_t width = config.num_key_value_heads * config.head_dim;
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    keys_.push_back(backend.empty({capacity, width}));
    values_.push_back(backend.empty({capacity, width}));
  }
}

KvCacheSlot KvCache::slot(int64_t layer) {
  if (length_ >= capacity_) throw std::out_of_range("KvCache: the cache is full");
  return {keys_[layer].data(), values_[layer].data(), length_};
}

}  // namespace gatedlm
