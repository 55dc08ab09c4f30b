// One optimizer step: micro-batches, forward/backward, gradient reduction, clipping, AdamW.
#include "gatedlm/train/train_step.h"

#include <utility>

#include "gatedlm/optim/schedule.h"

namespace gatedlm {

TrainStep::TrainStep(const Config& config, Transformer& model, AdamW& optimizer,
                     DataParallel& data_parallel, BatchLoader& loader, StepExtras extras)
    : train_(config.train),
      scheduler_(config.scheduler),
      peak_lr_(config.optimizer.lr),
      model_(model),
      optimizer_(optimizer),
      data_parallel_(data_parallel),
      loader_(loader),
      extras_(std::move(extras)) {}

StepResult TrainStep::compute(int64_t step, int64_t skip_steps) {
  const int64_t accum = train_.grad_accum_steps;
  const int64_t ranks = data_parallel_.size();
  StepResult result;
  bytes_before_ = extras_.groups ? extras_.groups->bytes_sent() : 0;
  model_.params().zero_grads();
  model_.begin_accumulation();
  for (int64_t k = 0; k < skip_steps * accum; ++k) loader_.next(batch_);
  double loss = 0.0;
  for (int64_t micro = 0; micro < accum; ++micro) {
    loader_.next(batch_);
    // The last micro-batch's backward starts the gradient all-reduces as layers finish.
    const bool overlap = data_parallel_.overlaps() && micro + 1 == accum;
    model_.set_gradient_ready_hook(
        overlap ? [this](int64_t from) { data_parallel_.gradients_ready(from); }
                : Transformer::GradientReadyHook{});
    // Each rank's share of the global batch's mean: the reduced sum is that mean's gradient.
    loss += model_.forward_backward(batch_.inputs.data(), batch_.targets.data(), batch_.batch,
                                    batch_.seq_len, 1.0f / static_cast<float>(accum * ranks));
    if (extras_.routing && model_.router_losses()) model_.record_routing(*extras_.routing);
    result.tokens += batch_.batch * batch_.seq_len * ranks;
  }
  result.loss = data_parallel_.mean(loss / static_cast<double>(accum));
  data_parallel_.reduce_gradients();
  result.loss = extras_.faults.apply(step, result.loss, model_.params());
  result.grad_norm = data_parallel_.grad_norm();
  result.lr = learning_rate(scheduler_, peak_lr_, step - 1, train_.steps);
  return result;
}

void TrainStep::update(StepResult& result) {
  clip_grad_norm(model_.params(), result.grad_norm, train_.max_grad_norm);
  optimizer_.step(static_cast<float>(result.lr));
  data_parallel_.gather_parameters();
  if (extras_.groups) result.bytes_sent = extras_.groups->bytes_sent() - bytes_before_;
}

StepResult TrainStep::run(int64_t step) {
  StepResult result = compute(step);
  update(result);
  return result;
}

}  // namespace gatedlm
