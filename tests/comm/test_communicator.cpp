// Communicator collectives against values computed by hand, on whatever world launched it:
// ctest runs it as one process and under `mpirun -np 3` (uneven blocks, three-way splits).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "gatedlm/core/error.h"
#include "gatedlm/comm/launch.h"
#include "gatedlm/comm/process_groups.h"

namespace gatedlm {
namespace {

Communicator* world = nullptr;

// Block r has r + 1 elements: no two ranks have the same count.
std::vector<int64_t> uneven_counts(int ranks) {
  std::vector<int64_t> counts;
  for (int r = 0; r < ranks; ++r) counts.push_back(r + 1);
  return counts;
}

TEST(Communicator, AllReduceSumAndMax) {
  const int p = world->size(), r = world->rank();
  std::vector<float> f = {static_cast<float>(r), 1.0f};
  world->all_reduce(f.data(), 2);
  EXPECT_EQ(f[0], static_cast<float>(p * (p - 1) / 2));
  EXPECT_EQ(f[1], static_cast<float>(p));
  double d = 0.5 * r;
  world->all_reduce(&d, 1, ReduceOp::max);
  EXPECT_EQ(d, 0.5 * (p - 1));
}

TEST(Communicator, AllReduceAsyncOverlapsAndCountsBytes) {
  std::unique_ptr<Communicator> group = world->split(0, world->rank());
  const int p = group->size(), r = group->rank();
  // Two reductions in flight at once, waited for in the opposite order.
  std::vector<float> a(100, static_cast<float>(r)), b(7, 1.0f);
  auto first = group->all_reduce_async(a.data(), 100);
  auto second = group->all_reduce_async(b.data(), 7);
  first->progress();
  second->wait();
  first->wait();
  EXPECT_EQ(a[99], static_cast<float>(p * (p - 1) / 2));
  EXPECT_EQ(b[0], static_cast<float>(p));
  EXPECT_EQ(group->stats().bytes_sent, p > 1 ? 2 * (p - 1) * 107 * 4 / p : 0);
}

TEST(Communicator, ReduceScatterUnevenBlocks) {
  const int p = world->size(), r = world->rank();
  const std::vector<int64_t> counts = uneven_counts(p);
  const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  std::vector<float> in(total);
  for (int64_t i = 0; i < total; ++i) in[i] = static_cast<float>(i * (r + 1));
  std::vector<float> out(counts[r]);
  world->reduce_scatter(out.data(), in.data(), counts);
  const int64_t begin = static_cast<int64_t>(r) * (r + 1) / 2;
  for (int64_t i = 0; i < counts[r]; ++i)  // sum over ranks q of (begin+i)*(q+1)
    EXPECT_EQ(out[i], static_cast<float>((begin + i) * p * (p + 1) / 2));
}

TEST(Communicator, AllGatherInPlaceUnevenBlocks) {
  const int p = world->size(), r = world->rank();
  const std::vector<int64_t> counts = uneven_counts(p);
  const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  std::vector<float> data(total, -1.0f);
  const int64_t begin = static_cast<int64_t>(r) * (r + 1) / 2;
  for (int64_t i = 0; i < counts[r]; ++i) data[begin + i] = static_cast<float>(100 * r + i);
  world->all_gather(data.data(), counts);
  int64_t at = 0;
  for (int q = 0; q < p; ++q)
    for (int64_t i = 0; i < counts[q]; ++i) EXPECT_EQ(data[at++], static_cast<float>(100 * q + i));
}

TEST(Communicator, BroadcastFromLastRank) {
  const int root = world->size() - 1;
  std::vector<float> data(3, static_cast<float>(world->rank()));
  world->broadcast(data.data(), 3, root);
  for (float v : data) EXPECT_EQ(v, static_cast<float>(root));
  std::string text = world->rank() == 0 ? "checkpoint-dir" : "..............";
  world->broadcast_bytes(text.data(), static_cast<int64_t>(text.size()), 0);
  EXPECT_EQ(text, "checkpoint-dir");
}

TEST(Communicator, AllToAllvWithCountsExchangedFirst) {
  // Rank r sends q + r + 1 copies of (10 r + q) to rank q.
  const int p = world->size(), r = world->rank();
  std::vector<int64_t> send_counts(p), recv_counts(p);
  std::vector<float> send;
  for (int q = 0; q < p; ++q) {
    send_counts[q] = q + r + 1;
    send.insert(send.end(), send_counts[q], static_cast<float>(10 * r + q));
  }
  world->all_to_all_counts(send_counts.data(), recv_counts.data());
  for (int q = 0; q < p; ++q) EXPECT_EQ(recv_counts[q], q + r + 1);
  std::vector<float> recv(std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0}));
  world->all_to_allv(send.data(), send_counts, recv.data(), recv_counts);
  int64_t at = 0;
  for (int q = 0; q < p; ++q)
    for (int64_t i = 0; i < recv_counts[q]; ++i) EXPECT_EQ(recv[at++], 10.0f * q + r);
}

TEST(Communicator, AllToAllSeveralCountsPerPeer) {
  // Rank r sends rank q the three counts 100 r + 10 q + j (expert dispatch: one per expert).
  const int p = world->size(), r = world->rank();
  std::vector<int64_t> send, recv(3 * p, -1);
  for (int q = 0; q < p; ++q)
    for (int j = 0; j < 3; ++j) send.push_back(100 * r + 10 * q + j);
  const int64_t bytes_before = world->stats().bytes_sent;
  world->all_to_all_counts(send.data(), recv.data(), 3);
  for (int q = 0; q < p; ++q)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(recv[3 * q + j], 100 * q + 10 * r + j);
  EXPECT_EQ(world->stats().bytes_sent - bytes_before, (p - 1) * 3 * 8);
}

TEST(Communicator, CountsRingBytes) {
  std::unique_ptr<Communicator> group = world->split(0, world->rank());
  const int p = group->size();
  std::vector<float> data(300, 1.0f);
  group->all_reduce(data.data(), 300);
  group->barrier();
  EXPECT_EQ(group->stats().bytes_sent, p > 1 ? 2 * (p - 1) * 300 * 4 / p : 0);
  EXPECT_EQ(group->stats().calls, 2);
}

TEST(ProcessGroups, TensorGroupsAreConsecutiveRanks) {
  const int p = world->size();
  const int64_t tensor = p % 2 == 0 ? 2 : 1;
  ProcessGroups groups(world->split(0, world->rank()), tensor, 1);
  const int r = groups.world().rank();
  EXPECT_EQ(groups.tensor().size(), tensor);
  EXPECT_EQ(groups.tensor().rank(), r % tensor);
  EXPECT_EQ(groups.data().size(), p / tensor);
  EXPECT_EQ(groups.data().rank(), r / tensor);
  // The data group sums over ranks with the same tensor index.
  float v = static_cast<float>(r);
  groups.data().all_reduce(&v, 1);
  float expected = 0.0f;
  for (int q = r % tensor; q < p; q += static_cast<int>(tensor)) expected += static_cast<float>(q);
  EXPECT_EQ(v, expected);
}

TEST(ProcessGroups, ExpertGroupsSplitTheDataGroup) {
  // Every rank in one expert group: each owns different experts, none shares them.
  const int p = world->size();
  ProcessGroups groups(world->split(0, world->rank()), 1, p);
  EXPECT_EQ(groups.expert().size(), p);
  EXPECT_EQ(groups.expert().rank(), groups.world().rank());
  EXPECT_EQ(groups.expert_data().size(), 1);
  // Expert size 1: the expert-data group is the data group.
  ProcessGroups plain(world->split(0, world->rank()), 1, 1);
  EXPECT_EQ(plain.expert().size(), 1);
  EXPECT_EQ(plain.expert_data().size(), p);
  EXPECT_EQ(plain.expert_data().rank(), plain.data().rank());
}

TEST(ProcessGroups, RejectsATensorSizeThatDoesNotDivideTheWorld) {
  EXPECT_THROW(ProcessGroups(world->split(0, world->rank()), world->size() + 1, 1), InputError);
}

}  // namespace
}  // namespace gatedlm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::unique_ptr<gatedlm::Communicator> world = gatedlm::make_world_communicator();
  gatedlm::world = world.get();
  const int failed = RUN_ALL_TESTS();
  // Every rank must see every rank's verdict, or mpirun exits 0 when only rank 1 failed.
  double any_failed = failed ? 1.0 : 0.0;
  world->all_reduce(&any_failed, 1, gatedlm::ReduceOp::max);
  return any_failed > 0 ? 1 : 0;
}
