// The NCCL communicator: collectives on CUDA device memory, for GPU tensors. Built only when
// CUDA is enabled (GATEDLM_HAVE_CUDA). NCCL's unique id travels over a host group (MPI), which
// also carries the host-memory calls (broadcast_bytes, all_to_all_counts, barrier).
// Every call but all_reduce_async waits for its stream, so on return the data is in place.
#pragma once

#include <memory>

#include "gatedlm/comm/communicator.h"

namespace gatedlm {

// An NCCL group over the ranks of `host_group`, each rank on CUDA device `device`.
// RuntimeFailure when CUDA or NCCL fails.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host_group,
                                                     int device);

}  // namespace gatedlm
