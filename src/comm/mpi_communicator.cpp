#include "gatedlm/comm/mpi_communicator.h"

#include <mpi.h>

#include <climits>
#include <string>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, message, &length);
  throw RuntimeFailure(std::string("MPI ") + what + " failed: " + std::string(message, length));
}

// MPI counts are ints: a larger message is a configuration the MPI path cannot carry.
int as_count(int64_t n, const char* what) {
  if (n > INT_MAX)
    throw RuntimeFailure(std::string("MPI ") + what + ": " + std::to_string(n) +
                         " elements exceed the int count limit");
  return static_cast<int>(n);
}

std::vector<int> as_counts(const std::vector<int64_t>& counts, const char* what) {
  std::vector<int> out;
  for (int64_t c : counts) out.push_back(as_count(c, what));
  return out;
}

std::vector<int> displacements(const std::vector<int>& counts) {
  std::vector<int> out(counts.size(), 0);
  for (size_t i = 1; i < counts.size(); ++i) out[i] = out[i - 1] + counts[i - 1];
  return out;
}

class MpiRequest final : public PendingCollective {
 public:
  explicit MpiRequest(MPI_Request request) : request_(request) {}
  ~MpiRequest() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  void wait() override { check_mpi(MPI_Wait(&request_, MPI_STATUS_IGNORE), "Wait"); }
  void progress() override {
    int done = 0;
    check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "Test");
  }

 private:
  MPI_Request request_;
};

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm` unless it is MPI_COMM_WORLD.
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm) {
    check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "Comm_set_errhandler");
    check_mpi(MPI_Comm_rank(comm_, &rank_), "Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "Comm_size");
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (comm_ != MPI_COMM_WORLD && !finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm child;
    check_mpi(MPI_Comm_split(comm_, color, key, &child), "Comm_split");
    return std::make_unique<MpiCommunicator>(child);
  }

 protected:
  static MPI_Datatype mpi_type(DataType type) {
    switch (type) {
      case DataType::f32:
        return MPI_FLOAT;
      case DataType::f64:
        return MPI_DOUBLE;
      case DataType::i64:
        return MPI_INT64_T;
      case DataType::bytes:
        return MPI_BYTE;
    }
    return MPI_BYTE;
  }

  void do_all_reduce(void* data, int64_t n, DataType type, ReduceOp op) override {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, as_count(n, "Allreduce"), mpi_type(type),
                            op == ReduceOp::sum ? MPI_SUM : MPI_MAX, comm_),
              "Allreduce");
  }

  std::unique_ptr<PendingCollective> do_all_reduce_async(float* data, int64_t n) override {
    MPI_Request request;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, as_count(n, "Iallreduce"), MPI_FLOAT, MPI_SUM,
                             comm_, &request),
              "Iallreduce");
    return std::make_unique<MpiRequest>(request);
  }

  void do_reduce_scatter(float* out, const float* in, const std::vector<int64_t>& counts) override {
    const std::vector<int> c = as_counts(counts, "Reduce_scatter");
    check_mpi(MPI_Reduce_scatter(in, out, c.data(), MPI_FLOAT, MPI_SUM, comm_), "Reduce_scatter");
  }

  void do_all_gather(float* data, const std::vector<int64_t>& counts) override {
    const std::vector<int> c = as_counts(counts, "Allgatherv");
    const std::vector<int> d = displacements(c);
    check_mpi(
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, data, c.data(), d.data(), MPI_FLOAT, comm_),
        "Allgatherv");
  }

  void do_broadcast(void* data, int64_t n, DataType type, int root) override {
    check_mpi(MPI_Bcast(data, as_count(n, "Bcast"), mpi_type(type), root, comm_), "Bcast");
  }

  void do_all_to_all_counts(const int64_t* send, int64_t* recv, int64_t per_peer) override {
    const int n = as_counts({per_peer}, "Alltoall")[0];
    check_mpi(MPI_Alltoall(send, n, MPI_INT64_T, recv, n, MPI_INT64_T, comm_), "Alltoall");
  }

  void do_all_to_allv(const float* send, const std::vector<int64_t>& send_counts, float* recv,
                      const std::vector<int64_t>& recv_counts) override {
    const std::vector<int> sc = as_counts(send_counts, "Alltoallv");
    const std::vector<int> rc = as_counts(recv_counts, "Alltoallv");
    const std::vector<int> sd = displacements(sc), rd = displacements(rc);
    check_mpi(MPI_Alltoallv(send, sc.data(), sd.data(), MPI_FLOAT, recv, rc.data(), rd.data(),
                            MPI_FLOAT, comm_),
              "Alltoallv");
  }

  void do_barrier() override { check_mpi(MPI_Barrier(comm_), "Barrier"); }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_world_communicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) throw RuntimeFailure("MPI communicator requested before MPI_Init");
  return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD);
}

}  // namespace gatedlm
