// The Backend interface: every piece of math a layer needs, on device pointers. The CPU backend
// (OpenBLAS + OpenMP) is the reference; the CUDA backend implements the same ops and is checked
// against it op by op. The ops are listed once, in compute_ops.def and instrumentation_ops.def,
// which both backends declare their overrides from. Conventions:
//  - Matrices are row-major. "ld" arguments are row strides in elements, so ops can read
//    column slices of a fused projection output without copies.
//  - Outputs named d* for parameters ACCUMULATE (gradient accumulation across micro-batches);
//    activation gradients overwrite unless the op says "accumulate".
//  - Ops are coarse enough to fuse (norm + rope, gate apply, softmax + cross-entropy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gatedlm/core/tensor.h"

namespace gatedlm {

enum class GateActivationKind { sigmoid, silu, ns_sigmoid, identity };

// How one gate acts on a tensor Y of `rows` tokens x `heads` x `head_dim` (a dense gate is
// heads = 1, head_dim = hidden). Logits have `width` = heads*head_dim (elementwise) or heads
// (headwise) columns; logits_ld == 0 broadcasts one row to every token (static gates).
struct GateSpec {
  int64_t heads = 1;
  int64_t head_dim = 1;
  bool elementwise = true;
  bool head_shared = false;
  bool shared_average_logits = false;  // head_shared: average logits (true) or scores (false)
  bool additive = false;               // Y + act(L) instead of Y * act(L)
  GateActivationKind activation = GateActivationKind::sigmoid;
  // Head-shared gates whose heads tensor parallelism splits over shards: per token and logit
  // column, [rows, unit] contiguous, the sums over all shards' heads (shared_heads of them) of
  // the averaged terms and (backward) of d loss / d score. nullptr: the row's own heads.
  const float* shared_sums = nullptr;
  const float* shared_dscores = nullptr;
  int64_t shared_heads = 0;
  int64_t width() const { return elementwise ? heads * head_dim : heads; }
};

// Shapes of one causal attention call. q is [B, T, H, D] with row stride ld_q per token;
// k and v are [B, T, K, D] with row strides ld_k and ld_v (so they can be column slices of a
// fused projection); the output is contiguous [B, T, H, D].
struct AttentionDims {
  int64_t batch = 1, seq_len = 1, heads = 1, kv_heads = 1, head_dim = 1;
  int64_t ld_q = 0, ld_k = 0, ld_v = 0;
  float scale = 1.0f;
};

// Typed device pointers for ops whose operands may be of several dtypes: the element type
// travels with the address, so one op serves fp32 and bf16 (no second set of ops).
struct ConstView {
  const void* data = nullptr;
  DType dtype = DType::f32;
  ConstView() = default;
  ConstView(const void* p, DType t) : data(p), dtype(t) {}
  template <typename T>
  ConstView(const T* p) : data(p), dtype(dtype_of<T>()) {}  // NOLINT: implicit on purpose
};
struct View {
  void* data = nullptr;
  DType dtype = DType::f32;
  View() = default;
  View(void* p, DType t) : data(p), dtype(t) {}
  template <typename T>
  View(T* p) : data(p), dtype(dtype_of<T>()) {}  // NOLINT: implicit on purpose
  operator ConstView() const { return {data, dtype}; }
};
// A row-major matrix operand: a typed pointer and its row stride in elements.
struct ConstMatrix {
  ConstView view;
  int64_t ld = 0;
  template <typename T>
  ConstMatrix(const T* p, int64_t row_stride) : view(p), ld(row_stride) {}
  ConstMatrix(ConstView v, int64_t row_stride) : view(v), ld(row_stride) {}
};
struct Matrix {
  View view;
  int64_t ld = 0;
  template <typename T>
  Matrix(T* p, int64_t row_stride) : view(p), ld(row_stride) {}
  Matrix(View v, int64_t row_stride) : view(v), ld(row_stride) {}
};

// The instrumentation ops (instrumentation_ops.def), apart from the compute ops.
class BackendProbes {
 public:
  virtual ~BackendProbes() = default;
#define GATEDLM_BACKEND_OP(ret, name, params) virtual ret name params = 0;
#include "gatedlm/backend/instrumentation_ops.def"
#undef GATEDLM_BACKEND_OP
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;
  // The chip ops run on ("NVIDIA H100 80GB HBM3", the CPU's model name): what a fixed FLOP peak
  // is looked up by (train/hardware_peak.h). "" when unknown.
  virtual std::string hardware() const { return ""; }
  virtual BackendProbes& probes() = 0;

#define GATEDLM_BACKEND_OP(ret, name, params) virtual ret name params = 0;
#include "gatedlm/backend/compute_ops.def"
#undef GATEDLM_BACKEND_OP

  // Waits for every enqueued op (a no-op where ops run synchronously).
  virtual void synchronize() {}

  // ---- conveniences over the ops above ----
  Tensor empty(const Shape& shape) { return empty(shape, DType::f32); }
  Tensor zeros(const Shape& shape);
  template <typename T>
  void copy(T* dst, const T* src, int64_t n) {
    copy_bytes(dst, src, static_cast<size_t>(n) * sizeof(T));
  }
  template <typename T>
  void from_host(T* dst, const T* host_src, int64_t n) {
    from_host_bytes(dst, host_src, static_cast<size_t>(n) * sizeof(T));
  }
  template <typename T>
  void to_host(T* host_dst, const T* src, int64_t n) {
    to_host_bytes(host_dst, src, static_cast<size_t>(n) * sizeof(T));
  }
  void add_inplace(float* y, const float* x, int64_t n) { add(y, y, x, n); }  // y += x

  // attention_decode as attention_forward over kv_len copies of the query row, keeping the last:
  // correct on any backend but O(kv_len^2), for backends without a decode kernel.
  void attention_decode_by_forward(float* out, const float* q, const float* k, const float* v,
                                   int64_t kv_len, const AttentionDims& dims);
};

// The CPU backend (always available).
std::unique_ptr<Backend> make_cpu_backend();

}  // namespace gatedlm
