// The MPI communicator (Open MPI): collectives on host memory, for CPU tensors, and the
// bootstrap channel of the NCCL communicator. Needs MPI initialised (comm/launch.h does it).
#pragma once

#include <memory>

#include "gatedlm/comm/communicator.h"

namespace gatedlm {

// A communicator over MPI_COMM_WORLD. RuntimeFailure when MPI is not initialised.
std::unique_ptr<Communicator> make_mpi_world_communicator();

}  // namespace gatedlm
