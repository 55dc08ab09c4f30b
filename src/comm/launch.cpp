#include "gatedlm/comm/launch.h"

#include <mpi.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

#include "gatedlm/core/error.h"
#include "gatedlm/comm/mpi_communicator.h"

namespace gatedlm {
namespace {

int64_t env_int(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::atoll(value) : 0;
}

// Initialises MPI on first use and finalises it when the program exits (after main returns,
// once every communicator is gone).
class MpiSession {
 public:
  static void ensure() { static MpiSession session; }

 private:
  MpiSession() {
    int provided = 0;
    // Only the main thread calls MPI (the async checkpoint writer never does).
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw RuntimeFailure("MPI_Init_thread failed");
  }
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
};

}  // namespace

bool launched_by_mpi() {
  // Open MPI's mpirun; srun with PMIx or PMI2 (SLURM_NTASKS alone also covers a batch script's
  // own process, which is why the launcher's variables are asked first).
  for (const char* size_var : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (env_int(size_var) > 1) return true;
  return std::getenv("PMIX_RANK") != nullptr && env_int("SLURM_NTASKS") > 1;
}

std::unique_ptr<Communicator> make_world_communicator() {
  if (!launched_by_mpi()) return make_single_process_communicator();
  MpiSession::ensure();
  std::unique_ptr<Communicator> world = make_mpi_world_communicator();
  // Rank 0 tells the story; the others speak up only for warnings and errors.
  spdlog::set_pattern(fmt::format("[%H:%M:%S] [rank {}] %^%l%$ %v", world->rank()));
  if (world->rank() != 0) spdlog::set_level(spdlog::level::warn);
  return world;
}

void abort_job_if_distributed(int exit_code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return;
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
}

}  // namespace gatedlm
