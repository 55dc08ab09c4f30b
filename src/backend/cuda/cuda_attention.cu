// Causal GQA attention on CUDA, fp32, tiled (32 queries x 32 keys per tile, as FlashAttention):
// the forward keeps a running max and sum per query row and saves the log-sum-exp; the backward
// recomputes each probability tile from it. dK/dV and dQ come from two kernels, each block owning
// the rows it writes (dK/dV: a key tile of one KV head, looping over that head's query heads),
// so there are no atomics and results are deterministic. Head dims up to kMaxHeadDim.
#include <cmath>

#include "cuda_common.cuh"

namespace gatedlm::cuda {
namespace {

constexpr int kTile = 32;  // queries and keys per tile; the softmax step maps keys to lanes
constexpr int kAttnThreads = 256;
constexpr int kMaxHeadDim = 256;
// Accumulator elements per thread: a [kTile, head_dim] tile spread over the block.
constexpr int kAccPerThread = kTile * kMaxHeadDim / kAttnThreads;
constexpr int kScorePitch = kTile + 1;

__device__ int tile_pitch(int head_dim) { return head_dim + 1; }  // odd: conflict-free dots

// Rows [t0, t0 + kTile) of a [T, head_dim] head with row stride ld; rows >= T are zero.
__device__ void load_tile(float* tile, const float* src, int64_t ld, int64_t t0, int64_t T,
                          int head_dim) {
  const int pitch = tile_pitch(head_dim);
  for (int e = threadIdx.x; e < kTile * head_dim; e += blockDim.x) {
    const int i = e / head_dim, d = e % head_dim;
    tile[i * pitch + d] = t0 + i < T ? src[(t0 + i) * ld + d] : 0.0f;
  }
}

// out[i][j] = scale * a_i . b_j over the two [kTile, head_dim] tiles.
__device__ void tile_dots(float* out, const float* a, const float* b, int head_dim, float scale) {
  const int pitch = tile_pitch(head_dim);
  for (int e = threadIdx.x; e < kTile * kTile; e += blockDim.x) {
    const int i = e / kTile, j = e % kTile;
    float acc = 0.0f;
    for (int d = 0; d < head_dim; ++d) acc += a[i * pitch + d] * b[j * pitch + d];
    out[i * kScorePitch + j] = scale * acc;
  }
}

__device__ bool causal_valid(int64_t query, int64_t key, int64_t T) {
  return key <= query && query < T;
}

// The probability tile P (into p) and dS = P * (dP - rowsum(dO * O)) (into ds) of query tile q0
// and key tile k0, from the saved log-sum-exp.
__device__ void probs_and_dscores(float* p, float* ds, const float* q_s, const float* k_s,
                                  const float* v_s, const float* do_s, const float* lse_s,
                                  const float* row_dot_s, int head_dim, float scale, int64_t q0,
                                  int64_t k0, int64_t T) {
  tile_dots(p, q_s, k_s, head_dim, scale);
  tile_dots(ds, do_s, v_s, head_dim, 1.0f);
  __syncthreads();
  for (int e = threadIdx.x; e < kTile * kTile; e += blockDim.x) {
    const int i = e / kTile, j = e % kTile, at = i * kScorePitch + j;
    const float prob = causal_valid(q0 + i, k0 + j, T) ? expf(p[at] - lse_s[i]) : 0.0f;
    p[at] = prob;
    ds[at] = prob * (ds[at] - row_dot_s[i]);
  }
  __syncthreads();
}

__global__ void attention_forward_kernel(float* out, float* lse, const float* q, const float* k,
                                         const float* v, AttentionDims d) {
  extern __shared__ float smem[];
  const int D = static_cast<int>(d.head_dim), pitch = tile_pitch(D);
  const int64_t T = d.seq_len, b = blockIdx.z, h = blockIdx.y, g = h / (d.heads / d.kv_heads);
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kTile;
  float* q_s = smem;
  float* k_s = q_s + kTile * pitch;
  float* v_s = k_s + kTile * pitch;
  float* s_s = v_s + kTile * pitch;
  float* m_s = s_s + kTile * kScorePitch;
  float* l_s = m_s + kTile;
  float* alpha_s = l_s + kTile;
  const float* q_head = q + b * T * d.ld_q + h * D;
  const float* k_head = k + b * T * d.ld_k + g * D;
  const float* v_head = v + b * T * d.ld_v + g * D;

  load_tile(q_s, q_head, d.ld_q, q0, T, D);
  if (threadIdx.x < kTile) {
    m_s[threadIdx.x] = -INFINITY;
    l_s[threadIdx.x] = 0.0f;
  }
  float acc[kAccPerThread];
#pragma unroll
  for (int u = 0; u < kAccPerThread; ++u) acc[u] = 0.0f;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;

  for (int64_t k0 = 0; k0 <= q0; k0 += kTile) {
    __syncthreads();
    load_tile(k_s, k_head, d.ld_k, k0, T, D);
    load_tile(v_s, v_head, d.ld_v, k0, T, D);
    __syncthreads();
    tile_dots(s_s, q_s, k_s, D, d.scale);
    __syncthreads();
    // Online softmax: one warp per query row, one lane per key.
    for (int i = warp; i < kTile; i += warps) {
      const bool valid = causal_valid(q0 + i, k0 + lane, T);
      const float s = valid ? s_s[i * kScorePitch + lane] : -INFINITY;
      const float m_old = m_s[i];
      const float m_new = fmaxf(m_old, warp_reduce(s, MaxOp{}));
      const float p = valid ? expf(s - m_new) : 0.0f;
      const float p_sum = warp_reduce(p, SumOp{});
      s_s[i * kScorePitch + lane] = p;
      if (lane == 0) {
        const float alpha = m_new == -INFINITY ? 1.0f : expf(m_old - m_new);
        alpha_s[i] = alpha;
        l_s[i] = l_s[i] * alpha + p_sum;
        m_s[i] = m_new;
      }
    }
    __syncthreads();
#pragma unroll
    for (int u = 0; u < kAccPerThread; ++u) {
      const int e = threadIdx.x + u * kAttnThreads;
      if (e >= kTile * D) break;
      const int i = e / D, c = e % D;
      float a = acc[u] * alpha_s[i];
      for (int j = 0; j < kTile; ++j) a += s_s[i * kScorePitch + j] * v_s[j * pitch + c];
      acc[u] = a;
    }
  }
  const int64_t ld_out = d.heads * D;
#pragma unroll
  for (int u = 0; u < kAccPerThread; ++u) {
    const int e = threadIdx.x + u * kAttnThreads;
    if (e >= kTile * D) break;
    const int i = e / D, c = e % D;
    if (q0 + i < T) out[(b * T + q0 + i) * ld_out + h * D + c] = acc[u] / l_s[i];
  }
  if (threadIdx.x < kTile && q0 + threadIdx.x < T)
    lse[(b * d.heads + h) * T + q0 + threadIdx.x] = m_s[threadIdx.x] + logf(l_s[threadIdx.x]);
}

// Loads the per-query-row tiles the backward needs: Q, dO, lse and rowsum(dO * O).
__device__ void load_query_side(float* q_s, float* do_s, float* lse_s, float* row_dot_s,
                                const float* q, const float* dout, const float* lse,
                                const float* row_dot, const AttentionDims& d, int64_t b, int64_t h,
                                int64_t q0) {
  const int D = static_cast<int>(d.head_dim);
  const int64_t T = d.seq_len;
  load_tile(q_s, q + b * T * d.ld_q + h * D, d.ld_q, q0, T, D);
  load_tile(do_s, dout + b * T * d.heads * D + h * D, d.heads * D, q0, T, D);
  if (threadIdx.x < kTile) {
    const int64_t t = q0 + threadIdx.x;
    lse_s[threadIdx.x] = t < T ? lse[(b * d.heads + h) * T + t] : 0.0f;
    row_dot_s[threadIdx.x] = t < T ? row_dot[(b * d.heads + h) * T + t] : 0.0f;
  }
}

// Shared-memory carve-up of the two backward kernels (same for both).
struct BackwardTiles {
  float *q_s, *k_s, *v_s, *do_s, *p_s, *ds_s, *lse_s, *row_dot_s;
  __device__ BackwardTiles(float* smem, int head_dim) {
    const int pitch = tile_pitch(head_dim);
    q_s = smem;
    k_s = q_s + kTile * pitch;
    v_s = k_s + kTile * pitch;
    do_s = v_s + kTile * pitch;
    p_s = do_s + kTile * pitch;
    ds_s = p_s + kTile * kScorePitch;
    lse_s = ds_s + kTile * kScorePitch;
    row_dot_s = lse_s + kTile;
  }
};

// One block per (key tile, KV head, batch): dK and dV of those keys over every query head of
// the group and every query tile at or after the key tile.
__global__ void attention_dkdv_kernel(float* dk, float* dv, const float* dout, const float* q,
                                      const float* k, const float* v, const float* lse,
                                      const float* row_dot, AttentionDims d) {
  extern __shared__ float smem[];
  const int D = static_cast<int>(d.head_dim), pitch = tile_pitch(D);
  const int64_t T = d.seq_len, b = blockIdx.z, g = blockIdx.y, group = d.heads / d.kv_heads;
  const int64_t k0 = static_cast<int64_t>(blockIdx.x) * kTile;
  BackwardTiles t(smem, D);
  load_tile(t.k_s, k + b * T * d.ld_k + g * D, d.ld_k, k0, T, D);
  load_tile(t.v_s, v + b * T * d.ld_v + g * D, d.ld_v, k0, T, D);
  float acc_dk[kAccPerThread], acc_dv[kAccPerThread];
#pragma unroll
  for (int u = 0; u < kAccPerThread; ++u) acc_dk[u] = acc_dv[u] = 0.0f;
  for (int64_t h = g * group; h < (g + 1) * group; ++h) {
    for (int64_t q0 = k0; q0 < T; q0 += kTile) {
      __syncthreads();
      load_query_side(t.q_s, t.do_s, t.lse_s, t.row_dot_s, q, dout, lse, row_dot, d, b, h, q0);
      __syncthreads();
      probs_and_dscores(t.p_s, t.ds_s, t.q_s, t.k_s, t.v_s, t.do_s, t.lse_s, t.row_dot_s, D,
                        d.scale, q0, k0, T);
      // dV += P^T dO ; dK += scale * dS^T Q
#pragma unroll
      for (int u = 0; u < kAccPerThread; ++u) {
        const int e = threadIdx.x + u * kAttnThreads;
        if (e >= kTile * D) break;
        const int j = e / D, c = e % D;
        float sum_v = 0.0f, sum_k = 0.0f;
        for (int i = 0; i < kTile; ++i) {
          sum_v += t.p_s[i * kScorePitch + j] * t.do_s[i * pitch + c];
          sum_k += t.ds_s[i * kScorePitch + j] * t.q_s[i * pitch + c];
        }
        acc_dv[u] += sum_v;
        acc_dk[u] += d.scale * sum_k;
      }
    }
  }
#pragma unroll
  for (int u = 0; u < kAccPerThread; ++u) {
    const int e = threadIdx.x + u * kAttnThreads;
    if (e >= kTile * D) break;
    const int j = e / D, c = e % D;
    if (k0 + j >= T) continue;
    dk[(b * T + k0 + j) * d.ld_k + g * D + c] = acc_dk[u];
    dv[(b * T + k0 + j) * d.ld_v + g * D + c] = acc_dv[u];
  }
}

// One block per (query tile, head, batch): dQ = scale * dS K over the key tiles up to the diagonal.
__global__ void attention_dq_kernel(float* dq, const float* dout, const float* q, const float* k,
                                    const float* v, const float* lse, const float* row_dot,
                                    AttentionDims d) {
  extern __shared__ float smem[];
  const int D = static_cast<int>(d.head_dim), pitch = tile_pitch(D);
  const int64_t T = d.seq_len, b = blockIdx.z, h = blockIdx.y, g = h / (d.heads / d.kv_heads);
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kTile;
  BackwardTiles t(smem, D);
  load_query_side(t.q_s, t.do_s, t.lse_s, t.row_dot_s, q, dout, lse, row_dot, d, b, h, q0);
  float acc[kAccPerThread];
#pragma unroll
  for (int u = 0; u < kAccPerThread; ++u) acc[u] = 0.0f;
  for (int64_t k0 = 0; k0 <= q0; k0 += kTile) {
    __syncthreads();
    load_tile(t.k_s, k + b * T * d.ld_k + g * D, d.ld_k, k0, T, D);
    load_tile(t.v_s, v + b * T * d.ld_v + g * D, d.ld_v, k0, T, D);
    __syncthreads();
    probs_and_dscores(t.p_s, t.ds_s, t.q_s, t.k_s, t.v_s, t.do_s, t.lse_s, t.row_dot_s, D, d.scale,
                      q0, k0, T);
#pragma unroll
    for (int u = 0; u < kAccPerThread; ++u) {
      const int e = threadIdx.x + u * kAttnThreads;
      if (e >= kTile * D) break;
      const int i = e / D, c = e % D;
      float sum = 0.0f;
      for (int j = 0; j < kTile; ++j) sum += t.ds_s[i * kScorePitch + j] * t.k_s[j * pitch + c];
      acc[u] += sum;
    }
  }
#pragma unroll
  for (int u = 0; u < kAccPerThread; ++u) {
    const int e = threadIdx.x + u * kAttnThreads;
    if (e >= kTile * D) break;
    const int i = e / D, c = e % D;
    if (q0 + i < T) dq[(b * T + q0 + i) * d.ld_q + h * D + c] = d.scale * acc[u];
  }
}

// first_token[b, h] = mean over t >= 1 of exp(scale * q_t . k_0 - lse_t).
__global__ void first_token_prob_kernel(float* first_token, const float* q, const float* k,
                                        const float* lse, AttentionDims d) {
  const int64_t b = blockIdx.x / d.heads, h = blockIdx.x % d.heads, T = d.seq_len, D = d.head_dim,
                group = d.heads / d.kv_heads;
  const float* k0 = k + b * T * d.ld_k + (h / group) * D;
  const float* lse_bh = lse + (b * d.heads + h) * T;
  double total = 0.0;
  for (int64_t t = 1 + threadIdx.x; t < T; t += blockDim.x) {
    const float* q_t = q + (b * T + t) * d.ld_q + h * D;
    double s = 0.0;
    for (int64_t i = 0; i < D; ++i) s += double(q_t[i]) * k0[i];
    total += exp(d.scale * s - lse_bh[t]);
  }
  total = block_reduce(total, SumOp{}, 0.0);
  if (threadIdx.x == 0)
    first_token[blockIdx.x] = T > 1 ? static_cast<float>(total / (T - 1)) : 1.0f;
}

void check_dims(const AttentionDims& d) {
  if (d.head_dim > kMaxHeadDim || d.head_dim < 1)
    throw RuntimeFailure("CUDA attention supports head_dim 1.." + std::to_string(kMaxHeadDim) +
                         ", got " + std::to_string(d.head_dim));
}

dim3 tile_grid(const AttentionDims& d, int64_t heads) {
  return dim3(static_cast<unsigned>((d.seq_len + kTile - 1) / kTile), static_cast<unsigned>(heads),
              static_cast<unsigned>(d.batch));
}

// Dynamic shared memory of a kernel; opts in above the default 48 KiB.
template <typename Kernel>
size_t prepare_smem(Kernel kernel, size_t floats) {
  const size_t bytes = floats * sizeof(float);
  if (bytes > 48 * 1024)
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(bytes)),
          "attention shared memory");
  return bytes;
}

size_t backward_smem_floats(int64_t head_dim) {
  return 4 * kTile * (head_dim + 1) + 2 * kTile * kScorePitch + 2 * kTile;
}

}  // namespace

void CudaBackend::attention_forward(float* out, float* lse, const float* q, const float* k,
                                    const float* v, const AttentionDims& d) {
  check_dims(d);
  if (d.batch * d.seq_len == 0) return;
  const size_t smem = prepare_smem(attention_forward_kernel,
                                   3 * kTile * (d.head_dim + 1) + kTile * kScorePitch + 3 * kTile);
  attention_forward_kernel<<<tile_grid(d, d.heads), kAttnThreads, smem, stream()>>>(out, lse, q, k,
                                                                                    v, d);
  check_launch("attention_forward_kernel");
}

void CudaBackend::attention_backward(float* dq, float* dk, float* dv, const float* dout,
                                     const float* q, const float* k, const float* v,
                                     const float* out, const float* lse, const AttentionDims& d) {
  check_dims(d);
  if (d.batch * d.seq_len == 0) return;
  const int64_t D = d.head_dim, T = d.seq_len, H = d.heads, ld_out = H * D;
  // rowsum(dO * O) per (batch, head, query), in double as on the CPU.
  auto* row_dot = static_cast<float*>(scratch(d.batch * H * T * sizeof(float)));
  for_each(*this, d.batch * H * T, [=] __device__(int64_t idx) {
    const int64_t t = idx % T, h = idx / T % H, b = idx / (T * H);
    const float* o_t = out + (b * T + t) * ld_out + h * D;
    const float* go_t = dout + (b * T + t) * ld_out + h * D;
    double dot = 0.0;
    for (int64_t i = 0; i < D; ++i) dot += double(o_t[i]) * go_t[i];
    row_dot[idx] = static_cast<float>(dot);
  });
  const size_t smem_dkdv = prepare_smem(attention_dkdv_kernel, backward_smem_floats(D));
  attention_dkdv_kernel<<<tile_grid(d, d.kv_heads), kAttnThreads, smem_dkdv, stream()>>>(
      dk, dv, dout, q, k, v, lse, row_dot, d);
  check_launch("attention_dkdv_kernel");
  const size_t smem_dq = prepare_smem(attention_dq_kernel, backward_smem_floats(D));
  attention_dq_kernel<<<tile_grid(d, d.heads), kAttnThreads, smem_dq, stream()>>>(dq, dout, q, k, v,
                                                                                  lse, row_dot, d);
  check_launch("attention_dq_kernel");
}

void CudaBackend::attention_first_token_prob(float* first_token, const float* q, const float* k,
                                             const float* lse, const AttentionDims& d) {
  if (d.batch * d.heads == 0) return;
  first_token_prob_kernel<<<static_cast<unsigned>(d.batch * d.heads), kThreads, 0, stream()>>>(
      first_token, q, k, lse, d);
  check_launch("first_token_prob_kernel");
}

}  // namespace gatedlm::cuda
