#include "gatedlm/parallel/data_parallel.h"

#include <algorithm>
#include <cmath>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

void all_reduce_in_buckets(Communicator& group, float* data, int64_t n, int64_t bucket) {
  for (int64_t at = 0; at < n; at += bucket) group.all_reduce(data + at, std::min(bucket, n - at));
}

// RuntimeFailure unless `value` (a sum of squares of parameters) is the same on every rank.
void check_same_everywhere(Communicator& group, double value) {
  double extremes[2] = {value, -value};  // max and -min in one call
  group.all_reduce(extremes, 2, ReduceOp::max);
  if (extremes[0] != -extremes[1])
    throw RuntimeFailure("data-parallel ranks hold different parameters (sum of squares from " +
                         std::to_string(-extremes[1]) + " to " + std::to_string(extremes[0]) +
                         "); their updates diverged");
}

}  // namespace

DataParallel::DataParallel(Communicator& data, ParameterSet& params, const AdamW& optimizer,
                           const TensorParallel& tp, int64_t bucket_elements, bool overlap,
                           const ExpertGroups& ep)
    : data_(data),
      params_(params),
      optimizer_(optimizer),
      tp_(tp),
      ep_(ep),
      bucket_elements_(bucket_elements),
      overlap_(overlap) {
  if (optimizer.sharded())
    owned_grads_ = params.backend().empty({optimizer.owned_end() - optimizer.owned_begin()});
  ready_from_ = params_.numel();
  started_from_ = (params_.numel() + bucket_elements_ - 1) / bucket_elements_;
}

bool DataParallel::overlaps() const {
  return overlap_ && data_.size() > 1 && !optimizer_.sharded() && !ep_.split();
}

void DataParallel::sum_partial_gradients(int64_t from, int64_t to) {
  if (tp_.size() == 1) return;
  float* grads = params_.grads().data();
  for (const ParamInfo& p : params_.infos())
    if (p.offset >= from && p.offset < to && p.spec.gradient == GradientKind::partial_over_tensor)
      tp_.sum_partials(grads + p.offset, p.numel());
}

void DataParallel::gradients_ready(int64_t ready_from) {
  if (ready_from >= ready_from_) return;
  sum_partial_gradients(ready_from, ready_from_);
  ready_from_ = ready_from;
  if (data_.size() == 1 || optimizer_.sharded() || ep_.split()) return;
  // Buckets become ready from the last one down (layers finish backward in reverse order).
  float* grads = params_.grads().data();
  while (started_from_ > 0 && (started_from_ - 1) * bucket_elements_ >= ready_from_) {
    const int64_t begin = --started_from_ * bucket_elements_;
    in_flight_.push_back(
        data_.all_reduce_async(grads + begin, std::min(bucket_elements_, params_.numel() - begin)));
  }
  for (auto& pending : in_flight_) pending->progress();
}

void DataParallel::reduce_gradients() {
  gradients_ready(0);  // whatever backward did not report yet
  for (auto& pending : in_flight_) pending->wait();
  in_flight_.clear();
  ready_from_ = params_.numel();
  started_from_ = (params_.numel() + bucket_elements_ - 1) / bucket_elements_;
  if (data_.size() == 1) return;
  float* grads = params_.grads().data();
  if (ep_.split()) {  // each run of tensors of one kind, over its group
    const std::vector<ParamInfo>& infos = params_.infos();
    for (size_t i = 0; i < infos.size();) {
      size_t end = i + 1;
      while (end < infos.size() && infos[end].routed_expert() == infos[i].routed_expert()) ++end;
      all_reduce_in_buckets(
          infos[i].routed_expert() ? *ep_.expert_data : data_, grads + infos[i].offset,
          infos[end - 1].offset + infos[end - 1].numel() - infos[i].offset, bucket_elements_);
      i = end;
    }
    return;
  }
  if (!optimizer_.sharded()) return;  // the buckets above did it
  data_.reduce_scatter(owned_grads_.data(), grads, optimizer_.partition().counts);
  params_.backend().copy(grads + optimizer_.owned_begin(), owned_grads_.data(),
                         owned_grads_.numel());
}

double DataParallel::grad_norm() {
  // Plain: every rank holds the whole summed gradient. ZeRO-1: each holds its block.
  const int64_t begin = optimizer_.owned_begin(), end = optimizer_.owned_end();
  const float* grads = params_.grads().data();
  Backend& be = params_.backend();
  double sums[2] = {0.0, 0.0};  // replicated parameters, tensor-split ones
  double experts = 0.0;         // this rank's routed experts (expert parallel)
  if (tp_.size() == 1 && !ep_.split()) {
    sums[0] = be.sum_squares(grads + begin, end - begin);
  } else {
    for (const ParamInfo& p : params_.infos()) {
      const int64_t lo = std::max(p.offset, begin), hi = std::min(p.offset + p.numel(), end);
      if (lo >= hi) continue;
      const double squares = be.sum_squares(grads + lo, hi - lo);
      if (ep_.split() && p.routed_expert())
        experts += squares;
      else
        sums[p.split_dim >= 0 ? 1 : 0] += squares;
    }
  }
  if (optimizer_.sharded()) data_.all_reduce(sums, 2);
  if (tp_.size() > 1) tp_.group->all_reduce(&sums[1], 1);
  if (ep_.split()) ep_.expert->all_reduce(&experts, 1);
  return std::sqrt(sums[0] + sums[1] + experts);
}

void DataParallel::gather_parameters() {
  if (optimizer_.sharded())
    data_.all_gather(params_.params().data(), optimizer_.partition().counts);
}

void DataParallel::check_replicas_agree() {
  // The sum of squares is computed in a fixed order, so replicas give bit-identical values.
  const float* values = params_.params().data();
  Backend& be = params_.backend();
  if (!ep_.split()) {
    check_same_everywhere(data_, be.sum_squares(values, params_.numel()));
    return;
  }
  // Routed experts are replicas over the expert-data group only; the rest over the data group.
  double replicated = 0.0, experts = 0.0;
  for (const ParamInfo& p : params_.infos())
    (p.routed_expert() ? experts : replicated) += be.sum_squares(values + p.offset, p.numel());
  check_same_everywhere(data_, replicated);
  check_same_everywhere(*ep_.expert_data, experts);
}

double DataParallel::mean(double value) {
  data_.all_reduce(&value, 1);
  return value / data_.size();
}

}  // namespace gatedlm
