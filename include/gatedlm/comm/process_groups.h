// The world split into the groups of Megatron-style 3-D parallelism. Ranks are numbered
// rank = data_index * tensor + tensor_index: a tensor group is `tensor` consecutive ranks (one
// node's NVLink domain on a GPU cluster), a data group holds the ranks with the same
// tensor_index, and an expert group is `expert` consecutive members of a data group. The
// expert-data group holds the data ranks at the same place in their expert groups: they own the
// same experts, so expert gradients are summed over it (the rest over the data group).
#pragma once

#include <cstdint>
#include <memory>

#include "gatedlm/comm/communicator.h"

namespace gatedlm {

class ProcessGroups {
 public:
  // InputError when `tensor` does not divide the world size or `expert` the data-parallel size.
  ProcessGroups(std::unique_ptr<Communicator> world, int64_t tensor, int64_t expert);

  Communicator& world() { return *world_; }
  Communicator& tensor() { return *tensor_; }
  Communicator& data() { return *data_; }
  Communicator& expert() { return *expert_; }
  Communicator& expert_data() { return *expert_data_; }
  bool is_root() const { return world_->rank() == 0; }
  // Bytes this rank sent over all its groups so far.
  int64_t bytes_sent() const;

 private:
  std::unique_ptr<Communicator> world_, tensor_, data_, expert_, expert_data_;
};

}  // namespace gatedlm
