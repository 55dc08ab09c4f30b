// The model, optimizer, data-parallel reducer, loaders and checkpoint layout of a run.
#include "gatedlm/train/train_setup.h"

#include <spdlog/spdlog.h>

#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/checkpoint/expert_slices.h"
#include "gatedlm/checkpoint/resume_agreement.h"
#include "gatedlm/checkpoint/tensor_slices.h"
#include "gatedlm/core/error.h"
#include "gatedlm/model/shard_layout.h"
#include "gatedlm/train/resume_changes.h"

namespace gatedlm {
namespace {

// The first thing training does with a model: draw its weights and size its activations
// (shared between layers as train.recompute says).
Transformer& initialized(Transformer& model, const TrainConfig& train) {
  model.init_weights(train.seed);
  model.set_recompute(train.recompute);
  model.reserve(train.micro_batch_size, train.seq_len);
  return model;
}

// This data rank's windows of the training stream, in the seeded random order.
WindowLoaderOptions train_window_options(const Config& config, int64_t rank, int64_t world) {
  WindowLoaderOptions options;
  options.pattern = config.data.train;
  options.batch = config.train.micro_batch_size;
  options.seq_len = config.train.seq_len;
  options.order = WindowOrder::random;
  options.seed = config.train.seed;
  options.vocab_size = config.model.vocab_size;
  options.rank = rank;
  options.world = world;
  options.bos_token = static_cast<int32_t>(config.data.bos_token_id);
  return options;
}

// The val data read like the training data, but in file order (evaluation rewinds it).
std::unique_ptr<BatchLoader> make_val_loader(const Config& config,
                                             const WindowLoaderOptions& train_data) {
  if (config.data.val.empty()) return nullptr;
  WindowLoaderOptions options = train_data;
  options.pattern = config.data.val;
  options.order = WindowOrder::sequential;
  return make_window_loader(options);
}

// Puts a resumed run's data stream back where the checkpoint left it.
void restore_loaders(const ResumePoint& point, BatchLoader& train, BatchLoader* val) {
  const LoaderState* train_state = point.state.loader("train");
  if (!train_state)
    throw InputError(point.dir + ": checkpoint has no data/train loader state to resume from");
  train.set_state(*train_state);
  // Evaluation rewinds the val loader anyway, so changed val data is no reason to refuse.
  if (const LoaderState* val_state = point.state.loader("val"); val && val_state) {
    try {
      val->set_state(*val_state);
    } catch (const InputError& e) {
      spdlog::warn("val loader state not restored: {}", e.what());
    }
  }
}

}  // namespace

TrainSetup::TrainSetup(const Config& config, Backend& backend, ProcessGroups& groups)
    : config(config),
      groups(groups),
      tp{&groups.tensor(), config.parallel.vocab_parallel},
      ep(&groups.expert()),
      experts_per_rank(config.model.moe ? ep.local_experts(config.model.moe->num_experts) : 0),
      model(config.model, backend, tp, ep),
      // The weights are drawn before the optimizer and the reducer see the parameters.
      optimizer(config.optimizer, initialized(model, config.train).params(),
                config.parallel.zero > 0 ? &groups.data() : nullptr),
      data_parallel(groups.data(), model.params(), optimizer, tp, config.parallel.grad_bucket_size,
                    config.parallel.overlap_grad_reduce, {&groups.expert(), &groups.expert_data()}),
      data_ranks(data_parallel.size()),
      tokens_per_step(config.train.micro_batch_size * config.train.seq_len *
                      config.train.grad_accum_steps * data_ranks),
      train_data(train_window_options(config, groups.data().rank(), data_ranks)),
      train_loader(make_window_loader(train_data)),
      val_loader(make_val_loader(config, train_data)),
      whole_infos(whole_expert_infos(whole_model_infos(model.params().infos(), tp.size()),
                                     ep.rank(), ep.size(), experts_per_rank)),
      held_moments(optimizer.sharded() ? SnapshotMoments::owned : SnapshotMoments::whole),
      slices(ep.size() > 1 ? expert_slices(whole_infos, ep.rank(), experts_per_rank)
                           : tensor_slices(model.params().infos(), tp.rank(), tp.size(),
                                           optimizer.sharded() ? &optimizer.partition() : nullptr,
                                           groups.data().rank())),
      layout{groups.world().size(), config.parallel.tensor, data_ranks, config.parallel.expert,
             config.parallel.zero} {
  // The global-batch load-balancing counts span every data-parallel rank (docs/moe.md).
  if (data_ranks > 1)
    model.set_expert_count_reducer(
        [&groups](double* counts, int64_t n) { groups.data().all_reduce(counts, n); });
}

std::optional<ResumePoint> TrainSetup::find_checkpoint(const std::string& run_dir,
                                                       const std::string& explicit_path) {
  return agree_on_resume_point(groups.world(), run_dir, explicit_path, whole_infos, slices);
}

void TrainSetup::restore(const ResumePoint& point) {
  restore_training(point.state, model.params(), optimizer, held_moments);
  restore_loaders(point, *train_loader, val_loader.get());
}

std::optional<ResumePoint> TrainSetup::resume(const std::string& run_dir,
                                              const std::string& explicit_path) {
  std::optional<ResumePoint> point = find_checkpoint(run_dir, explicit_path);
  if (!point) return point;
  for (const std::string& change : apply_resume_changes(point->state, config))
    spdlog::info("resuming with {}", change);
  restore(*point);
  const CheckpointState& state = point->state;
  const TrainConfig& tc = config.train;
  if (state.seed != tc.seed)
    spdlog::warn(
        "train.seed is {} but the checkpoint was written with seed {}; the data "
        "stream continues from the checkpoint",
        tc.seed, state.seed);
  if (state.schedule_total_steps != tc.steps)
    spdlog::info("train.steps changed from {} to {}: the LR schedule follows the new total",
                 state.schedule_total_steps, tc.steps);
  spdlog::info("resuming from {} at step {} ({} tokens seen)", point->dir, state.step,
               state.tokens_seen);
  return point;
}

int64_t TrainSetup::parameter_count() const {
  return whole_infos.back().offset + whole_infos.back().numel();
}

void TrainSetup::log_plan() const {
  const double flops_per_token = model.training_flops_per_token(config.train.seq_len);
  spdlog::info(
      "model: {} parameters, {:.2f} GFLOP per step; {} tokens per step; {} CPU threads; {} "
      "process(es), tensor parallel {}, data parallel {}{}, expert parallel {}",
      parameter_count(), flops_per_token * tokens_per_step / 1e9, tokens_per_step, cpu_threads(),
      groups.world().size(), tp.size(), data_ranks, optimizer.sharded() ? " (ZeRO-1)" : "",
      ep.size());
}

}  // namespace gatedlm
