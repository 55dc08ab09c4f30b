#include "gatedlm/comm/process_groups.h"

#include <fmt/format.h>

#include "gatedlm/core/error.h"

namespace gatedlm {

ProcessGroups::ProcessGroups(std::unique_ptr<Communicator> world, int64_t tensor, int64_t expert)
    : world_(std::move(world)) {
  const int world_size = world_->size(), rank = world_->rank();
  if (tensor < 1 || world_size % tensor != 0)
    throw InputError(
        fmt::format("parallel.tensor: expected a divisor of the {} processes launched, got {}",
                    world_size, tensor));
  const int64_t data_size = world_size / tensor;
  if (expert < 1 || data_size % expert != 0)
    throw InputError(fmt::format(
        "parallel.expert: expected a divisor of the data-parallel size {} (= {} processes / "
        "parallel.tensor {}), got {}",
        data_size, world_size, tensor, expert));
  const int tensor_index = static_cast<int>(rank % tensor);
  const int data_index = static_cast<int>(rank / tensor);
  tensor_ = world_->split(data_index, tensor_index);
  data_ = world_->split(tensor_index, data_index);
  expert_ = world_->split(static_cast<int>(tensor_index + tensor * (data_index / expert)),
                          static_cast<int>(data_index % expert));
  expert_data_ = world_->split(static_cast<int>(tensor_index + tensor * (data_index % expert)),
                               static_cast<int>(data_index / expert));
}

int64_t ProcessGroups::bytes_sent() const {
  return world_->stats().bytes_sent + tensor_->stats().bytes_sent + data_->stats().bytes_sent +
         expert_->stats().bytes_sent + expert_data_->stats().bytes_sent;
}

}  // namespace gatedlm
