// DataParallel's overlap schedule against a recording two-rank group: a bucket's all-reduce
// starts exactly when backward has reported every parameter in it, from the last bucket down,
// and reduce_gradients() starts the rest and waits for all; without overlap the same buckets
// start only in reduce_gradients().
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/parallel/data_parallel.h"
#include "silent_group.h"

namespace gatedlm {
namespace {

// A group of two whose collectives change nothing; it records the async all-reduces it starts
// (offset into `base`, length) and how many of them were waited for.
class RecordingGroup final : public SilentGroup {
 public:
  explicit RecordingGroup(const float* base) : base_(base) {}

  std::vector<std::pair<int64_t, int64_t>> started;
  int waited = 0;

 protected:
  struct Pending final : PendingCollective {
    explicit Pending(int& waited) : waited(waited) {}
    void wait() override { ++waited; }
    int& waited;
  };
  std::unique_ptr<PendingCollective> do_all_reduce_async(float* data, int64_t n) override {
    started.emplace_back(data - base_, n);
    return std::make_unique<Pending>(waited);
  }

 private:
  const float* base_;
};

struct Model {
  std::unique_ptr<Backend> backend = make_cpu_backend();
  ParameterSet params;
  Model() {
    // Offsets 0, 12, 20, 35: four "layers" of 12, 8, 15 and 5 floats (40 in all).
    for (auto [name, n] : {std::pair{"a", 12}, {"b", 8}, {"c", 15}, {"d", 5}})
      params.add(name, {n}, norm_spec());
    params.allocate(*backend);
  }
};

using Starts = std::vector<std::pair<int64_t, int64_t>>;

TEST(DataParallelOverlap, BucketsStartAsBackwardReportsThemFromTheTop) {
  Model m;
  AdamW optimizer(OptimizerConfig{}, m.params);
  RecordingGroup group(m.params.grads().data());
  DataParallel dp(group, m.params, optimizer, {}, 10, true);  // buckets [0,10) .. [30,40)
  ASSERT_TRUE(dp.overlaps());
  dp.gradients_ready(35);  // only "d": no bucket lies wholly at >= 35
  EXPECT_TRUE(group.started.empty());
  dp.gradients_ready(20);  // "c" and "d": buckets [30,40) then [20,30)
  EXPECT_EQ(group.started, (Starts{{30, 10}, {20, 10}}));
  dp.gradients_ready(20);  // reported twice: nothing new
  EXPECT_EQ(group.started.size(), 2u);
  EXPECT_EQ(group.waited, 0);
  dp.gradients_ready(12);  // [10,20) still holds part of "a"
  EXPECT_EQ(group.started.size(), 2u);
  dp.reduce_gradients();  // the rest, then waits for all four
  EXPECT_EQ(group.started, (Starts{{30, 10}, {20, 10}, {10, 10}, {0, 10}}));
  EXPECT_EQ(group.waited, 4);

  // The next step starts over.
  dp.gradients_ready(0);
  EXPECT_EQ(group.started.size(), 8u);
  dp.reduce_gradients();
  EXPECT_EQ(group.waited, 8);
}

TEST(DataParallelOverlap, WithoutOverlapTheSameBucketsStartAfterBackward) {
  Model m;
  AdamW optimizer(OptimizerConfig{}, m.params);
  RecordingGroup group(m.params.grads().data());
  DataParallel dp(group, m.params, optimizer, {}, 16, false);  // a last, short bucket [32,40)
  EXPECT_FALSE(dp.overlaps());
  dp.reduce_gradients();
  EXPECT_EQ(group.started, (Starts{{32, 8}, {16, 16}, {0, 16}}));
  EXPECT_EQ(group.waited, 3);
}

}  // namespace
}  // namespace gatedlm
