// TrainStep without a run directory: a tiny model trained a few steps on batches from a
// test-local loader, checking what a step returns, that it learns, that it is deterministic,
// and that accumulating two halves of a batch is one step on the whole batch.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/comm/process_groups.h"
#include "gatedlm/train/train_step.h"

namespace gatedlm {
namespace {

// Deterministic token windows without files: call k of next() yields windows
// k*batch .. k*batch + batch - 1 (or window 0..batch-1 each time when `repeat`), each a fixed
// function of its index, so a loader of batch 2 gives in two calls the rows a loader of batch
// 4 gives in one.
class SyntheticLoader final : public BatchLoader {
 public:
  SyntheticLoader(int64_t batch, int64_t seq_len, int64_t vocab, bool repeat)
      : batch_(batch), seq_len_(seq_len), vocab_(vocab), repeat_(repeat) {}

  void next(TokenBatch& out) override {
    out.batch = batch_;
    out.seq_len = seq_len_;
    out.inputs.resize(batch_ * seq_len_);
    out.targets.resize(batch_ * seq_len_);
    const int64_t first = repeat_ ? 0 : served_ * batch_;
    for (int64_t row = 0; row < batch_; ++row)
      for (int64_t t = 0; t < seq_len_; ++t) {
        out.inputs[row * seq_len_ + t] = token(first + row, t);
        out.targets[row * seq_len_ + t] = token(first + row, t + 1);
      }
    ++served_;
  }
  LoaderState state() const override {
    LoaderState s;
    s.batches_served = served_;
    return s;
  }
  void set_state(const LoaderState& state) override { served_ = state.batches_served; }
  void reset() override { served_ = 0; }
  int64_t total_tokens() const override { return 0; }
  int64_t num_windows() const override { return 0; }

 private:
  // Position t of window w: a pattern with structure to learn.
  int32_t token(int64_t w, int64_t t) const {
    return static_cast<int32_t>((w * 7 + t * 3 + (w * t) % 5) % vocab_);
  }

  int64_t batch_, seq_len_, vocab_;
  bool repeat_;
  int64_t served_ = 0;
};

Config tiny_config(int64_t micro_batch, int64_t accum) {
  Config c;
  c.model.vocab_size = 64;
  c.model.hidden_size = 32;
  c.model.num_hidden_layers = 2;
  c.model.num_attention_heads = 4;
  c.model.num_key_value_heads = 2;
  c.model.head_dim = 8;
  c.model.intermediate_size = 64;
  c.train.seed = 7;
  c.train.steps = 100;
  c.train.seq_len = 8;
  c.train.micro_batch_size = micro_batch;
  c.train.grad_accum_steps = accum;
  c.train.max_grad_norm = 1.0;
  c.optimizer.lr = 1e-2;
  c.scheduler.type = ScheduleType::constant;
  return c;
}

// A model, AdamW and a single-process data group, as the trainer builds them, with a step.
struct Harness {
  explicit Harness(const Config& c, bool repeat = false)
      : config(c),
        backend(make_cpu_backend()),
        groups(make_single_process_communicator(), 1, 1),
        model(c.model, *backend),
        optimizer(c.optimizer, initialized(model, c.train).params()),
        data_parallel(groups.data(), model.params(), optimizer),
        loader(c.train.micro_batch_size, c.train.seq_len, c.model.vocab_size, repeat),
        step(c, model, optimizer, data_parallel, loader) {}

  static Transformer& initialized(Transformer& model, const TrainConfig& train) {
    model.init_weights(train.seed);
    model.reserve(train.micro_batch_size, train.seq_len);
    return model;
  }
  std::vector<float> parameters() {
    ParameterSet& p = model.params();
    std::vector<float> host(p.numel());
    backend->to_host(host.data(), p.params().data(), p.numel());
    return host;
  }

  Config config;
  std::unique_ptr<Backend> backend;
  ProcessGroups groups;
  Transformer model;
  AdamW optimizer;
  DataParallel data_parallel;
  SyntheticLoader loader;
  TrainStep step;
};

TEST(TrainStep, LearnsARepeatedBatch) {
  set_cpu_threads(2);
  Harness h(tiny_config(2, 1), /*repeat=*/true);
  const std::vector<float> before = h.parameters();
  std::vector<double> losses;
  for (int64_t s = 1; s <= 5; ++s) {
    const StepResult r = h.step.run(s);
    ASSERT_TRUE(std::isfinite(r.loss)) << "step " << s;
    EXPECT_GT(r.grad_norm, 0.0) << "step " << s;
    EXPECT_TRUE(std::isfinite(r.grad_norm)) << "step " << s;
    EXPECT_EQ(r.tokens, 2 * 8 * 1);
    EXPECT_DOUBLE_EQ(r.lr, 1e-2);  // constant schedule
    losses.push_back(r.loss);
  }
  // Near log(64) at the start, then down with every update on the same batch.
  EXPECT_NEAR(losses.front(), std::log(64.0), 0.5);
  for (size_t i = 1; i < losses.size(); ++i)
    EXPECT_LT(losses[i], losses[i - 1]) << "step " << i + 1;
  const std::vector<float> after = h.parameters();
  int64_t changed = 0;
  for (size_t i = 0; i < after.size(); ++i) changed += after[i] != before[i];
  EXPECT_GT(changed, static_cast<int64_t>(after.size()) / 2);
  EXPECT_EQ(h.optimizer.steps_taken(), 5);
}

TEST(TrainStep, TokensCountEveryMicroBatch) {
  set_cpu_threads(2);
  Harness h(tiny_config(3, 4));
  const StepResult r = h.step.run(1);
  EXPECT_EQ(r.tokens, 3 * 8 * 4);
  EXPECT_EQ(h.loader.state().batches_served, 4);
  EXPECT_EQ(r.bytes_sent, 0);  // no traffic counter given
}

TEST(TrainStep, SameSeedGivesTheSameBits) {
  set_cpu_threads(2);
  Harness a(tiny_config(2, 2)), b(tiny_config(2, 2));
  for (int64_t s = 1; s <= 5; ++s) {
    const StepResult ra = a.step.run(s), rb = b.step.run(s);
    EXPECT_EQ(ra.loss, rb.loss) << "step " << s;
    EXPECT_EQ(ra.grad_norm, rb.grad_norm) << "step " << s;
  }
  EXPECT_EQ(a.parameters(), b.parameters());
}

// The two halves of a batch of 4, accumulated over two micro-batches of 2, against one
// micro-batch of 4: the same mean loss, gradient norm and update up to rounding.
TEST(TrainStep, AccumulatedHalvesMatchTheWholeBatch) {
  set_cpu_threads(2);
  Harness whole(tiny_config(4, 1)), halves(tiny_config(2, 2));
  ASSERT_EQ(whole.parameters(), halves.parameters());
  for (int64_t s = 1; s <= 3; ++s) {
    const StepResult w = whole.step.run(s), h = halves.step.run(s);
    EXPECT_EQ(w.tokens, h.tokens);
    EXPECT_NEAR(h.loss, w.loss, 1e-5 * w.loss) << "step " << s;
    EXPECT_NEAR(h.grad_norm, w.grad_norm, 1e-4 * w.grad_norm) << "step " << s;
  }
  const std::vector<float> pw = whole.parameters(), ph = halves.parameters();
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < pw.size(); ++i) {
    diff += (static_cast<double>(ph[i]) - pw[i]) * (static_cast<double>(ph[i]) - pw[i]);
    norm += static_cast<double>(pw[i]) * pw[i];
  }
  EXPECT_LT(std::sqrt(diff / norm), 1e-5);
}

// compute() alone leaves the parameters as they were (the stability policy may skip the
// update); skip_steps draws and drops whole steps' worth of batches first.
TEST(TrainStep, ComputeAloneDoesNotUpdate) {
  set_cpu_threads(2);
  Harness h(tiny_config(2, 2));
  const std::vector<float> before = h.parameters();
  const StepResult r = h.step.compute(1, /*skip_steps=*/3);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_GT(r.grad_norm, 0.0);
  EXPECT_EQ(h.parameters(), before);
  EXPECT_EQ(h.optimizer.steps_taken(), 0);
  EXPECT_EQ(h.loader.state().batches_served, (3 + 1) * 2);
}

// The same windows, whether an earlier step's batches were skipped or trained on: a skip
// moves the stream exactly as far as the step would have.
TEST(TrainStep, SkippedBatchesAreTheStepsOwn) {
  set_cpu_threads(2);
  Harness skipped(tiny_config(2, 2)), trained(tiny_config(2, 2));
  trained.step.compute(1);
  const StepResult a = skipped.step.compute(2, /*skip_steps=*/1);
  const StepResult b = trained.step.compute(2);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.grad_norm, b.grad_norm);
}

}  // namespace
}  // namespace gatedlm
