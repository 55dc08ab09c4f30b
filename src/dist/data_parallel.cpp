#include "gatedlm/dist/data_parallel.h"

#include <algorithm>
#include <cmath>

#include "gatedlm/core/error.h"

namespace gatedlm {

DataParallel::DataParallel(Communicator& data, ParameterSet& params, const AdamW& optimizer)
    : data_(data), params_(params), optimizer_(optimizer) {
  if (optimizer.sharded())
    owned_grads_ = params.backend().empty({optimizer.owned_end() - optimizer.owned_begin()});
}

void DataParallel::reduce_gradients() {
  if (data_.size() == 1) return;
  float* grads = params_.grads().data();
  if (!optimizer_.sharded()) {
    for (int64_t at = 0; at < params_.numel(); at += kGradientBucketElements)
      data_.all_reduce(grads + at, std::min(kGradientBucketElements, params_.numel() - at));
    return;
  }
  data_.reduce_scatter(owned_grads_.data(), grads, optimizer_.partition().counts);
  params_.backend().copy(grads + optimizer_.owned_begin(), owned_grads_.data(),
                         owned_grads_.numel());
}

double DataParallel::grad_norm() {
  // Plain: every rank holds the whole summed gradient. ZeRO-1: each holds its block.
  const int64_t begin = optimizer_.owned_begin(), end = optimizer_.owned_end();
  double sum_squares = params_.backend().sum_squares(params_.grads().data() + begin, end - begin);
  if (optimizer_.sharded()) data_.all_reduce(&sum_squares, 1);
  return std::sqrt(sum_squares);
}

void DataParallel::gather_parameters() {
  if (optimizer_.sharded())
    data_.all_gather(params_.params().data(), optimizer_.partition().counts);
}

void DataParallel::check_replicas_agree() {
  // The sum of squares is computed in a fixed order, so replicas give bit-identical values.
  const double local = params_.backend().sum_squares(params_.params().data(), params_.numel());
  double extremes[2] = {local, -local};  // max and -min in one call
  data_.all_reduce(extremes, 2, ReduceOp::max);
  if (extremes[0] != -extremes[1])
    throw RuntimeFailure("data-parallel ranks hold different parameters (sum of squares from " +
                         std::to_string(-extremes[1]) + " to " + std::to_string(extremes[0]) +
                         "); their updates diverged");
}

double DataParallel::mean(double value) {
  data_.all_reduce(&value, 1);
  return value / data_.size();
}

}  // namespace gatedlm
