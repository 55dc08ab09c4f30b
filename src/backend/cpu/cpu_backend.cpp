// CPU backend: memory, GEMM, elementwise ops, embedding, norms, loss and the optimizer.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu_backend_impl.h"
#include "gatedlm/backend/kernel_math.h"

namespace gatedlm {
namespace {

int g_threads = 1;

class HostBuffer final : public Buffer {
 public:
  // `live` counts the bytes of its backend's buffers (it outlives the backend if need be).
  HostBuffer(size_t bytes, std::shared_ptr<std::atomic<size_t>> live)
      : bytes_(bytes), live_(std::move(live)) {
    const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    data_ = std::aligned_alloc(64, rounded);
    if (!data_) throw std::bad_alloc();
    *live_ += bytes_;
  }
  ~HostBuffer() override {
    std::free(data_);
    *live_ -= bytes_;
  }
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }
  Device device() const override { return Device::cpu; }

 private:
  void* data_;
  size_t bytes_;
  std::shared_ptr<std::atomic<size_t>> live_;
};

}  // namespace

void set_cpu_threads(int threads) {
  g_threads = std::max(1, threads);
  omp_set_num_threads(g_threads);
  // One thread team: OpenMP's. OpenBLAS (Debian's pthread build) would otherwise keep a pool of
  // its own whose idle threads spin against OpenMP's on the same cores; CpuBackend::gemm splits
  // large products over the OpenMP threads instead.
  openblas_set_num_threads(1);
}

int cpu_threads() { return g_threads; }

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<cpu::CpuBackend>(); }

Tensor Backend::zeros(const Shape& shape) {
  Tensor t = empty(shape, DType::f32);
  fill(t.data(), t.numel(), 0.0f);
  return t;
}

namespace cpu {

Tensor CpuBackend::empty(const Shape& shape, DType dtype) {
  return Tensor(std::make_shared<HostBuffer>(shape_numel(shape) * dtype_size(dtype), live_bytes_),
                shape, dtype);
}

size_t CpuBackend::allocated_bytes() { return *live_bytes_; }

void CpuBackend::fill(float* x, int64_t n, float value) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

void CpuBackend::copy_bytes(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}
void CpuBackend::from_host_bytes(void* dst, const void* host_src, size_t bytes) {
  std::memcpy(dst, host_src, bytes);
}
void CpuBackend::to_host_bytes(void* host_dst, const void* src, size_t bytes) {
  std::memcpy(host_dst, src, bytes);
}

namespace {

template <typename Out, typename In, typename Convert>
void convert_each(void* dst, const void* src, int64_t n, Convert convert) {
  auto* out = static_cast<Out*>(dst);
  const auto* in = static_cast<const In*>(src);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = convert(in[i]);
}

}  // namespace

void CpuBackend::convert(View dst, ConstView src, int64_t n) {
  if (dst.dtype == src.dtype) return copy_bytes(dst.data, src.data, n * dtype_size(dst.dtype));
  if (dst.dtype == DType::bf16 && src.dtype == DType::f32)
    return convert_each<bf16_t, float>(dst.data, src.data, n, float_to_bf16);
  if (dst.dtype == DType::f32 && src.dtype == DType::bf16)
    return convert_each<float, bf16_t>(dst.data, src.data, n, bf16_to_float);
  throw std::logic_error(std::string("convert: no conversion from ") +
                         std::string(dtype_name(src.dtype)) + " to " +
                         std::string(dtype_name(dst.dtype)));
}

namespace {

// An operand of `rows` x `cols` (row stride ld) as fp32: itself when it is fp32, else widened
// into `scratch` with the same row stride.
const float* as_f32(CpuBackend& be, ConstView v, int64_t rows, int64_t cols, int64_t ld,
                    std::vector<float>& scratch) {
  if (v.dtype == DType::f32) return static_cast<const float*>(v.data);
  if (v.dtype != DType::bf16) throw std::logic_error("gemm: operands are f32 or bf16");
  scratch.resize(static_cast<size_t>(rows > 0 ? (rows - 1) * ld + cols : 0));
  const auto* in = static_cast<const bf16_t*>(v.data);
  for (int64_t r = 0; r < rows; ++r) be.convert(scratch.data() + r * ld, in + r * ld, cols);
  return scratch.data();
}

}  // namespace

// bf16 operands are widened to fp32 and multiplied by the fp32 GEMM (exact products of the
// rounded values, fp32 accumulation); a bf16 C is read widened and written rounded.
void CpuBackend::gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      ConstMatrix a, ConstMatrix b, float beta, Matrix c) {
  if (a.view.dtype == DType::f32 && b.view.dtype == DType::f32 && c.view.dtype == DType::f32)
    return gemm_f32(trans_a, trans_b, m, n, k, alpha, static_cast<const float*>(a.view.data), a.ld,
                    static_cast<const float*>(b.view.data), b.ld, beta,
                    static_cast<float*>(c.view.data), c.ld);
  std::vector<float> wide_a, wide_b, wide_c;
  const float* fa = as_f32(*this, a.view, trans_a ? k : m, trans_a ? m : k, a.ld, wide_a);
  const float* fb = as_f32(*this, b.view, trans_b ? n : k, trans_b ? k : n, b.ld, wide_b);
  if (c.view.dtype == DType::f32)
    return gemm_f32(trans_a, trans_b, m, n, k, alpha, fa, a.ld, fb, b.ld, beta,
                    static_cast<float*>(c.view.data), c.ld);
  if (c.view.dtype != DType::bf16) throw std::logic_error("gemm: C is f32 or bf16");
  float* fc = const_cast<float*>(as_f32(*this, c.view, m, n, c.ld, wide_c));
  gemm_f32(trans_a, trans_b, m, n, k, alpha, fa, a.ld, fb, b.ld, beta, fc, c.ld);
  auto* out = static_cast<bf16_t*>(c.view.data);
  for (int64_t r = 0; r < m; ++r) convert(out + r * c.ld, fc + r * c.ld, n);
}

void CpuBackend::gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                          float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  const auto sgemm = [&](int64_t rows, int64_t cols, const float* a_band, const float* b_band,
                         float* c_band) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(rows),
                static_cast<blasint>(cols), static_cast<blasint>(k), alpha, a_band,
                static_cast<blasint>(lda), b_band, static_cast<blasint>(ldb), beta, c_band,
                static_cast<blasint>(ldc));
  };
  // Small products, and calls from inside a parallel region (attention's per-head GEMMs), run on
  // this thread. Otherwise each OpenMP thread multiplies a band of C: rows when C is tall, columns
  // when it is wide. Each element's k-sum is OpenBLAS's either way, so the split changes no bits.
  constexpr double kSplitFlops = 1 << 22;
  const int threads = omp_in_parallel() ? 1 : g_threads;
  if (threads == 1 || 2.0 * m * n * k < kSplitFlops) return sgemm(m, n, a, b, c);
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  // Whole 16-wide blocks per band: below 32 rows (or columns) one band takes it all.
  const int bands = static_cast<int>(std::min<int64_t>(threads, extent / 16));
  if (bands <= 1) return sgemm(m, n, a, b, c);
#pragma omp parallel for num_threads(bands) schedule(static, 1)
  for (int band = 0; band < bands; ++band) {
    // Band edges on multiples of 16 (OpenBLAS's register blocking), the rest to the last band.
    const int64_t begin = extent * band / bands / 16 * 16;
    const int64_t end = band + 1 == bands ? extent : extent * (band + 1) / bands / 16 * 16;
    if (end <= begin) continue;
    if (by_rows)
      sgemm(end - begin, n, a + (trans_a ? begin : begin * lda), b, c + begin * ldc);
    else
      sgemm(m, end - begin, a, b + (trans_b ? begin * ldb : begin), c + begin);
  }
}

void CpuBackend::add(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void CpuBackend::scale_inplace(float* x, int64_t n, float s) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

double CpuBackend::sum_squares(const float* x, int64_t n) {
  const int64_t chunks = std::min<int64_t>(kReductionChunks, std::max<int64_t>(n, 1));
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    double acc = 0.0;
    for (int64_t i = n * c / chunks; i < n * (c + 1) / chunks; ++i) acc += double(x[i]) * x[i];
    partial[c] = acc;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

float CpuBackend::max_abs(const float* x, int64_t n) {
  float result = 0.0f;
#pragma omp parallel for reduction(max : result) schedule(static)
  for (int64_t i = 0; i < n; ++i) result = std::max(result, std::fabs(x[i]));
  return result;
}

void CpuBackend::sum_rows_accumulate(float* out, const float* x, int64_t rows, int64_t cols,
                                     int64_t ld) {
  chunked_row_reduce(out, rows, cols, [&](int64_t begin, int64_t end, double* acc) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < cols; ++c) acc[c] += x[r * ld + c];
  });
}

void CpuBackend::embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n,
                                   int64_t dim) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    if (ids[r] >= 0)
      std::memcpy(out + r * dim, table + ids[r] * dim, dim * 4);
    else
      std::fill(out + r * dim, out + (r + 1) * dim, 0.0f);
  }
}

void CpuBackend::embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n,
                                    int64_t dim) {
  // Parallel over columns: each thread owns a column slice and walks the rows in order, so
  // repeated ids accumulate deterministically without atomics.
  const int64_t slices = std::min<int64_t>(dim, 16 * std::max(1, g_threads));
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < slices; ++s) {
    const int64_t c0 = dim * s / slices, c1 = dim * (s + 1) / slices;
    for (int64_t r = 0; r < n; ++r) {
      if (ids[r] < 0) continue;
      float* dst = dtable + ids[r] * dim;
      const float* src = dout + r * dim;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

void CpuBackend::rmsnorm_forward(float* out, float* rstd, const float* x, const float* w,
                                 int64_t rows, int64_t dim, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    double ss = 0.0;
    for (int64_t i = 0; i < dim; ++i) ss += double(xr[i]) * xr[i];
    const float s = static_cast<float>(1.0 / std::sqrt(ss / dim + eps));
    rstd[r] = s;
    for (int64_t i = 0; i < dim; ++i) yr[i] = w[i] * (xr[i] * s);
  }
}

void CpuBackend::rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x,
                                  const float* w, const float* rstd, int64_t rows, int64_t dim,
                                  bool accumulate_dx) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    const float* gr = dout + r * dim;
    float* dxr = dx + r * dim;
    const float s = rstd[r];
    // dx = s * (w*g - xhat * mean(w*g*xhat)), xhat = x*s
    double dot = 0.0;
    for (int64_t i = 0; i < dim; ++i) dot += double(w[i] * gr[i]) * (xr[i] * s);
    const float mean_dot = static_cast<float>(dot / dim);
    for (int64_t i = 0; i < dim; ++i) {
      const float v = s * (w[i] * gr[i] - xr[i] * s * mean_dot);
      dxr[i] = accumulate_dx ? dxr[i] + v : v;
    }
  }
  chunked_row_reduce(dw, rows, dim, [&](int64_t begin, int64_t end, double* acc) {
    for (int64_t r = begin; r < end; ++r) {
      const float s = rstd[r];
      for (int64_t i = 0; i < dim; ++i) acc[i] += double(dout[r * dim + i]) * (x[r * dim + i] * s);
    }
  });
}

void CpuBackend::swiglu_forward(float* out, const float* gate_up, int64_t rows, int64_t inter) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate_up + r * 2 * inter;
    const float* u = g + inter;
    float* o = out + r * inter;
    for (int64_t i = 0; i < inter; ++i) o[i] = swiglu(g[i], u[i]);
  }
}

void CpuBackend::swiglu_backward(float* dgate_up, const float* dout, const float* gate_up,
                                 int64_t rows, int64_t inter) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate_up + r * 2 * inter;
    const float* u = g + inter;
    const float* d = dout + r * inter;
    float* dg = dgate_up + r * 2 * inter;
    float* du = dg + inter;
    for (int64_t i = 0; i < inter; ++i) swiglu_grad(g[i], u[i], d[i], dg + i, du + i);
  }
}

void CpuBackend::silu_forward(float* out, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * sigmoid(x[i]);
}

void CpuBackend::silu_backward(float* dx, const float* dout, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = dout[i] * activate_grad(GateActivationKind::silu, x[i]);
}

namespace {

// The softmax cross-entropy gradient in place: z = scale * (exp(z - log_sum) - onehot(target)),
// no onehot for target -1 (another vocabulary slice's).
void softmax_gradient_row(float* z, int64_t vocab, double log_sum, int32_t target, float scale) {
  const float shift = static_cast<float>(log_sum);
  for (int64_t i = 0; i < vocab; ++i) z[i] = scale * exp_f32(z[i] - shift);
  if (target >= 0) z[target] -= scale;
}

// A max is exact in any order, so the loop may vectorise.
float row_max_of(const float* z, int64_t vocab) {
  float max_z = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : max_z)
  for (int64_t i = 0; i < vocab; ++i) max_z = std::max(max_z, z[i]);
  return max_z;
}

// Sum of exp(z - max_z) in double, in index order. The exponentials are taken a chunk at a time
// so that loop vectorises; the in-order double sum cannot.
double sum_exp(const float* z, int64_t vocab, float max_z) {
  constexpr int64_t kChunk = 256;
  float chunk[kChunk];
  double sum = 0.0;
  for (int64_t begin = 0; begin < vocab; begin += kChunk) {
    const int64_t n = std::min(kChunk, vocab - begin);
    for (int64_t i = 0; i < n; ++i) chunk[i] = exp_f32(z[begin + i] - max_z);
    for (int64_t i = 0; i < n; ++i) sum += chunk[i];
  }
  return sum;
}

}  // namespace

void CpuBackend::cross_entropy(float* losses, float* logits, const int32_t* targets, int64_t rows,
                               int64_t vocab, float dlogits_scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* z = logits + r * vocab;
    const float max_z = row_max_of(z, vocab);
    const double log_sum = std::log(sum_exp(z, vocab, max_z)) + max_z;
    const int32_t t = targets[r];
    losses[r] = static_cast<float>(log_sum - z[t]);
    if (dlogits_scale != 0.0f) softmax_gradient_row(z, vocab, log_sum, t, dlogits_scale);
  }
}

void CpuBackend::cross_entropy_row_max(float* row_max, const float* logits, int64_t rows,
                                       int64_t vocab) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) row_max[r] = row_max_of(logits + r * vocab, vocab);
}

void CpuBackend::cross_entropy_slice_sums(float* sums, const float* logits, const int32_t* targets,
                                          const float* row_max, int64_t rows, int64_t vocab) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * vocab;
    sums[2 * r] = static_cast<float>(sum_exp(z, vocab, row_max[r]));
    sums[2 * r + 1] = targets[r] >= 0 ? z[targets[r]] : 0.0f;
  }
}

void CpuBackend::cross_entropy_from_sums(float* losses, float* logits, const int32_t* targets,
                                         const float* row_max, const float* sums, int64_t rows,
                                         int64_t vocab, float dlogits_scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const double log_sum = std::log(static_cast<double>(sums[2 * r])) + row_max[r];
    losses[r] = static_cast<float>(log_sum - sums[2 * r + 1]);
    if (dlogits_scale != 0.0f)
      softmax_gradient_row(logits + r * vocab, vocab, log_sum, targets[r], dlogits_scale);
  }
}

void CpuBackend::adamw_update(float* param, const float* grad, float* m, float* v, int64_t n,
                              float lr, float beta1, float beta2, float eps, float weight_decay,
                              int64_t step) {
  const AdamWStep s = adamw_step(lr, beta1, beta2, eps, weight_decay, step);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) adamw_element(param + i, grad[i], m + i, v + i, s);
}

}  // namespace cpu
}  // namespace gatedlm
