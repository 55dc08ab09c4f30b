#include "stages.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "gatedlm/config/loader.h"
#include "gatedlm/train/evaluate.h"

namespace gatedlm::sweep_spec {

namespace {

StageEvaluate read_evaluate(const SpecReader& spec, const YAML::Node& node,
                            const std::string& what) {
  if (!node.IsMap()) spec.fail(node, what + ": expected a map (seq_len_multiples, settings, ...)");
  StageEvaluate e;
  for (const auto& pair : node) {
    const std::string key = scalar(spec, pair.first, what + " key");
    const YAML::Node value = pair.second;
    const std::string at = what + "." + key;
    if (key == "seq_len" || key == "seq_len_multiples") {
      if (e.lengths.IsSequence())
        spec.fail(pair.first, what + ": give seq_len or seq_len_multiples, not both");
      if (!value.IsSequence() || value.size() == 0)
        spec.fail(value, at + ": expected a non-empty list of positive integers");
      for (const YAML::Node& length : value)
        if (integer(spec, length, at) < 1) spec.fail(length, at + ": expected a positive integer");
      e.lengths = value;
      e.multiples = key == "seq_len_multiples";
    } else if (key == "buckets" || key == "bucket_width" || key == "tokens") {
      const int64_t n = integer(spec, value, at);
      if (n < 1) spec.fail(value, at + ": expected a positive integer");
      (key == "buckets" ? e.buckets : key == "bucket_width" ? e.bucket_width : e.tokens) = n;
    } else if (key == "data") {
      e.data = scalar(spec, value, at);
    } else if (key == "settings") {
      if (!value.IsMap() || value.size() == 0)
        spec.fail(value, at + ": expected a map of name -> {model.rope_...: value}");
      for (const auto& setting : value) {
        const std::string name = checked_name(spec, setting.first, at);
        NodeOverrides overrides = read_overrides(spec, setting.second, at + "." + name);
        for (const auto& [k, v] : overrides)
          if (!is_eval_override_key(scalar(spec, k, at + "." + name)))
            spec.fail(k, at + "." + name + ": '" + k.Scalar() +
                             "' cannot change at evaluation (only model.rope_theta and "
                             "model.rope_scaling[.key] change no tensor shape)");
        e.settings.emplace_back(name, std::move(overrides));
      }
    } else {
      spec.fail(pair.first, what + ": unknown key '" + key +
                                "' (expected seq_len or seq_len_multiples, buckets or "
                                "bucket_width, tokens, data, settings)");
    }
  }
  if (!e.lengths.IsSequence()) spec.fail(node, what + ": seq_len or seq_len_multiples is required");
  if (e.settings.empty()) e.settings.emplace_back("plain", NodeOverrides{});
  return e;
}

// Whether `overrides` set model.rope_scaling's `field`, directly or inside a rope_scaling map.
bool sets_rope_field(const NodeOverrides& overrides, const std::string& field) {
  for (const auto& [key, value] : overrides) {
    if (key.Scalar() == "model.rope_scaling." + field) return true;
    if (key.Scalar() == "model.rope_scaling" && value.IsMap() && value[field]) return true;
  }
  return false;
}

bool sets_rope_scaling(const NodeOverrides& overrides) {
  return std::any_of(overrides.begin(), overrides.end(), [](const auto& kv) {
    return kv.first.Scalar().rfind("model.rope_scaling", 0) == 0;
  });
}

}  // namespace

std::vector<Stage> read_stages(const SpecReader& spec, const YAML::Node& node) {
  std::vector<Stage> stages;
  if (!node) return stages;
  if (!node.IsMap() || node.size() == 0)
    spec.fail(node, "stages: expected a map of stage name -> {resume_from, set, evaluate}");
  std::map<std::string, std::size_t> index;
  for (const auto& pair : node) {
    Stage stage;
    stage.name = checked_name(spec, pair.first, "stages");
    if (!index.emplace(stage.name, stages.size()).second)
      spec.fail(pair.first, "stages: '" + stage.name + "' is defined twice");
    const std::string what = "stages." + stage.name;
    const YAML::Node body = pair.second;
    if (!body.IsNull() && !body.IsMap())
      spec.fail(body, what + ": expected a map with resume_from, set, evaluate");
    if (body.IsMap())
      for (const auto& field : body) {
        const std::string key = scalar(spec, field.first, what + " key");
        if (key == "resume_from") {
          stage.resume_from = scalar(spec, field.second, what + ".resume_from");
          stage.resume_node = field.second;
        } else if (key == "set") {
          stage.overrides = read_overrides(spec, field.second, what + ".set");
        } else if (key == "evaluate") {
          stage.evaluate = read_evaluate(spec, field.second, what + ".evaluate");
        } else {
          spec.fail(field.first,
                    what + ": unknown key '" + key + "' (expected resume_from, set, evaluate)");
        }
      }
    stages.push_back(std::move(stage));
  }
  // Every resume_from names a stage, and following them never comes back: a stage's depth is
  // the length of its chain.
  std::vector<std::size_t> depth(stages.size(), 0);
  for (std::size_t s = 0; s < stages.size(); ++s) {
    std::string chain = stages[s].name;
    for (std::size_t at = s; !stages[at].resume_from.empty();) {
      const auto found = index.find(stages[at].resume_from);
      if (found == index.end()) {
        std::string names;
        for (const Stage& stage : stages) names += (names.empty() ? "" : ", ") + stage.name;
        spec.fail(stages[at].resume_node, "stages." + stages[at].name + ".resume_from: no stage '" +
                                              stages[at].resume_from + "' (stages: " + names + ")");
      }
      at = found->second;
      chain += " -> " + stages[at].name;
      if (at == s || ++depth[s] > stages.size())
        spec.fail(
            stages[s].resume_node,
            "stages." + stages[s].name + ".resume_from: the stages form a cycle (" + chain + ")");
    }
  }
  std::vector<Stage> ordered;
  std::vector<std::size_t> order(stages.size());
  for (std::size_t s = 0; s < order.size(); ++s) order[s] = s;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return depth[a] < depth[b]; });
  for (std::size_t s : order) ordered.push_back(std::move(stages[s]));
  return ordered;
}

std::vector<SweepEval> expand_evaluations(const SpecReader& spec, const StageEvaluate& evaluate,
                                          const SourceNode& root, const Config& config) {
  std::vector<SweepEval> evals;
  const int64_t train_len = config.train.seq_len;
  for (const auto& [setting, overrides] : evaluate.settings) {
    for (const YAML::Node& length : evaluate.lengths) {
      const int64_t value = integer(spec, length, "evaluate");
      SweepEval e;
      e.setting = setting;
      e.seq_len = evaluate.multiples ? value * train_len : value;
      e.buckets = std::min(e.seq_len, evaluate.bucket_width > 0
                                          ? std::max<int64_t>(1, e.seq_len / evaluate.bucket_width)
                                          : evaluate.buckets);
      e.batches = evaluate.tokens > 0 ? std::max<int64_t>(1, evaluate.tokens / e.seq_len) : 0;
      e.data = !evaluate.data.empty()     ? evaluate.data
               : !config.data.val.empty() ? config.data.val
                                          : config.data.train;
      e.file = fmt::format("evals/{}-{}.json", setting, e.seq_len);
      // Checked here, where the spec can point at the line, rather than when the eval runs.
      SourceNode checked = root;
      for (const auto& [key, v] : overrides) {
        apply(spec, checked, key.Scalar(), spec.where(key), v);
        e.overrides.push_back(key.Scalar() + "=" + yaml_text(v));
      }
      // A scaling set here stretches the run's training length to this one unless told
      // otherwise: factor = seq_len / train.seq_len, original length = train.seq_len.
      if (sets_rope_scaling(overrides)) {
        if (!sets_rope_field(overrides, "factor"))
          e.overrides.push_back(fmt::format("model.rope_scaling.factor={}",
                                            static_cast<double>(e.seq_len) / train_len));
        if (!sets_rope_field(overrides, "original_max_position_embeddings"))
          e.overrides.push_back(
              fmt::format("model.rope_scaling.original_max_position_embeddings={}", train_len));
      }
      apply_overrides(checked, {e.overrides.begin() + overrides.size(), e.overrides.end()});
      config_from_source(checked, spec.path);
      evals.push_back(std::move(e));
    }
  }
  return evals;
}

}  // namespace gatedlm::sweep_spec
