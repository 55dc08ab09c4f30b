// What a training run is built from its config, alike on every rank: this rank's shard of the
// model, AdamW, the data-parallel gradient reducer, the train and val loaders, and where this
// rank's tensors sit in the whole ones that checkpoints hold (each rank reads and writes just
// its part: its tensor-parallel shard's blocks, its ZeRO-1 block of the moments, or the
// replicated tensors and its own experts). A resume, and a stability rollback, restore a
// checkpoint into it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/checkpoint/resume.h"
#include "gatedlm/checkpoint/snapshot.h"
#include "gatedlm/comm/expert_exchange.h"
#include "gatedlm/comm/process_groups.h"
#include "gatedlm/comm/tensor_parallel.h"
#include "gatedlm/config/config.h"
#include "gatedlm/data/loader.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/optim/adamw.h"
#include "gatedlm/parallel/data_parallel.h"

namespace gatedlm {

struct TrainSetup {
  // InputError when the data cannot be read (the loaders open their shards here).
  TrainSetup(const Config& config, Backend& backend, ProcessGroups& groups);
  TrainSetup(const TrainSetup&) = delete;
  TrainSetup& operator=(const TrainSetup&) = delete;

  // Collective over the world: where the run starts. Restores the checkpoint `explicit_path`
  // names, else the run directory's latest, with the config's resume changes applied and
  // logged (train/resume_changes.h); nullopt and nothing restored when there is none.
  std::optional<ResumePoint> resume(const std::string& run_dir, const std::string& explicit_path);
  // Collective over the world: the checkpoint `explicit_path` names, else the run directory's
  // latest usable one (checkpoint/resume.h); nullopt when there is none.
  std::optional<ResumePoint> find_checkpoint(const std::string& run_dir,
                                             const std::string& explicit_path = "");
  // Puts the parameters, AdamW's moments and step, and the loaders' positions back as `point`
  // holds them.
  void restore(const ResumePoint& point);
  // Logs the model's size, FLOPs and tokens per step and the parallel layout.
  void log_plan() const;
  // The whole model's parameters (every shard and expert counted once).
  int64_t parameter_count() const;
  // The loaders whose positions a checkpoint records.
  NamedLoaders loaders() const {
    return {{"train", train_loader.get()}, {"val", val_loader.get()}};
  }

  const Config& config;
  ProcessGroups& groups;
  const TensorParallel tp;
  const ExpertExchange ep;
  const int64_t experts_per_rank;  // routed experts this rank holds; 0 for a dense model
  Transformer model;
  AdamW optimizer;
  DataParallel data_parallel;
  const int64_t data_ranks;
  const int64_t tokens_per_step;         // of one optimizer step, over all data ranks
  const WindowLoaderOptions train_data;  // this rank's part of the training stream
  std::unique_ptr<BatchLoader> train_loader;
  std::unique_ptr<BatchLoader> val_loader;  // null without data.val
  const std::vector<ParamInfo> whole_infos;
  const SnapshotMoments held_moments;  // the moments this rank keeps: whole, or its ZeRO-1 block
  const CheckpointSlices slices;       // what this rank reads of a checkpoint
  const ParallelLayout layout;
};

}  // namespace gatedlm
