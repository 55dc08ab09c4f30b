#include <cuda_runtime.h>
#include <nccl.h>

#include <string>
#include <vector>

#include "gatedlm/core/error.h"
#include "gatedlm/comm/nccl_communicator.h"

namespace gatedlm {
namespace {

void check_cuda(cudaError_t code, const char* what) {
  if (code != cudaSuccess)
    throw RuntimeFailure(std::string("CUDA ") + what + " failed: " + cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const char* what) {
  if (code != ncclSuccess)
    throw RuntimeFailure(std::string("NCCL ") + what + " failed: " + ncclGetErrorString(code));
}

bool uniform(const std::vector<int64_t>& counts) {
  for (int64_t c : counts)
    if (c != counts[0]) return false;
  return true;
}

std::vector<int64_t> offsets(const std::vector<int64_t>& counts) {
  std::vector<int64_t> out(counts.size(), 0);
  for (size_t i = 1; i < counts.size(); ++i) out[i] = out[i - 1] + counts[i - 1];
  return out;
}

// A collective enqueued on the communicator's stream: an event recorded after it.
class NcclPending final : public PendingCollective {
 public:
  explicit NcclPending(cudaStream_t stream) {
    check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done_, stream), "cudaEventRecord");
  }
  ~NcclPending() override {
    cudaEventSynchronize(done_);
    cudaEventDestroy(done_);
  }
  void wait() override { check_cuda(cudaEventSynchronize(done_), "cudaEventSynchronize"); }

 private:
  cudaEvent_t done_ = nullptr;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> host_group, int device)
      : host_(std::move(host_group)), device_(device) {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    ncclUniqueId id;
    if (host_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    host_->broadcast_bytes(&id, sizeof(id), 0);
    check_nccl(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~NcclCommunicator() override {
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string name() const override { return "nccl"; }
  std::unique_ptr<Communicator> split(int color, int key) override {
    return std::make_unique<NcclCommunicator>(host_->split(color, key), device_);
  }

 protected:
  static ncclDataType_t nccl_type(DataType type) {
    switch (type) {
      case DataType::f32:
        return ncclFloat32;
      case DataType::f64:
        return ncclFloat64;
      case DataType::i64:
        return ncclInt64;
      case DataType::bytes:
        return ncclUint8;
    }
    return ncclUint8;
  }

  // Device buffers may still be written by kernels on the default stream: order after them,
  // then wait, so that on return the result is in place.
  template <typename Enqueue>
  void run(const char* what, Enqueue enqueue) {
    check_cuda(cudaDeviceSynchronize(), what);
    check_nccl(enqueue(), what);
    check_cuda(cudaStreamSynchronize(stream_), what);
  }

  void do_all_reduce(void* data, int64_t n, DataType type, ReduceOp op) override {
    run("ncclAllReduce", [&] {
      return ncclAllReduce(data, data, static_cast<size_t>(n), nccl_type(type),
                           op == ReduceOp::sum ? ncclSum : ncclMax, comm_, stream_);
    });
  }

  // Ordered after the kernels that wrote the data; returns before the reduction completes.
  std::unique_ptr<PendingCollective> do_all_reduce_async(float* data, int64_t n) override {
    check_cuda(cudaDeviceSynchronize(), "ncclAllReduce");
    check_nccl(
        ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, ncclSum, comm_, stream_),
        "ncclAllReduce");
    return std::make_unique<NcclPending>(stream_);
  }

  void do_reduce_scatter(float* out, const float* in, const std::vector<int64_t>& counts) override {
    if (uniform(counts)) {
      run("ncclReduceScatter", [&] {
        return ncclReduceScatter(in, out, static_cast<size_t>(counts[0]), ncclFloat32, ncclSum,
                                 comm_, stream_);
      });
      return;
    }
    // Uneven blocks: one reduce per owner, fused into one launch by the group.
    const std::vector<int64_t> off = offsets(counts);
    run("ncclReduce", [&] {
      ncclGroupStart();
      for (int r = 0; r < size(); ++r) {
        const ncclResult_t code = ncclReduce(in + off[r], out, static_cast<size_t>(counts[r]),
                                             ncclFloat32, ncclSum, r, comm_, stream_);
        if (code != ncclSuccess) {
          ncclGroupEnd();
          return code;
        }
      }
      return ncclGroupEnd();
    });
  }

  void do_all_gather(float* data, const std::vector<int64_t>& counts) override {
    const std::vector<int64_t> off = offsets(counts);
    if (uniform(counts)) {
      run("ncclAllGather", [&] {
        return ncclAllGather(data + off[rank()], data, static_cast<size_t>(counts[0]), ncclFloat32,
                             comm_, stream_);
      });
      return;
    }
    run("ncclBroadcast", [&] {
      ncclGroupStart();
      for (int r = 0; r < size(); ++r) {
        const ncclResult_t code =
            ncclBroadcast(data + off[r], data + off[r], static_cast<size_t>(counts[r]), ncclFloat32,
                          r, comm_, stream_);
        if (code != ncclSuccess) {
          ncclGroupEnd();
          return code;
        }
      }
      return ncclGroupEnd();
    });
  }

  void do_broadcast(void* data, int64_t n, DataType type, int root) override {
    if (type == DataType::bytes) {  // host memory by contract
      host_->broadcast_bytes(data, n, root);
      return;
    }
    run("ncclBroadcast", [&] {
      return ncclBroadcast(data, data, static_cast<size_t>(n), nccl_type(type), root, comm_,
                           stream_);
    });
  }

  void do_all_to_all_counts(const int64_t* send, int64_t* recv, int64_t per_peer) override {
    host_->all_to_all_counts(send, recv, per_peer);
  }

  void do_all_to_allv(const float* send, const std::vector<int64_t>& send_counts, float* recv,
                      const std::vector<int64_t>& recv_counts) override {
    const std::vector<int64_t> send_off = offsets(send_counts), recv_off = offsets(recv_counts);
    run("ncclSend/ncclRecv", [&] {
      ncclGroupStart();
      for (int r = 0; r < size(); ++r) {
        ncclResult_t code = ncclSend(send + send_off[r], static_cast<size_t>(send_counts[r]),
                                     ncclFloat32, r, comm_, stream_);
        if (code == ncclSuccess)
          code = ncclRecv(recv + recv_off[r], static_cast<size_t>(recv_counts[r]), ncclFloat32, r,
                          comm_, stream_);
        if (code != ncclSuccess) {
          ncclGroupEnd();
          return code;
        }
      }
      return ncclGroupEnd();
    });
  }

  void do_barrier() override {
    check_cuda(cudaDeviceSynchronize(), "barrier");
    host_->barrier();
  }

 private:
  std::unique_ptr<Communicator> host_;
  int device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host_group,
                                                     int device) {
  return std::make_unique<NcclCommunicator>(std::move(host_group), device);
}

}  // namespace gatedlm
