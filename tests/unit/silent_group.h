// A communicator of `size` ranks whose collectives change nothing: enough to build a shard of
// a model, or to drive code whose collectives a test records or does not care about.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gatedlm/comm/communicator.h"

namespace gatedlm {

class SilentGroup : public Communicator {
 public:
  explicit SilentGroup(int size = 2, int rank = 0) : size_(size), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "silent"; }
  std::unique_ptr<Communicator> split(int, int) override { return nullptr; }

 protected:
  void do_all_reduce(void*, int64_t, DataType, ReduceOp) override {}
  void do_reduce_scatter(float*, const float*, const std::vector<int64_t>&) override {}
  void do_all_gather(float*, const std::vector<int64_t>&) override {}
  void do_broadcast(void*, int64_t, DataType, int) override {}
  void do_all_to_all_counts(const int64_t*, int64_t*, int64_t) override {}
  void do_all_to_allv(const float*, const std::vector<int64_t>&, float*,
                      const std::vector<int64_t>&) override {}
  void do_barrier() override {}

 private:
  int size_, rank_;
};

}  // namespace gatedlm
