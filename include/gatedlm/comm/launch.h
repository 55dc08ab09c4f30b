// How this process learns its place: `mpirun -np N gatedlm ...` (Open MPI) and `srun` under
// Slurm (PMIx or PMI2) set environment variables that say so; MPI is then initialised once and
// the world communicator comes from MPI (rank and world size included). Anything else is a
// single-process run, exactly as before, with MPI never initialised.
#pragma once

#include <memory>

#include "gatedlm/comm/communicator.h"

namespace gatedlm {

// True when an MPI launcher started this process with more than one rank.
bool launched_by_mpi();

// The world group: MPI when launched_by_mpi() (initialising MPI on the first call and
// finalising it at exit), else the single-process communicator. Under MPI, log lines carry the
// rank and ranks other than 0 log only warnings and errors.
std::unique_ptr<Communicator> make_world_communicator();

// After an error on this rank: ends the whole job with `exit_code`, so that the other ranks do
// not wait forever in a collective. Returns at once when MPI was never initialised.
void abort_job_if_distributed(int exit_code);

}  // namespace gatedlm
