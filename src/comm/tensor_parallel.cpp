#include "gatedlm/comm/tensor_parallel.h"

namespace gatedlm {

ModelConfig local_model_config(const ModelConfig& full, int64_t tensor) {
  ModelConfig local = full;
  local.num_attention_heads /= tensor;
  local.num_key_value_heads /= tensor;
  local.intermediate_size /= tensor;
  return local;
}

}  // namespace gatedlm
