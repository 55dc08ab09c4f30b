// CUDA backend parity: every Backend op on random inputs against the CPU reference (strided
// operands, shapes off the 32-wide tiles, every gate spec), then a whole small model (forward
// with analysis, backward, AdamW steps) for dense, gated and MoE configs. Without a CUDA build or
// device the parity tests skip; the device-selection tests run everywhere.
//
// Tolerances were fixed from the arithmetic before any GPU run, as norm-wise relative errors
// ||gpu - cpu|| / ||cpu||: exact where both sides do the same float additions in the same order;
// kElementwise where only exp/sqrt rounding and fused multiply-adds differ; kReduction where the
// summation order differs (cuBLAS vs OpenBLAS, tiled attention vs row blocks); kModel where those
// differences compound through two layers.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "../grad/fd_check.h"
#include "../grad/gate_cases.h"
#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/backend/cuda/cuda_probe.h"
#include "gatedlm/backend/select.h"
#include "gatedlm/core/error.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/optim/adamw.h"

namespace gatedlm::test {
namespace {

constexpr double kElementwise = 1e-6;
constexpr double kReduction = 1e-5;
constexpr double kModel = 1e-4;

double relative_error(const std::vector<float>& ref, const std::vector<float>& got) {
  double err = 0.0, norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    err += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
    norm += double(ref[i]) * ref[i];
  }
  return std::sqrt(err) / std::max(std::sqrt(norm), 1e-30);
}

TEST(DeviceSelection, UnknownDeviceIsInputError) {
  EXPECT_THROW(make_backend("tpu"), InputError);
  EXPECT_EQ(make_backend("cpu")->device(), Device::cpu);
}

TEST(DeviceSelection, CudaWithoutDeviceIsInputError) {
  const CudaStatus status = probe_cuda();
  if (status.compiled && status.devices > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    make_backend("cuda");
    ADD_FAILURE() << "make_backend(cuda) succeeded without a usable device";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda"), std::string::npos) << e.what();
  }
}

class CudaParity : public ::testing::Test {
 protected:
  void SetUp() override {
    set_cpu_threads(2);
    try {
      gpu_ = make_backend("cuda");
    } catch (const InputError& e) {
      GTEST_SKIP() << "CUDA parity needs a CUDA build and device: " << e.what();
    }
  }

  std::vector<float> random(int64_t n, double std = 1.0) {
    std::vector<float> v(static_cast<size_t>(n));
    fill_normal(v, rng_, std);
    return v;
  }
  std::vector<int32_t> random_ids(int64_t n, int64_t bound) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int32_t& x : v) x = static_cast<int32_t>(rng_.uniform_int(bound));
    return v;
  }
  // A device copy of a host vector, alive as long as the fixture.
  float* up(const std::vector<float>& host) {
    Tensor t = gpu_->empty({static_cast<int64_t>(host.size())});
    gpu_->from_host(t.data(), host.data(), static_cast<int64_t>(host.size()));
    device_tensors_.push_back(t);
    return t.data();
  }
  int32_t* up(const std::vector<int32_t>& host) {
    Tensor t = gpu_->empty({static_cast<int64_t>(host.size())}, DType::i32);
    auto* ids = t.data_as<int32_t>();
    gpu_->from_host(ids, host.data(), static_cast<int64_t>(host.size()));
    device_tensors_.push_back(t);
    return ids;
  }
  std::vector<float> down(const float* device, size_t n) {
    std::vector<float> host(n);
    gpu_->to_host(host.data(), device, static_cast<int64_t>(n));
    return host;
  }
  void expect_close(const std::string& what, const std::vector<float>& ref, const float* device,
                    double tol) {
    const double err = relative_error(ref, down(device, ref.size()));
    EXPECT_LE(err, tol) << what << ": relative error " << err;
  }
  void expect_equal(const std::string& what, const std::vector<float>& ref, const float* device) {
    const std::vector<float> got = down(device, ref.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < ref.size(); ++i) mismatches += got[i] != ref[i];
    EXPECT_EQ(mismatches, 0u) << what << ": " << mismatches << " of " << ref.size()
                              << " elements differ";
  }

  std::unique_ptr<Backend> cpu_ = make_cpu_backend();
  std::unique_ptr<Backend> gpu_;
  Rng rng_{20261128};
  std::vector<Tensor> device_tensors_;
};

TEST_F(CudaParity, MemoryRoundTripAndCopy) {
  const auto x = random(1000);
  float* d = up(x);
  expect_equal("from_host/to_host", x, d);
  float* e = up(std::vector<float>(1000, 0.0f));
  gpu_->copy(e, d, 1000);
  expect_equal("copy", x, e);
  gpu_->fill(e, 999, 2.5f);
  std::vector<float> filled(1000, 2.5f);
  filled[999] = x[999];
  expect_equal("fill", filled, e);
  Tensor z = gpu_->zeros({7, 3});
  expect_equal("zeros", std::vector<float>(21, 0.0f), z.data());
  EXPECT_EQ(z.device(), Device::cuda);
}

TEST_F(CudaParity, GemmEveryTransposeWithStrides) {
  for (int64_t size : {1, 4}) {  // small odd shapes, then ones that use cuBLAS's big kernels
    const int64_t m = 37 * size, n = 53 * size, k = 29 * size;
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
        const auto a = random((ta ? k : m) * lda), b = random((tb ? n : k) * ldb);
        auto c = random(m * ldc);
        float *da = up(a), *db = up(b), *dc = up(c);
        cpu_->gemm(ta, tb, m, n, k, 1.5f, {a.data(), lda}, {b.data(), ldb}, 0.5f, {c.data(), ldc});
        gpu_->gemm(ta, tb, m, n, k, 1.5f, {da, lda}, {db, ldb}, 0.5f, {dc, ldc});
        expect_close("gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                         " size=" + std::to_string(size),
                     c, dc, kReduction);
      }
    }
  }
}

// bf16 operands (the typed GEMM): the CPU widens them and multiplies in fp32, cuBLAS multiplies
// them natively with fp32 accumulation; both round a bf16 C once at the end.
TEST_F(CudaParity, GemmBf16OperandsAndConversion) {
  const int64_t m = 64, n = 96, k = 80;
  const auto a = random(m * k), b = random(n * k);
  Tensor ha = cpu_->empty({m * k}, DType::bf16), hb = cpu_->empty({n * k}, DType::bf16);
  cpu_->convert(ha.data_as<bf16_t>(), a.data(), m * k);
  cpu_->convert(hb.data_as<bf16_t>(), b.data(), n * k);
  Tensor da = gpu_->empty({m * k}, DType::bf16), db = gpu_->empty({n * k}, DType::bf16);
  gpu_->convert(da.data_as<bf16_t>(), up(a), m * k);
  gpu_->convert(db.data_as<bf16_t>(), up(b), n * k);
  std::vector<bf16_t> host_a(static_cast<size_t>(m * k));
  gpu_->to_host(host_a.data(), da.data_as<bf16_t>(), m * k);
  for (int64_t i = 0; i < m * k; ++i)
    ASSERT_EQ(host_a[i].bits, ha.data_as<bf16_t>()[i].bits) << "convert f32 -> bf16 at " << i;
  std::vector<float> c(static_cast<size_t>(m * n));
  float* dc = up(c);
  cpu_->gemm(false, true, m, n, k, 1.0f, {ha.data_as<bf16_t>(), k}, {hb.data_as<bf16_t>(), k}, 0.0f,
             {c.data(), n});
  gpu_->gemm(false, true, m, n, k, 1.0f, {da.data_as<bf16_t>(), k}, {db.data_as<bf16_t>(), k}, 0.0f,
             {dc, n});
  expect_close("gemm bf16 x bf16 -> f32", c, dc, kReduction);
}

TEST_F(CudaParity, ElementwiseOps) {
  const int64_t n = 10007;
  auto x = random(n), y = random(n), out = random(n);
  float *dx = up(x), *dy = up(y), *dout = up(out);
  cpu_->add_inplace(y.data(), x.data(), n);
  gpu_->add_inplace(dy, dx, n);
  expect_equal("add_inplace", y, dy);
  cpu_->add(out.data(), x.data(), y.data(), n);
  gpu_->add(dout, dx, dy, n);
  expect_equal("add", out, dout);
  cpu_->scale_inplace(y.data(), n, 0.37f);
  gpu_->scale_inplace(dy, n, 0.37f);
  expect_equal("scale_inplace", y, dy);
  cpu_->silu_forward(out.data(), x.data(), n);
  gpu_->silu_forward(dout, dx, n);
  expect_close("silu_forward", out, dout, kElementwise);
  cpu_->silu_backward(out.data(), y.data(), x.data(), n);
  gpu_->silu_backward(dout, dy, dx, n);
  expect_close("silu_backward", out, dout, kElementwise);

  const int64_t rows = 13, inter = 385;
  const auto gate_up = random(rows * 2 * inter, 2.0), g_out = random(rows * inter);
  std::vector<float> act(rows * inter), dgu(rows * 2 * inter);
  float *dgate_up = up(gate_up), *dg_out = up(g_out), *dact = up(act), *ddgu = up(dgu);
  cpu_->swiglu_forward(act.data(), gate_up.data(), rows, inter);
  gpu_->swiglu_forward(dact, dgate_up, rows, inter);
  expect_close("swiglu_forward", act, dact, kElementwise);
  cpu_->swiglu_backward(dgu.data(), g_out.data(), gate_up.data(), rows, inter);
  gpu_->swiglu_backward(ddgu, dg_out, dgate_up, rows, inter);
  expect_close("swiglu_backward", dgu, ddgu, kElementwise);
}

TEST_F(CudaParity, Reductions) {
  const int64_t n = 123457;
  const auto x = random(n, 3.0);
  float* dx = up(x);
  const double ss_cpu = cpu_->sum_squares(x.data(), n), ss_gpu = gpu_->sum_squares(dx, n);
  EXPECT_NEAR(ss_gpu, ss_cpu, 1e-12 * ss_cpu);
  EXPECT_EQ(gpu_->sum_squares(dx, n), ss_gpu) << "sum_squares must be deterministic";
  EXPECT_EQ(gpu_->probes().max_abs(dx, n), cpu_->probes().max_abs(x.data(), n));

  const int64_t rows = 1001, cols = 70, ld = 75;
  const auto m = random(rows * ld);
  auto out = random(cols);
  float *dm = up(m), *dout = up(out);
  cpu_->sum_rows_accumulate(out.data(), m.data(), rows, cols, ld);
  gpu_->sum_rows_accumulate(dout, dm, rows, cols, ld);
  expect_equal("sum_rows_accumulate (same chunks, same order)", out, dout);
}

TEST_F(CudaParity, Embedding) {
  const int64_t n = 300, dim = 48, vocab = 17;  // many repeated ids
  const auto ids = random_ids(n, vocab);
  const auto table = random(vocab * dim), g_out = random(n * dim);
  auto dtable = random(vocab * dim);
  std::vector<float> out(n * dim);
  int32_t* dids = up(ids);
  float *dtab = up(table), *dg = up(g_out), *ddtab = up(dtable), *dout = up(out);
  cpu_->embedding_forward(out.data(), ids.data(), table.data(), n, dim);
  gpu_->embedding_forward(dout, dids, dtab, n, dim);
  expect_equal("embedding_forward", out, dout);
  cpu_->embedding_backward(dtable.data(), g_out.data(), ids.data(), n, dim);
  gpu_->embedding_backward(ddtab, dg, dids, n, dim);
  expect_equal("embedding_backward (tokens in order)", dtable, ddtab);
}

TEST_F(CudaParity, RmsNorm) {
  for (int64_t dim : {37, 384, 1100}) {
    const int64_t rows = 9;
    const auto x = random(rows * dim), w = random(dim), g_out = random(rows * dim);
    std::vector<float> out(rows * dim), rstd(rows);
    float *dx = up(x), *dw = up(w), *dg = up(g_out), *dout = up(out), *drstd = up(rstd);
    cpu_->rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), rows, dim, 1e-6f);
    gpu_->rmsnorm_forward(dout, drstd, dx, dw, rows, dim, 1e-6f);
    const std::string at = " dim=" + std::to_string(dim);
    expect_close("rmsnorm_forward" + at, out, dout, kElementwise);
    expect_close("rmsnorm rstd" + at, rstd, drstd, kElementwise);
    for (bool accumulate : {false, true}) {
      auto dxin = random(rows * dim), dwacc = random(dim);
      float *ddx = up(dxin), *ddw = up(dwacc);
      cpu_->rmsnorm_backward(dxin.data(), dwacc.data(), g_out.data(), x.data(), w.data(),
                             rstd.data(), rows, dim, accumulate);
      gpu_->rmsnorm_backward(ddx, ddw, dg, dx, dw, drstd, rows, dim, accumulate);
      expect_close("rmsnorm_backward dx" + at, dxin, ddx, kReduction);
      expect_close("rmsnorm_backward dw" + at, dwacc, ddw, kReduction);
    }
  }
}

TEST_F(CudaParity, QkNormRope) {
  for (int64_t D : {8, 64, 128}) {
    for (bool with_norm : {true, false}) {
      const int64_t batch = 2, seq = 19, heads = 3, rows = batch * seq, ld = heads * D + 5;
      const auto in = random(rows * ld), w = random(D), g_out = random(rows * heads * D);
      std::vector<float> cos(seq * D / 2), sin(seq * D / 2);
      for (int64_t t = 0; t < seq; ++t)
        for (int64_t i = 0; i < D / 2; ++i) {
          const double angle = t * std::pow(10000.0, -2.0 * i / D);
          cos[t * D / 2 + i] = static_cast<float>(std::cos(angle));
          sin[t * D / 2 + i] = static_cast<float>(std::sin(angle));
        }
      std::vector<float> out(rows * heads * D), rstd(rows * heads, 0.0f);
      float *din = up(in), *dw = up(w), *dg = up(g_out), *dcos = up(cos), *dsin = up(sin);
      float *dout = up(out), *drstd = up(rstd);
      const float* wp = with_norm ? w.data() : nullptr;
      float* dwp = with_norm ? dw : nullptr;
      cpu_->qknorm_rope_forward(out.data(), rstd.data(), in.data(), ld, wp, cos.data(), sin.data(),
                                rows, heads, D, seq, 1e-6f);
      gpu_->qknorm_rope_forward(dout, drstd, din, ld, dwp, dcos, dsin, rows, heads, D, seq, 1e-6f);
      const std::string at = " D=" + std::to_string(D) + " norm=" + std::to_string(with_norm);
      expect_close("qknorm_rope_forward" + at, out, dout, kElementwise);
      if (with_norm) expect_close("qknorm rstd" + at, rstd, drstd, kElementwise);
      auto dinput = random(rows * ld), dwacc = random(D);  // padding columns must stay
      float *ddin = up(dinput), *ddw = up(dwacc);
      cpu_->qknorm_rope_backward(dinput.data(), ld, with_norm ? dwacc.data() : nullptr,
                                 g_out.data(), in.data(), wp, rstd.data(), cos.data(), sin.data(),
                                 rows, heads, D, seq);
      gpu_->qknorm_rope_backward(ddin, ld, with_norm ? ddw : nullptr, dg, din, dwp, drstd, dcos,
                                 dsin, rows, heads, D, seq);
      expect_close("qknorm_rope_backward din" + at, dinput, ddin, kReduction);
      if (with_norm) expect_close("qknorm_rope_backward dw" + at, dwacc, ddw, kReduction);
    }
  }
}

struct AttentionCase {
  int64_t batch, seq_len, heads, kv_heads, head_dim;
};

TEST_F(CudaParity, CausalGqaAttention) {
  // Partial and multiple 32-row tiles, MHA/GQA/MQA, tiny and large head dims (>48 KiB of
  // shared memory from 128 up).
  const AttentionCase cases[] = {{2, 5, 4, 2, 4},   {2, 70, 4, 2, 64},  {1, 37, 2, 1, 128},
                                 {1, 64, 3, 3, 32}, {1, 40, 2, 2, 256}, {3, 33, 6, 3, 16}};
  for (const AttentionCase& c : cases) {
    AttentionDims d;
    d.batch = c.batch;
    d.seq_len = c.seq_len;
    d.heads = c.heads;
    d.kv_heads = c.kv_heads;
    d.head_dim = c.head_dim;
    d.ld_q = d.heads * d.head_dim + 3;
    d.ld_k = d.kv_heads * d.head_dim + 5;
    d.ld_v = d.kv_heads * d.head_dim + 1;
    d.scale = 1.0f / std::sqrt(static_cast<float>(d.head_dim));
    const int64_t rows = d.batch * d.seq_len, out_n = rows * d.heads * d.head_dim;
    const int64_t lse_n = d.batch * d.heads * d.seq_len;
    const auto q = random(rows * d.ld_q), k = random(rows * d.ld_k), v = random(rows * d.ld_v);
    const auto g_out = random(out_n);
    std::vector<float> out(out_n), lse(lse_n), first(d.batch * d.heads);
    float *dq_in = up(q), *dk_in = up(k), *dv_in = up(v), *dg = up(g_out);
    float *dout = up(out), *dlse = up(lse), *dfirst = up(first);
    const std::string at = " B=" + std::to_string(c.batch) + " T=" + std::to_string(c.seq_len) +
                           " H=" + std::to_string(c.heads) + " K=" + std::to_string(c.kv_heads) +
                           " D=" + std::to_string(c.head_dim);
    cpu_->attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), d);
    gpu_->attention_forward(dout, dlse, dq_in, dk_in, dv_in, d);
    expect_close("attention_forward out" + at, out, dout, kReduction);
    expect_close("attention_forward lse" + at, lse, dlse, kReduction);

    cpu_->probes().attention_first_token_prob(first.data(), q.data(), k.data(), lse.data(), d);
    gpu_->probes().attention_first_token_prob(dfirst, dq_in, dk_in, dlse, d);
    expect_close("attention_first_token_prob" + at, first, dfirst, kReduction);

    // Gradient buffers start random: padding columns must survive, the rest is overwritten.
    auto dq = random(rows * d.ld_q), dk = random(rows * d.ld_k), dv = random(rows * d.ld_v);
    float *ddq = up(dq), *ddk = up(dk), *ddv = up(dv);
    cpu_->attention_backward(dq.data(), dk.data(), dv.data(), g_out.data(), q.data(), k.data(),
                             v.data(), out.data(), lse.data(), d);
    gpu_->attention_backward(ddq, ddk, ddv, dg, dq_in, dk_in, dv_in, dout, dlse, d);
    expect_close("attention_backward dq" + at, dq, ddq, kReduction);
    expect_close("attention_backward dk" + at, dk, ddk, kReduction);
    expect_close("attention_backward dv" + at, dv, ddv, kReduction);

    const auto dq_first = down(ddq, dq.size());
    gpu_->attention_backward(ddq, ddk, ddv, dg, dq_in, dk_in, dv_in, dout, dlse, d);
    EXPECT_EQ(down(ddq, dq.size()), dq_first) << "attention backward must be deterministic" << at;
  }
}

TEST_F(CudaParity, GateEveryVariant) {
  int checked = 0;
  for (const GateCase& c : all_gate_cases()) {
    const GateSpec s = gate_spec(c, 4, 16);
    const int64_t rows = 33, row_len = s.heads * s.head_dim, y_ld = row_len + 2;
    const int64_t width = s.width(), logits_ld = c.is_static ? 0 : width + 3;
    const auto y = random(rows * y_ld), g_out = random(rows * row_len);
    const auto logits = random((c.is_static ? 1 : rows) * std::max(logits_ld, width), 1.5);
    std::vector<float> out(rows * row_len);
    auto dy = random(rows * y_ld), dlogits = random(rows * width);
    float *d_y = up(y), *d_g = up(g_out), *d_logits = up(logits), *d_out = up(out);
    float *d_dy = up(dy), *d_dlogits = up(dlogits);
    const std::string at =
        " elementwise=" + std::to_string(c.elementwise) + " shared=" + std::to_string(c.shared) +
        " avg_logits=" + std::to_string(c.average_logits) +
        " additive=" + std::to_string(c.additive) + " static=" + std::to_string(c.is_static) +
        " act=" + std::to_string(static_cast<int>(c.act));
    cpu_->gate_forward(out.data(), y.data(), y_ld, logits.data(), logits_ld, rows, s);
    gpu_->gate_forward(d_out, d_y, y_ld, d_logits, logits_ld, rows, s);
    expect_close("gate_forward" + at, out, d_out, kElementwise);
    cpu_->gate_backward(dy.data(), y_ld, dlogits.data(), width, g_out.data(), y.data(), y_ld,
                        logits.data(), logits_ld, rows, s);
    gpu_->gate_backward(d_dy, y_ld, d_dlogits, width, d_g, d_y, y_ld, d_logits, logits_ld, rows, s);
    expect_close("gate_backward dy" + at, dy, d_dy, kElementwise);
    expect_close("gate_backward dlogits" + at, dlogits, d_dlogits, kReduction);
    double sum_cpu = 0, below_cpu = 0, sum_gpu = 0, below_gpu = 0;
    cpu_->probes().gate_score_stats(&sum_cpu, &below_cpu, logits.data(), logits_ld, rows, s);
    gpu_->probes().gate_score_stats(&sum_gpu, &below_gpu, d_logits, logits_ld, rows, s);
    EXPECT_NEAR(sum_gpu, sum_cpu, kElementwise * std::max(1.0, std::fabs(sum_cpu))) << at;
    EXPECT_EQ(below_gpu, below_cpu) << at;
    ++checked;
  }
  EXPECT_EQ(checked, 2 * 3 * 2 * 6);
}

TEST_F(CudaParity, CrossEntropy) {
  for (int64_t vocab : {11, 1000, 8192}) {
    const int64_t rows = 7;
    const auto ids = random_ids(rows, vocab);
    const std::vector<float> logits = random(rows * vocab, 3.0);
    for (float scale : {0.0f, 1.0f / rows}) {
      auto z = logits;
      std::vector<float> losses(rows);
      float *dz = up(z), *dlosses = up(losses);
      int32_t* dids = up(ids);
      cpu_->cross_entropy(losses.data(), z.data(), ids.data(), rows, vocab, scale);
      gpu_->cross_entropy(dlosses, dz, dids, rows, vocab, scale);
      const std::string at = " vocab=" + std::to_string(vocab) + " scale=" + std::to_string(scale);
      expect_close("cross_entropy losses" + at, losses, dlosses, kElementwise);
      if (scale == 0.0f)
        expect_equal("cross_entropy leaves logits" + at, z, dz);
      else
        expect_close("cross_entropy dlogits" + at, z, dz, kElementwise);
    }
  }
}

TEST_F(CudaParity, AdamW) {
  const int64_t n = 5003;
  auto p = random(n, 0.1), m = std::vector<float>(n, 0.0f), v = std::vector<float>(n, 0.0f);
  float *dp = up(p), *dm = up(m), *dv = up(v);
  for (int64_t step = 1; step <= 3; ++step) {
    const auto g = random(n, 0.01);
    float* dg = up(g);
    cpu_->adamw_update(p.data(), g.data(), m.data(), v.data(), n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f,
                       step);
    gpu_->adamw_update(dp, dg, dm, dv, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
  }
  expect_close("adamw param", p, dp, kElementwise);
  expect_close("adamw m", m, dm, kElementwise);
  expect_close("adamw v", v, dv, kElementwise);
}

TEST_F(CudaParity, RouterTopK) {
  for (int64_t experts : {8, 60}) {
    for (int64_t k : {1, 2, 4}) {
      for (bool normalize : {false, true}) {
        const int64_t rows = 37, ld = experts + 3;
        auto logits = random(rows * ld, 2.0);
        // Exact ties: row 0 all equal, row 1 in equal pairs; the lower expert index must win.
        for (int64_t e = 0; e < experts; ++e) {
          logits[e] = 0.5f;
          logits[ld + e] = logits[ld + e / 2 * 2];
        }
        std::vector<float> probs(rows * experts), lse(rows), weights(rows * k);
        std::vector<int32_t> chosen(rows * k);
        float *d_probs = up(probs), *d_lse = up(lse), *d_weights = up(weights);
        int32_t* d_chosen = up(chosen);
        cpu_->router_topk_forward(probs.data(), lse.data(), chosen.data(), weights.data(),
                                  logits.data(), ld, rows, experts, k, normalize);
        gpu_->router_topk_forward(d_probs, d_lse, d_chosen, d_weights, up(logits), ld, rows,
                                  experts, k, normalize);
        const std::string at = " experts=" + std::to_string(experts) + " k=" + std::to_string(k) +
                               " normalize=" + std::to_string(normalize);
        std::vector<int32_t> gpu_chosen(chosen.size());
        gpu_->to_host(gpu_chosen.data(), d_chosen, static_cast<int64_t>(chosen.size()));
        EXPECT_EQ(gpu_chosen, chosen) << "router experts" << at;
        for (int64_t j = 0; j < k; ++j) EXPECT_EQ(chosen[j], j) << "tie order" << at;
        expect_close("router probs" + at, probs, d_probs, kElementwise);
        expect_close("router lse" + at, lse, d_lse, kElementwise);
        expect_close("router weights" + at, weights, d_weights, kElementwise);

        // Backward from the CPU's forward state, with and without the balance-loss term.
        const auto dweights = random(rows * k), prob_grad = random(experts, 0.1);
        float *d_cpu_probs = up(probs), *d_cpu_lse = up(lse), *d_dweights = up(dweights);
        int32_t* d_cpu_chosen = up(chosen);
        for (bool with_prob_grad : {false, true}) {
          auto dlogits = random(rows * ld);  // the padding columns must stay as they are
          float* d_dlogits = up(dlogits);
          const float* pg = with_prob_grad ? prob_grad.data() : nullptr;
          cpu_->router_topk_backward(dlogits.data(), ld, dweights.data(), probs.data(), lse.data(),
                                     chosen.data(), pg, 1e-3f, rows, experts, k, normalize);
          gpu_->router_topk_backward(d_dlogits, ld, d_dweights, d_cpu_probs, d_cpu_lse,
                                     d_cpu_chosen, with_prob_grad ? up(prob_grad) : nullptr, 1e-3f,
                                     rows, experts, k, normalize);
          expect_close("router dlogits prob_grad=" + std::to_string(with_prob_grad) + at, dlogits,
                       d_dlogits, kReduction);
        }
      }
    }
  }
}

TEST_F(CudaParity, GatherAndCombineRows) {
  const int64_t rows = 29, k = 3, cols = 37, ld_src = cols + 5, slots_count = rows * k;
  // gather: repeated and out-of-order indices into a strided source.
  const auto table = random(50 * ld_src);
  const auto index = random_ids(slots_count, 50);
  std::vector<float> gathered(slots_count * cols);
  float* d_gathered = up(gathered);
  cpu_->gather_rows(gathered.data(), table.data(), ld_src, index.data(), slots_count, cols);
  gpu_->gather_rows(d_gathered, up(table), ld_src, up(index), slots_count, cols);
  expect_equal("gather_rows", gathered, d_gathered);

  // combine: every slot once, in a shuffled order, some dropped (-1).
  std::vector<int32_t> slots(slots_count);
  for (int64_t i = 0; i < slots_count; ++i) slots[i] = static_cast<int32_t>(i);
  for (int64_t i = slots_count - 1; i > 0; --i)
    std::swap(slots[i], slots[rng_.uniform_int(static_cast<uint64_t>(i + 1))]);
  for (int64_t i = 0; i < slots_count; i += 7) slots[i] = -1;
  const auto src = random(slots_count * cols), weights = random(slots_count);
  const auto dout = random(rows * cols), base = random(rows * cols);
  float *d_src = up(src), *d_weights = up(weights), *d_dout = up(dout);
  int32_t* d_slots = up(slots);
  for (bool weighted : {false, true}) {
    for (bool accumulate : {false, true}) {
      auto out = base;
      float* d_out = up(out);
      cpu_->combine_rows(out.data(), src.data(), slots.data(), weighted ? weights.data() : nullptr,
                         rows, k, cols, accumulate);
      gpu_->combine_rows(d_out, d_src, d_slots, weighted ? d_weights : nullptr, rows, k, cols,
                         accumulate);
      expect_close("combine_rows weighted=" + std::to_string(weighted) +
                       " accumulate=" + std::to_string(accumulate),
                   out, d_out, kElementwise);
    }
  }
  auto dsrc = random(slots_count * cols);  // rows of dropped slots keep their values
  std::vector<float> dweights(slots_count, 7.0f);
  float *d_dsrc = up(dsrc), *d_dweights = up(dweights);
  cpu_->combine_rows_backward(dsrc.data(), dweights.data(), dout.data(), src.data(), slots.data(),
                              weights.data(), rows, k, cols);
  gpu_->combine_rows_backward(d_dsrc, d_dweights, d_dout, d_src, d_slots, d_weights, rows, k, cols);
  expect_equal("combine_rows_backward dsrc", dsrc, d_dsrc);
  expect_close("combine_rows_backward dweights", dweights, d_dweights, kReduction);
}

// ---- whole model ----

struct ModelParityCase {
  std::string name;
  ModelConfig config;
};
void PrintTo(const ModelParityCase& c, std::ostream* os) { *os << c.name; }

ModelConfig small_model() {
  ModelConfig c;
  c.vocab_size = 97;
  c.hidden_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 96;
  c.rms_norm_eps = 1e-6;
  c.initializer_range = 0.1;
  return c;
}

std::vector<ModelParityCase> model_cases() {
  std::vector<ModelParityCase> cases;
  cases.push_back({"dense_gqa_qknorm", small_model()});
  auto gated = [&](std::string name, GatePosition pos, GateGranularity gran, GateSharing sharing,
                   GateCombine combine, GateActivation act, bool input_dependent) {
    ModelParityCase c{std::move(name), small_model()};
    AttentionGateConfig& g = c.config.attention_gate;
    g.position = pos;
    g.granularity = gran;
    g.sharing = sharing;
    g.combine = combine;
    g.activation = act;
    g.input_dependent = input_dependent;
    cases.push_back(c);
    return &cases.back();
  };
  gated("sdpa_elementwise_sigmoid", GatePosition::sdpa, GateGranularity::elementwise,
        GateSharing::head_specific, GateCombine::multiply, GateActivation::sigmoid, true);
  gated("sdpa_headwise_shared_static", GatePosition::sdpa, GateGranularity::headwise,
        GateSharing::head_shared, GateCombine::multiply, GateActivation::sigmoid, false);
  gated("value_elementwise_add_silu", GatePosition::value, GateGranularity::elementwise,
        GateSharing::head_specific, GateCombine::add, GateActivation::silu, true);
  gated("query_headwise_prenorm", GatePosition::query, GateGranularity::headwise,
        GateSharing::head_specific, GateCombine::multiply, GateActivation::ns_sigmoid, true)
      ->config.attention_gate.qk_gate_point = QkGatePoint::pre_norm;
  gated("key_shared_logits", GatePosition::key, GateGranularity::elementwise,
        GateSharing::head_shared, GateCombine::multiply, GateActivation::sigmoid, true)
      ->config.attention_gate.shared_average = SharedAverage::logits;
  gated("dense_elementwise_identity", GatePosition::dense, GateGranularity::elementwise,
        GateSharing::head_specific, GateCombine::multiply, GateActivation::identity, true);
  ModelParityCase untied{"untied_sdpa_rmsnorm", small_model()};
  untied.config.tie_word_embeddings = false;
  untied.config.sdpa_output_transform = SdpaOutputTransform::rmsnorm;
  cases.push_back(untied);
  // MoE: 4 routed experts (top-2, normalised) plus a gated shared expert, balance and z losses.
  ModelParityCase moe{"moe_top2_shared", small_model()};
  MoeConfig& m = moe.config.moe.emplace();
  m.num_experts = 4;
  m.num_experts_per_tok = 2;
  m.moe_intermediate_size = 32;
  m.num_shared_experts = 1;
  m.router_aux_loss_coef = 0.01;
  m.router_z_loss_coef = 0.001;
  cases.push_back(moe);
  return cases;
}

std::vector<float> host_copy(Backend& be, const Tensor& t) {
  std::vector<float> host(static_cast<size_t>(t.numel()));
  be.to_host(host.data(), t.data(), t.numel());
  return host;
}

class CudaModelParity : public ::testing::TestWithParam<ModelParityCase> {};

TEST_P(CudaModelParity, ForwardBackwardAndAdamWMatchCpu) {
  std::unique_ptr<Backend> gpu;
  try {
    gpu = make_backend("cuda");
  } catch (const InputError& e) {
    GTEST_SKIP() << "CUDA parity needs a CUDA build and device: " << e.what();
  }
  set_cpu_threads(2);
  auto cpu = make_cpu_backend();
  const ModelConfig& config = GetParam().config;
  Transformer ref(config, *cpu), dev(config, *gpu);
  ref.init_weights(5);
  dev.init_weights(5);
  const int64_t B = 2, T = 40, N = B * T;  // T crosses a 32-row attention tile
  Rng rng(9);
  std::vector<int32_t> inputs(N), targets(N);
  for (int32_t& t : inputs) t = static_cast<int32_t>(rng.uniform_int(config.vocab_size));
  for (int32_t& t : targets) t = static_cast<int32_t>(rng.uniform_int(config.vocab_size));

  const bool gated = config.attention_gate.position != GatePosition::none;
  ModelAnalysis a_ref, a_dev;
  a_ref.reset(config.num_hidden_layers, gated);
  a_dev.reset(config.num_hidden_layers, gated);
  const double loss_ref = ref.forward(inputs.data(), targets.data(), B, T, &a_ref);
  const double loss_dev = dev.forward(inputs.data(), targets.data(), B, T, &a_dev);
  EXPECT_NEAR(loss_dev, loss_ref, kReduction * loss_ref);
  EXPECT_LE(relative_error(host_copy(*cpu, ref.logits()), host_copy(*gpu, dev.logits())), kModel);
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    EXPECT_NEAR(a_dev.first_token_attn(l), a_ref.first_token_attn(l), kModel) << "layer " << l;
    for (int p = 0; p < kNumPoints; ++p)
      EXPECT_NEAR(a_dev.layers[l].max_act[p], a_ref.layers[l].max_act[p],
                  kModel * a_ref.layers[l].max_act[p])
          << "layer " << l << " point " << p;
    if (gated) {
      EXPECT_NEAR(a_dev.gate_score(l), a_ref.gate_score(l), kModel) << "layer " << l;
      EXPECT_NEAR(a_dev.gate_sparsity(l), a_ref.gate_sparsity(l), 1e-3) << "layer " << l;
    }
  }

  ref.params().zero_grads();
  dev.params().zero_grads();
  ref.forward_backward(inputs.data(), targets.data(), B, T, 1.0f);
  dev.forward_backward(inputs.data(), targets.data(), B, T, 1.0f);
  const auto g_ref = host_copy(*cpu, ref.params().grads());
  const auto g_dev = host_copy(*gpu, dev.params().grads());
  EXPECT_LE(relative_error(g_ref, g_dev), kModel) << "all gradients";
  // Per tensor, against a floor of 1e-3 of the whole gradient's norm: some gradients are ~0 by
  // construction (a headwise gate in front of a norm), where a relative error means nothing.
  double total = 0.0;
  for (float g : g_ref) total += double(g) * g;
  for (const ParamInfo& p : ref.params().infos()) {
    double err = 0.0, norm = 0.0;
    for (int64_t i = p.offset; i < p.offset + p.numel(); ++i) {
      err += (double(g_dev[i]) - g_ref[i]) * (double(g_dev[i]) - g_ref[i]);
      norm += double(g_ref[i]) * g_ref[i];
    }
    EXPECT_LE(std::sqrt(err), kModel * std::max(std::sqrt(norm), 1e-3 * std::sqrt(total)))
        << p.name;
  }

  OptimizerConfig opt;
  opt.lr = 1e-3;
  AdamW adam_ref(opt, ref.params()), adam_dev(opt, dev.params());
  for (int step = 0; step < 3; ++step) {
    for (auto [model, adam] : {std::pair{&ref, &adam_ref}, std::pair{&dev, &adam_dev}}) {
      model->params().zero_grads();
      model->forward_backward(inputs.data(), targets.data(), B, T, 1.0f);
      adam->step(static_cast<float>(opt.lr));
    }
  }
  EXPECT_LE(relative_error(host_copy(*cpu, ref.params().params()),
                           host_copy(*gpu, dev.params().params())),
            kModel)
      << "parameters after 3 AdamW steps";
}

INSTANTIATE_TEST_SUITE_P(Model, CudaModelParity, ::testing::ValuesIn(model_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace gatedlm::test
