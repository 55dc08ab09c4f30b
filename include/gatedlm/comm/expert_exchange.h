// Expert parallelism as an MoE layer sees it. The routed experts of every MoE layer are split
// evenly over the ranks of an expert group (rank r owns experts [r E/p, (r+1) E/p)); the router
// stays replicated, so each rank routes its own tokens. Rows sorted by expert on the sender are
// therefore also sorted by owner: dispatch exchanges the row counts per expert first (one
// all-to-all of counts), then the rows (all_to_allv); each owner runs its experts over what it
// received and combine sends the results back the same way. Without a group (expert size 1)
// every expert is local and both exchanges are no-ops. docs/parallelism.md.
#pragma once

#include <cstdint>
#include <vector>

#include "gatedlm/comm/communicator.h"

namespace gatedlm {

// The rows one local expert runs over: a contiguous block of the received rows.
struct ExpertChunk {
  int64_t expert;  // local index, 0 <= expert < experts per rank
  int64_t begin, rows;
};

// One MoE layer's exchange in one forward (kept for its backward). Received rows are ordered by
// source rank, then by expert within each source (the order the source sorted them in).
struct ExpertRoute {
  std::vector<int64_t> send_rows, recv_rows;  // per rank of the expert group
  std::vector<ExpertChunk> chunks;            // non-empty (source, local expert) blocks
  int64_t received = 0;                       // rows this rank's experts run over
};

class ExpertExchange {
 public:
  ExpertExchange() = default;  // every expert local
  explicit ExpertExchange(Communicator* group) : group_(group) {}

  int size() const { return group_ ? group_->size() : 1; }
  int rank() const { return group_ ? group_->rank() : 0; }
  bool distributed() const { return size() > 1; }
  int64_t local_experts(int64_t num_experts) const { return num_experts / size(); }
  int64_t first_expert(int64_t num_experts) const { return rank() * local_experts(num_experts); }

  // Collective. expert_offset [num_experts + 1]: this rank's rows sorted by expert (expert e owns
  // rows [o[e], o[e+1])). Sends every owner the counts of its experts and plans both exchanges.
  ExpertRoute plan(const std::vector<int64_t>& expert_offset) const;
  // Collective: this rank's expert-sorted rows [sum send_rows, width] go to their experts'
  // owners; `received` [route.received, width] gets the rows sent here. Distributed only.
  void dispatch(const ExpertRoute& route, const float* rows, float* received, int64_t width) const;
  // The reverse: each received row's result goes back to its sender's expert-sorted order.
  void combine(const ExpertRoute& route, const float* received, float* rows, int64_t width) const;

 private:
  Communicator* group_ = nullptr;
};

}  // namespace gatedlm
