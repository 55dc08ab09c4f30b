#include "gatedlm/comm/communicator.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace gatedlm {

int64_t Communicator::element_size(DataType type) {
  switch (type) {
    case DataType::f32:
      return 4;
    case DataType::f64:
    case DataType::i64:
      return 8;
    case DataType::bytes:
      return 1;
  }
  return 1;
}

int64_t Communicator::check_counts(const std::vector<int64_t>& counts, const char* what) const {
  if (static_cast<int>(counts.size()) != size())
    throw std::invalid_argument(
        fmt::format("{}: {} counts for a group of {} ranks", what, counts.size(), size()));
  int64_t total = 0;
  for (int64_t c : counts) {
    if (c < 0) throw std::invalid_argument(fmt::format("{}: negative count {}", what, c));
    total += c;
  }
  return total;
}

void Communicator::count(int64_t bytes) {
  stats_.bytes_sent += bytes;
  ++stats_.calls;
}

void Communicator::all_reduce(float* data, int64_t n, ReduceOp op) {
  const int p = size();
  count(p > 1 ? 2 * (p - 1) * n * 4 / p : 0);
  do_all_reduce(data, n, DataType::f32, op);
}

void Communicator::all_reduce(double* data, int64_t n, ReduceOp op) {
  const int p = size();
  count(p > 1 ? 2 * (p - 1) * n * 8 / p : 0);
  do_all_reduce(data, n, DataType::f64, op);
}

namespace {

struct CompletedCollective final : PendingCollective {
  void wait() override {}
};

}  // namespace

std::unique_ptr<PendingCollective> Communicator::all_reduce_async(float* data, int64_t n) {
  const int p = size();
  count(p > 1 ? 2 * (p - 1) * n * 4 / p : 0);
  return do_all_reduce_async(data, n);
}

std::unique_ptr<PendingCollective> Communicator::do_all_reduce_async(float* data, int64_t n) {
  do_all_reduce(data, n, DataType::f32, ReduceOp::sum);
  return std::make_unique<CompletedCollective>();
}

void Communicator::reduce_scatter(float* out, const float* in, const std::vector<int64_t>& counts) {
  const int64_t total = check_counts(counts, "reduce_scatter");
  count((total - counts[rank()]) * 4);
  do_reduce_scatter(out, in, counts);
}

void Communicator::all_gather(float* data, const std::vector<int64_t>& counts) {
  const int64_t total = check_counts(counts, "all_gather");
  count((total - counts[rank()]) * 4);
  do_all_gather(data, counts);
}

void Communicator::broadcast(float* data, int64_t n, int root) {
  count(size() > 1 && rank() == root ? n * 4 : 0);
  do_broadcast(data, n, DataType::f32, root);
}

void Communicator::broadcast_bytes(void* data, int64_t bytes, int root) {
  count(size() > 1 && rank() == root ? bytes : 0);
  do_broadcast(data, bytes, DataType::bytes, root);
}

void Communicator::all_to_all_counts(const int64_t* send, int64_t* recv, int64_t per_peer) {
  count((size() - 1) * per_peer * 8);
  do_all_to_all_counts(send, recv, per_peer);
}

void Communicator::all_to_allv(const float* send, const std::vector<int64_t>& send_counts,
                               float* recv, const std::vector<int64_t>& recv_counts) {
  const int64_t sent = check_counts(send_counts, "all_to_allv send");
  check_counts(recv_counts, "all_to_allv recv");
  count((sent - send_counts[rank()]) * 4);
  do_all_to_allv(send, send_counts, recv, recv_counts);
}

void Communicator::barrier() {
  count(0);
  do_barrier();
}

namespace {

// Host memory. One rank: reductions and gathers leave the data as it is; out-of-place calls copy.
class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "single"; }
  std::unique_ptr<Communicator> split(int, int) override {
    return std::make_unique<SingleProcessCommunicator>();
  }

 protected:
  void do_all_reduce(void*, int64_t, DataType, ReduceOp) override {}
  void do_reduce_scatter(float* out, const float* in, const std::vector<int64_t>& counts) override {
    if (out != in) std::memmove(out, in, static_cast<size_t>(counts[0]) * 4);
  }
  void do_all_gather(float*, const std::vector<int64_t>&) override {}
  void do_broadcast(void*, int64_t, DataType, int) override {}
  void do_all_to_all_counts(const int64_t* send, int64_t* recv, int64_t per_peer) override {
    if (send != recv) std::memmove(recv, send, static_cast<size_t>(per_peer) * 8);
  }
  void do_all_to_allv(const float* send, const std::vector<int64_t>& send_counts, float* recv,
                      const std::vector<int64_t>& recv_counts) override {
    if (send_counts[0] != recv_counts[0])
      throw std::invalid_argument("all_to_allv: one rank sends and receives different counts");
    if (send != recv) std::memmove(recv, send, static_cast<size_t>(send_counts[0]) * 4);
  }
  void do_barrier() override {}
};

}  // namespace

void broadcast_string(Communicator& comm, std::string& text, int root) {
  int64_t length = static_cast<int64_t>(text.size());
  comm.broadcast_bytes(&length, sizeof(length), root);
  text.resize(static_cast<size_t>(length));
  comm.broadcast_bytes(text.data(), length, root);
}

std::unique_ptr<Communicator> make_single_process_communicator() {
  return std::make_unique<SingleProcessCommunicator>();
}

}  // namespace gatedlm
