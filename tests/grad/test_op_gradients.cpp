// Finite-difference checks of every backend op's backward against its forward (CPU backend),
// with strided inputs where the model uses them. Loss = sum(out * R) for a fixed random R.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "fd_check.h"
#include "gate_cases.h"
#include "gatedlm/backend/cpu/cpu_backend.h"

namespace gatedlm::test {
namespace {

double weighted_sum(const std::vector<float>& out, const std::vector<float>& r) {
  double s = 0.0;
  for (size_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
  return s;
}

std::vector<float> random_vector(int64_t n, Rng& rng, double std = 1.0) {
  std::vector<float> v(static_cast<size_t>(n));
  fill_normal(v, rng, std);
  round_for_fd(v.data(), n);
  return v;
}

class OpGradients : public ::testing::Test {
 protected:
  void SetUp() override { set_cpu_threads(2); }
  std::unique_ptr<Backend> be = make_cpu_backend();
  Rng rng{42};
};

TEST_F(OpGradients, Embedding) {
  const int64_t n = 6, dim = 5, vocab = 4;
  std::vector<int32_t> ids = {0, 3, 1, 3, 3, 2};
  auto table = random_vector(vocab * dim, rng), r = random_vector(n * dim, rng);
  std::vector<float> out(n * dim);
  auto loss = [&] {
    be->embedding_forward(out.data(), ids.data(), table.data(), n, dim);
    return weighted_sum(out, r);
  };
  std::vector<FdTarget> t = {{"table", table.data(), vocab * dim, std::vector<float>(vocab * dim)}};
  be->embedding_backward(t[0].analytic.data(), r.data(), ids.data(), n, dim);
  check_gradients(t, loss, 100, 1);
}

TEST_F(OpGradients, RmsNorm) {
  const int64_t rows = 5, dim = 12;
  auto x = random_vector(rows * dim, rng), w = random_vector(dim, rng),
       r = random_vector(rows * dim, rng);
  std::vector<float> out(rows * dim), rstd(rows);
  auto loss = [&] {
    be->rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), rows, dim, 1e-6f);
    return weighted_sum(out, r);
  };
  std::vector<FdTarget> t = {{"x", x.data(), rows * dim, std::vector<float>(rows * dim)},
                             {"w", w.data(), dim, std::vector<float>(dim)}};
  loss();
  // accumulate_dx: the residual stream's gradient is added to, so start from a known value.
  std::vector<float> dx(rows * dim, 0.5f);
  be->rmsnorm_backward(dx.data(), t[1].analytic.data(), r.data(), x.data(), w.data(), rstd.data(),
                       rows, dim, true);
  for (int64_t i = 0; i < rows * dim; ++i) t[0].analytic[i] = dx[i] - 0.5f;
  check_gradients(t, loss, 100, 2);
}

void check_qknorm_rope(Backend& be, Rng& rng, bool with_norm) {
  const int64_t batch = 2, seq = 5, heads = 3, D = 8, ld = heads * D + 7, rows = batch * seq;
  auto in = random_vector(rows * ld, rng), w = random_vector(D, rng),
       r = random_vector(rows * heads * D, rng);
  std::vector<float> cos(seq * D / 2), sin(seq * D / 2);
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t i = 0; i < D / 2; ++i) {
      const double angle = t * std::pow(10000.0, -2.0 * i / D);
      cos[t * D / 2 + i] = std::cos(angle);
      sin[t * D / 2 + i] = std::sin(angle);
    }
  std::vector<float> out(rows * heads * D), rstd(rows * heads);
  const float* wp = with_norm ? w.data() : nullptr;
  auto loss = [&] {
    be.qknorm_rope_forward(out.data(), rstd.data(), in.data(), ld, wp, cos.data(), sin.data(), rows,
                           heads, D, seq, 1e-6f);
    return weighted_sum(out, r);
  };
  std::vector<FdTarget> t = {{"in", in.data(), rows * ld, std::vector<float>(rows * ld)}};
  if (with_norm) t.push_back({"w", w.data(), D, std::vector<float>(D)});
  loss();
  be.qknorm_rope_backward(t[0].analytic.data(), ld, with_norm ? t[1].analytic.data() : nullptr,
                          r.data(), in.data(), wp, rstd.data(), cos.data(), sin.data(), rows, heads,
                          D, seq);
  // Columns outside the heads are padding: their gradient is not written; expect zero there.
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t c = heads * D; c < ld; ++c) t[0].analytic[row * ld + c] = 0.0f;
  check_gradients(t, loss, 150, 3);
}

TEST_F(OpGradients, QkNormRope) { check_qknorm_rope(*be, rng, true); }
TEST_F(OpGradients, RopeWithoutNorm) { check_qknorm_rope(*be, rng, false); }

TEST_F(OpGradients, CausalGqaAttention) {
  AttentionDims d;
  d.batch = 2;
  d.seq_len = 7;
  d.heads = 4;
  d.kv_heads = 2;
  d.head_dim = 8;
  d.ld_q = d.heads * d.head_dim + 3;  // strided, as in the fused projection
  d.ld_k = d.kv_heads * d.head_dim + 5;
  d.ld_v = d.kv_heads * d.head_dim + 1;
  d.scale = 1.0f / std::sqrt(8.0f);
  const int64_t rows = d.batch * d.seq_len, out_n = rows * d.heads * d.head_dim;
  auto q = random_vector(rows * d.ld_q, rng), k = random_vector(rows * d.ld_k, rng),
       v = random_vector(rows * d.ld_v, rng), r = random_vector(out_n, rng);
  std::vector<float> out(out_n), lse(d.batch * d.heads * d.seq_len);
  auto loss = [&] {
    be->attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), d);
    return weighted_sum(out, r);
  };
  std::vector<FdTarget> t = {{"q", q.data(), rows * d.ld_q, std::vector<float>(rows * d.ld_q)},
                             {"k", k.data(), rows * d.ld_k, std::vector<float>(rows * d.ld_k)},
                             {"v", v.data(), rows * d.ld_v, std::vector<float>(rows * d.ld_v)}};
  loss();
  be->attention_backward(t[0].analytic.data(), t[1].analytic.data(), t[2].analytic.data(), r.data(),
                         q.data(), k.data(), v.data(), out.data(), lse.data(), d);
  auto zero_padding = [](FdTarget& target, int64_t rows, int64_t used, int64_t ld) {
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t c = used; c < ld; ++c) target.analytic[row * ld + c] = 0.0f;
  };
  zero_padding(t[0], rows, d.heads * d.head_dim, d.ld_q);
  zero_padding(t[1], rows, d.kv_heads * d.head_dim, d.ld_k);
  zero_padding(t[2], rows, d.kv_heads * d.head_dim, d.ld_v);
  check_gradients(t, loss, 200, 4);
}

TEST_F(OpGradients, SwiGlu) {
  const int64_t rows = 4, inter = 6;
  auto gu = random_vector(rows * 2 * inter, rng), r = random_vector(rows * inter, rng);
  std::vector<float> out(rows * inter);
  auto loss = [&] {
    be->swiglu_forward(out.data(), gu.data(), rows, inter);
    return weighted_sum(out, r);
  };
  std::vector<FdTarget> t = {
      {"gate_up", gu.data(), rows * 2 * inter, std::vector<float>(rows * 2 * inter)}};
  be->swiglu_backward(t[0].analytic.data(), r.data(), gu.data(), rows, inter);
  check_gradients(t, loss, 100, 5);
}

TEST_F(OpGradients, Silu) {
  const int64_t n = 20;
  auto x = random_vector(n, rng, 2.0), r = random_vector(n, rng);
  std::vector<float> out(n);
  auto loss = [&] {
    be->silu_forward(out.data(), x.data(), n);
    return weighted_sum(out, r);
  };
  std::vector<FdTarget> t = {{"x", x.data(), n, std::vector<float>(n)}};
  be->silu_backward(t[0].analytic.data(), r.data(), x.data(), n);
  check_gradients(t, loss, 100, 6);
}

TEST_F(OpGradients, LmHeadCrossEntropy) {
  const int64_t rows = 6, C = 8, V = 11;
  auto x = random_vector(rows * C, rng), w = random_vector(V * C, rng);
  std::vector<int32_t> targets = {0, 10, 3, 3, 7, 1};
  std::vector<float> logits(rows * V), losses(rows);
  auto forward = [&](float scale) {
    be->gemm(false, true, rows, V, C, 1.0f, {x.data(), C}, {w.data(), C}, 0.0f, {logits.data(), V});
    be->cross_entropy(losses.data(), logits.data(), targets.data(), rows, V, scale);
    double total = 0.0;
    for (float l : losses) total += l;
    return total / rows;
  };
  auto loss = [&] { return forward(0.0f); };
  std::vector<FdTarget> t = {{"x", x.data(), rows * C, std::vector<float>(rows * C)},
                             {"lm_head", w.data(), V * C, std::vector<float>(V * C)}};
  forward(1.0f / rows);  // logits now hold d(mean loss)/d(logits)
  be->gemm(false, false, rows, C, V, 1.0f, {logits.data(), V}, {w.data(), C}, 0.0f,
           {t[0].analytic.data(), C});
  be->gemm(true, false, V, C, rows, 1.0f, {logits.data(), V}, {x.data(), C}, 0.0f,
           {t[1].analytic.data(), C});
  check_gradients(t, loss, 100, 7);
}

TEST_F(OpGradients, GateEveryVariant) {
  int checked = 0;
  for (const GateCase& c : all_gate_cases()) {
    const GateSpec s = gate_spec(c, 3, 4);
    const int64_t rows = 5, y_ld = s.heads * s.head_dim + 2, width = s.width();
    const int64_t logit_rows = c.is_static ? 1 : rows, logits_ld = c.is_static ? 0 : width + 3;
    auto y = random_vector(rows * y_ld, rng), r = random_vector(rows * s.heads * s.head_dim, rng);
    auto logits = random_vector(logit_rows * std::max(logits_ld, width), rng, 1.5);
    std::vector<float> out(rows * s.heads * s.head_dim);
    auto loss = [&] {
      be->gate_forward(out.data(), y.data(), y_ld, logits.data(), logits_ld, rows, s);
      return weighted_sum(out, r);
    };
    std::vector<FdTarget> t = {{"y", y.data(), rows * y_ld, std::vector<float>(rows * y_ld)},
                               {"logits", logits.data(), static_cast<int64_t>(logits.size()),
                                std::vector<float>(logits.size())}};
    std::vector<float> dlogits(rows * width);
    be->gate_backward(t[0].analytic.data(), y_ld, dlogits.data(), width, r.data(), y.data(), y_ld,
                      logits.data(), logits_ld, rows, s);
    if (c.is_static) {
      be->sum_rows_accumulate(t[1].analytic.data(), dlogits.data(), rows, width, width);
    } else {
      for (int64_t row = 0; row < rows; ++row)
        for (int64_t i = 0; i < width; ++i)
          t[1].analytic[row * logits_ld + i] = dlogits[row * width + i];
    }
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t cidx = s.heads * s.head_dim; cidx < y_ld; ++cidx)
        t[0].analytic[row * y_ld + cidx] = 0.0f;
    SCOPED_TRACE(::testing::Message()
                 << "elementwise=" << c.elementwise << " shared=" << c.shared
                 << " avg_logits=" << c.average_logits << " additive=" << c.additive
                 << " static=" << c.is_static << " act=" << static_cast<int>(c.act));
    check_gradients(t, loss, 60, 8);
    ++checked;
  }
  EXPECT_EQ(checked, 2 * 3 * 2 * 6);
}

// A head-shared gate whose heads tensor parallelism splits over two shards: each shard's sums
// over its own heads, added (the group's all-reduce), give the whole gate's outputs and
// gradients on the shard's heads (the whole gate is the oracle the check above verified).
TEST_F(OpGradients, GateHeadSharedSplitOverShards) {
  const int64_t rows = 5, heads = 4, D = 3, shards = 2, local = heads / shards;
  int checked = 0;
  for (const GateCase& c : all_gate_cases()) {
    if (!c.shared) continue;
    const GateSpec whole = gate_spec(c, heads, D), part = gate_spec(c, local, D);
    const int64_t width = whole.width(), unit = width / heads, row_len = heads * D;
    const int64_t logits_ld = c.is_static ? 0 : width;
    auto y = random_vector(rows * row_len, rng), dout = random_vector(rows * row_len, rng);
    auto logits = random_vector((c.is_static ? 1 : rows) * width, rng, 1.5);
    std::vector<float> out(rows * row_len), dy(rows * row_len), dlogits(rows * width);
    be->gate_forward(out.data(), y.data(), row_len, logits.data(), logits_ld, rows, whole);
    be->gate_backward(dy.data(), row_len, dlogits.data(), width, dout.data(), y.data(), row_len,
                      logits.data(), logits_ld, rows, whole);

    // Shard r holds heads [r * local, (r + 1) * local): column slices of y, dout and logits.
    auto slice = [&](const std::vector<float>& v, int64_t n_rows, int64_t ld, int64_t r,
                     int64_t cols) {
      std::vector<float> cut(n_rows * cols);
      for (int64_t i = 0; i < n_rows; ++i)
        for (int64_t j = 0; j < cols; ++j) cut[i * cols + j] = v[i * ld + r * cols + j];
      return cut;
    };
    const int64_t logit_rows = c.is_static ? 1 : rows, local_ld = c.is_static ? 0 : width / shards;
    std::vector<float> sums(rows * unit, 0.0f), dsums(rows * unit, 0.0f), part_sums(rows * unit);
    for (int64_t r = 0; r < shards; ++r) {
      const auto l = slice(logits, logit_rows, width, r, width / shards);
      const auto ys = slice(y, rows, row_len, r, local * D),
                 ds = slice(dout, rows, row_len, r, local * D);
      be->gate_shared_term_sums(part_sums.data(), l.data(), local_ld, rows, part);
      be->add_inplace(sums.data(), part_sums.data(), rows * unit);
      be->gate_shared_dscore_sums(part_sums.data(), ds.data(), ys.data(), local * D, rows, part);
      be->add_inplace(dsums.data(), part_sums.data(), rows * unit);
    }
    GateSpec across = part;
    across.shared_sums = sums.data();
    across.shared_dscores = dsums.data();
    across.shared_heads = heads;
    SCOPED_TRACE(::testing::Message()
                 << "elementwise=" << c.elementwise << " avg_logits=" << c.average_logits
                 << " additive=" << c.additive << " static=" << c.is_static
                 << " act=" << static_cast<int>(c.act));
    for (int64_t r = 0; r < shards; ++r) {
      const auto l = slice(logits, logit_rows, width, r, width / shards);
      const auto ys = slice(y, rows, row_len, r, local * D),
                 ds = slice(dout, rows, row_len, r, local * D);
      std::vector<float> o(rows * local * D), g(rows * local * D), dl(rows * width / shards);
      be->gate_forward(o.data(), ys.data(), local * D, l.data(), local_ld, rows, across);
      be->gate_backward(g.data(), local * D, dl.data(), width / shards, ds.data(), ys.data(),
                        local * D, l.data(), local_ld, rows, across);
      const auto want_o = slice(out, rows, row_len, r, local * D);
      const auto want_g = slice(dy, rows, row_len, r, local * D);
      const auto want_dl = slice(dlogits, rows, width, r, width / shards);
      for (size_t i = 0; i < o.size(); ++i) {
        EXPECT_NEAR(o[i], want_o[i], 1e-6f * (1.0f + std::fabs(want_o[i]))) << "out " << i;
        EXPECT_NEAR(g[i], want_g[i], 1e-6f * (1.0f + std::fabs(want_g[i]))) << "dy " << i;
      }
      for (size_t i = 0; i < dl.size(); ++i)
        EXPECT_NEAR(dl[i], want_dl[i], 1e-6f * (1.0f + std::fabs(want_dl[i]))) << "dlogit " << i;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 2 * 2 * 2 * 6);
}

// The vocabulary-parallel loss over two slices of the logits (the group's max and sums done by
// hand) equals the fused cross-entropy (checked above) in losses and gradients; ids outside a
// slice (-1) read zero embedding rows and receive no gradient.
TEST_F(OpGradients, CrossEntropyOverVocabularySlices) {
  const int64_t rows = 6, V = 12, slices = 2, local = V / slices;
  auto logits = random_vector(rows * V, rng, 3.0);
  const std::vector<int32_t> targets = {0, 11, 5, 6, 3, 9};
  const float scale = 0.25f;
  std::vector<float> want_losses(rows), want_grad = logits;
  be->cross_entropy(want_losses.data(), want_grad.data(), targets.data(), rows, V, scale);

  std::vector<std::vector<float>> part(slices);
  std::vector<std::vector<int32_t>> local_targets(slices);
  std::vector<float> row_max(rows, -INFINITY), sums(2 * rows, 0.0f), part_max(rows),
      part_sums(2 * rows);
  for (int64_t s = 0; s < slices; ++s) {
    for (int64_t r = 0; r < rows; ++r) {
      part[s].insert(part[s].end(), logits.begin() + r * V + s * local,
                     logits.begin() + r * V + (s + 1) * local);
      const int32_t t = targets[r] - static_cast<int32_t>(s * local);
      local_targets[s].push_back(t >= 0 && t < local ? t : -1);
    }
    be->cross_entropy_row_max(part_max.data(), part[s].data(), rows, local);
    for (int64_t r = 0; r < rows; ++r) row_max[r] = std::max(row_max[r], part_max[r]);
  }
  for (int64_t s = 0; s < slices; ++s) {
    be->cross_entropy_slice_sums(part_sums.data(), part[s].data(), local_targets[s].data(),
                                 row_max.data(), rows, local);
    be->add_inplace(sums.data(), part_sums.data(), 2 * rows);
  }
  for (int64_t s = 0; s < slices; ++s) {
    std::vector<float> losses(rows);
    be->cross_entropy_from_sums(losses.data(), part[s].data(), local_targets[s].data(),
                                row_max.data(), sums.data(), rows, local, scale);
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_NEAR(losses[r], want_losses[r], 1e-6 * (1.0 + std::fabs(want_losses[r]))) << r;
      for (int64_t i = 0; i < local; ++i)
        EXPECT_NEAR(part[s][r * local + i], want_grad[r * V + s * local + i], 1e-7)
            << "slice " << s << " row " << r << " column " << i;
    }
  }

  const int64_t dim = 3;
  auto table = random_vector(2 * dim, rng), dout = random_vector(3 * dim, rng);
  const std::vector<int32_t> ids = {1, -1, 0};
  std::vector<float> out(3 * dim, 7.0f), dtable(2 * dim, 0.0f);
  be->embedding_forward(out.data(), ids.data(), table.data(), 3, dim);
  be->embedding_backward(dtable.data(), dout.data(), ids.data(), 3, dim);
  for (int64_t c = 0; c < dim; ++c) {
    EXPECT_EQ(out[c], table[dim + c]);
    EXPECT_EQ(out[dim + c], 0.0f);
    EXPECT_EQ(out[2 * dim + c], table[c]);
    EXPECT_EQ(dtable[c], dout[2 * dim + c]);
    EXPECT_EQ(dtable[dim + c], dout[c]);
  }
}

}  // namespace
}  // namespace gatedlm::test
