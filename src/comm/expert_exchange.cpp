#include "gatedlm/comm/expert_exchange.h"

namespace gatedlm {
namespace {

std::vector<int64_t> scaled(const std::vector<int64_t>& rows, int64_t width) {
  std::vector<int64_t> out(rows);
  for (int64_t& n : out) n *= width;
  return out;
}

}  // namespace

ExpertRoute ExpertExchange::plan(const std::vector<int64_t>& expert_offset) const {
  const int64_t num_experts = static_cast<int64_t>(expert_offset.size()) - 1;
  const int64_t per_rank = local_experts(num_experts), ranks = size();
  std::vector<int64_t> sent(static_cast<size_t>(num_experts));
  for (int64_t e = 0; e < num_experts; ++e) sent[e] = expert_offset[e + 1] - expert_offset[e];
  // received[s * per_rank + l]: rows rank s sends for local expert l.
  std::vector<int64_t> received = sent;
  if (distributed()) group_->all_to_all_counts(sent.data(), received.data(), per_rank);
  ExpertRoute route;
  route.send_rows.assign(static_cast<size_t>(ranks), 0);
  route.recv_rows.assign(static_cast<size_t>(ranks), 0);
  for (int64_t s = 0; s < ranks; ++s) {
    for (int64_t l = 0; l < per_rank; ++l) {
      const int64_t n = received[s * per_rank + l];
      route.send_rows[s] += sent[s * per_rank + l];
      route.recv_rows[s] += n;
      if (n > 0) route.chunks.push_back({l, route.received, n});
      route.received += n;
    }
  }
  return route;
}

void ExpertExchange::dispatch(const ExpertRoute& route, const float* rows, float* received,
                              int64_t width) const {
  group_->all_to_allv(rows, scaled(route.send_rows, width), received,
                      scaled(route.recv_rows, width));
}

void ExpertExchange::combine(const ExpertRoute& route, const float* received, float* rows,
                             int64_t width) const {
  group_->all_to_allv(received, scaled(route.recv_rows, width), rows,
                      scaled(route.send_rows, width));
}

}  // namespace gatedlm
