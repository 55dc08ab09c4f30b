// The training loop: set up from the config (train/train_setup.h), resume, then one TrainStep
// after another (train/train_step.h), each judged by the stability policy before its update
// (train/stability_policy.h) and followed by the observers (train/step_observers.h).
#include "gatedlm/train/trainer.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "gatedlm/comm/process_groups.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"
#include "gatedlm/train/config_diff.h"
#include "gatedlm/train/metrics.h"
#include "gatedlm/train/progress.h"
#include "gatedlm/train/run_dir.h"
#include "gatedlm/train/run_lock.h"
#include "gatedlm/train/run_outcome.h"
#include "gatedlm/train/run_progress.h"
#include "gatedlm/train/signals.h"
#include "gatedlm/train/stability_policy.h"
#include "gatedlm/train/step_observers.h"
#include "gatedlm/train/train_setup.h"
#include "gatedlm/train/train_step.h"

namespace gatedlm {
namespace fs = std::filesystem;

Trainer::Trainer(const Config& config, std::string run_dir, Backend& backend)
    : config_(config), run_dir_(std::move(run_dir)), backend_(backend) {}

namespace {

// RUN/config.yaml is the config this session trains with; each checkpoint keeps the one that
// trained up to it. Called only once the session will train, so a rerun with nothing to do
// leaves the record alone; unchanged text is not rewritten.
void write_config_yaml(const std::string& run_dir, const std::string& config_yaml) {
  const fs::path path = fs::path(run_dir) / "config.yaml";
  if (std::ifstream in(path); in) {
    const std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (old == config_yaml) return;
  }
  std::ofstream out(path);
  out << config_yaml;
  if (!out) throw RuntimeFailure(run_dir + "/config.yaml: cannot write");
}

// The keys this session changes from the checkpoint it resumes, both sides read as configs so a
// key a newer build added compares at its default; none when the checkpoint's config is
// unreadable (an older build's).
std::vector<ConfigChange> resume_config_changes(const CheckpointState& state,
                                                const std::string& config_yaml) {
  try {
    return config_diff(config_to_yaml(load_config_text(state.config_yaml, "checkpoint")),
                       config_yaml);
  } catch (const InputError&) {
    return {};
  }
}

// Rank 0's metrics.jsonl (and TensorBoard events in RUN/tb); null on the other ranks. A resumed
// run continues its metrics file; a fresh one starts it over. Lines logged after the resumed
// step belong to a timeline that was lost (a kill -9 after the last checkpoint, or a fallback
// past a damaged one); the resumed run writes those steps again.
std::unique_ptr<MetricsWriter> open_metrics(const std::string& run_dir, bool root,
                                            std::optional<int64_t> resumed_at) {
  if (!root) return nullptr;
  const std::string path = (fs::path(run_dir) / "metrics.jsonl").string();
  if (resumed_at)
    if (const int64_t dropped = drop_metrics_after(path, *resumed_at, false))
      spdlog::warn("{}: dropped {} lines logged after step {} or cut short; those steps run again",
                   path, dropped, *resumed_at);
  return std::make_unique<MetricsWriter>(path, resumed_at, (fs::path(run_dir) / "tb").string());
}

// Stops every rank after the same step when any rank was signalled.
int agreed_stop_signal(Communicator& world, int received) {
  double signal = received;
  world.all_reduce(&signal, 1, ReduceOp::max);
  return static_cast<int>(signal);
}

void write_finished(const std::string& run_dir, const TrainSummary& summary, int64_t parameters,
                    double time_s) {
  write_run_outcome(run_dir, {{"outcome", "finished"},
                              {"steps", summary.steps},
                              {"final_loss", summary.final_loss},
                              {"final_val_loss", summary.final_val_loss},
                              {"tokens_per_s", summary.tokens_per_s},
                              {"parameters", parameters},
                              {"time_s", time_s}});
}

}  // namespace

TrainSummary Trainer::run() {
  const TrainConfig& tc = config_.train;
  ProcessGroups groups(world_ ? std::move(world_) : make_single_process_communicator(),
                       config_.parallel.tensor, config_.parallel.expert);
  const bool root = groups.is_root();
  StopSignals signals;  // usually already installed by the command, before the config loaded
  std::optional<RunLock> lock;
  if (root) {
    prepare_train_run_dir(run_dir_);
    lock.emplace(run_dir_);
  }
  const std::string config_yaml = config_to_yaml(config_);
  TrainSetup setup(config_, backend_, groups);

  // Resume before touching the run directory's files, so a bad checkpoint changes nothing.
  const std::optional<ResumePoint> resume = setup.resume(run_dir_, resume_path_);
  RunProgress progress;
  TrainSummary summary;
  if (resume) {
    progress.resume_from(resume->state);
    summary.steps = summary.resumed_from_step = progress.start_step;
    summary.checkpoint = resume->dir;
  }
  if (progress.start_step >= tc.steps) {
    // Nothing runs, so nothing in the run directory changes (config.yaml included).
    spdlog::info("the run is already at step {} of {}: nothing to do", progress.start_step,
                 tc.steps);
    return summary;
  }
  const std::vector<ConfigChange> changes =
      resume ? resume_config_changes(resume->state, config_yaml) : std::vector<ConfigChange>{};
  for (const ConfigChange& c : changes)
    spdlog::info("config changed since {}: {} {} -> {}", resume->dir, c.key, c.from, c.to);
  if (root) write_config_yaml(run_dir_, config_yaml);
  const std::unique_ptr<MetricsWriter> metrics =
      open_metrics(run_dir_, root, resume ? std::optional(progress.start_step) : std::nullopt);
  if (metrics && !changes.empty())
    metrics->write(config_changed_event(progress.start_step, changes));
  clear_run_outcome(run_dir_);
  setup.log_plan();
  const ThroughputReference reference = throughput_reference(config_, backend_, groups.world());
  StepObservers observers(run_dir_, config_yaml, setup, progress, metrics.get(), reference,
                          summary.checkpoint);
  progress.wall.restart();
  TrainStep train_step(config_, setup.model, setup.optimizer, setup.data_parallel,
                       *setup.train_loader,
                       {FaultInjection::from_environment(), &observers.log.routing(), &groups});
  StabilityPolicy stability(run_dir_, setup, observers.checkpoints, progress, metrics.get());

  // A stop that arrived during setup: nothing was trained, so nothing needs saving.
  if (const int signal = agreed_stop_signal(groups.world(), signals.received())) {
    summary.stopped_by = StopSignals::name(signal);
    spdlog::warn(
        "{} received before the first step: stopped without training; rerun the same "
        "command to start",
        summary.stopped_by);
    return summary;
  }
  int64_t done = progress.start_step;  // steps complete; a rollback sets it back
  while (done < tc.steps) {
    const int64_t step = done + 1;  // 1-based, as logged
    const bool last = step == tc.steps;
    StepResult result = train_step.compute(step, stability.batches_to_skip(step));
    const StepDecision decision = stability.decide(step, result);
    if (decision.rolled_back_to) {
      done = *decision.rolled_back_to;  // the replay continues right after the checkpoint
      continue;
    }
    if (decision.apply) {
      train_step.update(result);
      progress.applied(result);
      summary.final_loss = result.loss;
      observers.after_update(step, result, last);
    }
    summary.steps = step;
    if (const int signal = agreed_stop_signal(groups.world(), signals.received());
        signal && !last) {
      // Preemption: the step is complete; eval and analysis wait for the resumed run.
      observers.checkpoints.save(step, true);
      observers.record(summary);
      summary.stopped_by = StopSignals::name(signal);
      spdlog::warn(
          "{} received: stopped after step {} with checkpoint {}; rerun the same command "
          "to resume",
          summary.stopped_by, step, summary.checkpoint);
      return summary;
    }
    if (decision.apply) observers.after_step(step, last);
    done = step;
  }
  observers.at_end(done);
  observers.record(summary);
  if (root) write_finished(run_dir_, summary, setup.parameter_count(), progress.elapsed_s());
  spdlog::info("done: {} steps in {}, checkpoint {}", summary.steps,
               format_duration(progress.elapsed_s()), summary.checkpoint);
  return summary;
}

}  // namespace gatedlm
