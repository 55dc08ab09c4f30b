// A sweep spec's `stages:` (docs/sweeps.md "Staged sweeps"): each stage repeats every run of the
// spec with its own overrides, may continue from another stage's checkpoint (`resume_from`), and
// may evaluate the finished run at several lengths (`evaluate`). Private to src/sweep.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gatedlm/config/config.h"
#include "gatedlm/sweep/spec.h"
#include "spec_reader.h"

namespace gatedlm::sweep_spec {

struct StageEvaluate {
  YAML::Node lengths;      // the seq_len or seq_len_multiples list
  bool multiples = false;  // lengths are multiples of the run's train.seq_len
  int64_t buckets = 8, bucket_width = 0, tokens = 0;
  std::string data;  // "" = the run's data.val (else data.train)
  std::vector<std::pair<std::string, NodeOverrides>> settings;  // name -> eval --set overrides
};

struct Stage {
  std::string name;
  std::string resume_from;  // a stage name; "" = a fresh start
  YAML::Node resume_node;   // where resume_from was written, for errors
  NodeOverrides overrides;  // `set:`
  std::optional<StageEvaluate> evaluate;
};

// The stages, each after the stage it resumes from (otherwise in the order written); empty when
// `node` is absent. Unknown stage names and cycles fail at the resume_from that names them.
std::vector<Stage> read_stages(const SpecReader& spec, const YAML::Node& node);

// The evaluations of one run of a stage, whose config source (every override applied) is `root`
// and resolved config `config`. Settings are checked against that config at the spec's lines.
std::vector<SweepEval> expand_evaluations(const SpecReader& spec, const StageEvaluate& evaluate,
                                          const SourceNode& root, const Config& config);

}  // namespace gatedlm::sweep_spec
