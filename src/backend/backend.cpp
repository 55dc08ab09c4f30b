// Backend ops with a generic implementation in terms of other ops.
#include "gatedlm/backend/backend.h"

namespace gatedlm {

void Backend::attention_decode_by_forward(float* out, const float* q, const float* k,
                                          const float* v, int64_t kv_len,
                                          const AttentionDims& dims) {
  const int64_t width = dims.heads * dims.head_dim;
  AttentionDims one = dims;
  one.batch = 1;
  one.seq_len = kv_len;
  one.ld_q = width;
  Tensor queries = empty({kv_len, width});
  Tensor rows = empty({kv_len, width});
  Tensor lse = empty({dims.heads * kv_len});
  for (int64_t b = 0; b < dims.batch; ++b) {
    // Every query row is the new token's query (a zero row stride is not valid for BLAS).
    for (int64_t t = 0; t < kv_len; ++t) copy(queries.data() + t * width, q + b * dims.ld_q, width);
    attention_forward(rows.data(), lse.data(), queries.data(), k + b * kv_len * dims.ld_k,
                      v + b * kv_len * dims.ld_v, one);
    copy(out + b * width, rows.data() + (kv_len - 1) * width, width);  // the causal last row
  }
}

}  // namespace gatedlm
