// Communicator: the collectives the parallel engine needs, over one group of processes. The
// implementations wrap existing collective libraries (never sockets of our own): single-process
// (no-ops), MPI (host memory: the CPU backend) and NCCL (device memory: the CUDA backend).
// Buffers live where the group's backend keeps tensors. Every call is collective: all ranks of
// the group make the same calls in the same order.
//
// Public calls count the bytes this rank sends, as the ring algorithms NCCL and Open MPI use for
// large messages do (all_reduce 2(p-1)/p of the buffer, reduce_scatter and all_gather the other
// ranks' blocks, broadcast the buffer, all_to_allv what goes to other ranks); docs/parallelism.md
// builds its scaling model on the same counts.
// (C++17: the NCCL implementation is compiled by nvcc.)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gatedlm {

enum class ReduceOp { sum, max };

struct CommStats {
  int64_t bytes_sent = 0;
  int64_t calls = 0;
};

// A non-blocking collective in flight: its buffer must stay untouched until wait() returns.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void wait() = 0;
  // Lets the library advance it (MPI progresses non-blocking collectives inside MPI calls).
  virtual void progress() {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "single", "mpi", "nccl"

  void all_reduce(float* data, int64_t n, ReduceOp op = ReduceOp::sum);
  void all_reduce(double* data, int64_t n, ReduceOp op = ReduceOp::sum);
  // Starts a sum all_reduce and returns at once (MPI_Iallreduce, NCCL on its stream): the data
  // is reduced once wait() returns. Same result as starting it and waiting at once.
  std::unique_ptr<PendingCollective> all_reduce_async(float* data, int64_t n);
  // `in` holds size() consecutive blocks, block r of counts[r] elements; `out` (not overlapping
  // `in`) receives this rank's block of the elementwise sum over ranks.
  void reduce_scatter(float* out, const float* in, const std::vector<int64_t>& counts);
  // In place: `data` holds size() consecutive blocks (block r of counts[r] elements); this
  // rank's block is already in place, the others arrive from their owners.
  void all_gather(float* data, const std::vector<int64_t>& counts);
  void broadcast(float* data, int64_t n, int root);
  // Host memory in every implementation (small control messages: ids, paths).
  void broadcast_bytes(void* data, int64_t bytes, int root);
  // Exchanges `per_peer` counts with every peer (host memory): send holds size() blocks of
  // per_peer counts, block r for rank r; recv block r is what rank r sent here. The first half of
  // every all_to_allv, so receivers can size their buffers (per expert: per_peer = its experts).
  void all_to_all_counts(const int64_t* send, int64_t* recv, int64_t per_peer = 1);
  // send holds size() consecutive blocks (send_counts[r] elements for rank r); recv receives
  // recv_counts[r] elements from rank r, in rank order. Expert-parallel dispatch and combine.
  void all_to_allv(const float* send, const std::vector<int64_t>& send_counts, float* recv,
                   const std::vector<int64_t>& recv_counts);
  void barrier();
  // The ranks of this group that pass the same color form a new group, ordered by key.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  const CommStats& stats() const { return stats_; }

 protected:
  enum class DataType { f32, f64, i64, bytes };
  virtual void do_all_reduce(void* data, int64_t n, DataType type, ReduceOp op) = 0;
  virtual void do_reduce_scatter(float* out, const float* in,
                                 const std::vector<int64_t>& counts) = 0;
  virtual void do_all_gather(float* data, const std::vector<int64_t>& counts) = 0;
  virtual void do_broadcast(void* data, int64_t n, DataType type, int root) = 0;
  virtual void do_all_to_all_counts(const int64_t* send, int64_t* recv, int64_t per_peer) = 0;
  virtual void do_all_to_allv(const float* send, const std::vector<int64_t>& send_counts,
                              float* recv, const std::vector<int64_t>& recv_counts) = 0;
  virtual void do_barrier() = 0;
  // Default: a blocking all_reduce, complete when it returns.
  virtual std::unique_ptr<PendingCollective> do_all_reduce_async(float* data, int64_t n);
  static int64_t element_size(DataType type);
  // Checks counts.size() == size() and every count >= 0; returns their sum.
  int64_t check_counts(const std::vector<int64_t>& counts, const char* what) const;

 private:
  void count(int64_t bytes);
  CommStats stats_;
};

// Rank `root`'s string on every rank (host memory; length first).
void broadcast_string(Communicator& comm, std::string& text, int root);

// One process: every collective leaves the data as it is (the sum over one rank).
std::unique_ptr<Communicator> make_single_process_communicator();

}  // namespace gatedlm
