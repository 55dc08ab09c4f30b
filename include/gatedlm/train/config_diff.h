// What a resume changed: the keys whose values differ between the config a checkpoint was
// trained with and the one the run continues with. Logged, and recorded in metrics.jsonl as a
// "config_changed" event, so the run's record says which steps ran under which values
// (docs/outputs.md).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gatedlm {

struct ConfigChange {
  std::string key;       // dotted, as for --set: "optimizer.lr"
  std::string from, to;  // YAML text; "(absent)" for a key only one side has
};

// Compares two resolved configs (config_to_yaml's text) key by key, in key order. Sequences
// compare whole. Empty when either cannot be parsed (a checkpoint from an older build).
std::vector<ConfigChange> config_diff(const std::string& before_yaml,
                                      const std::string& after_yaml);

// {"step": step, "event": "config_changed", "changes": [{"key", "from", "to"}, ...]}
nlohmann::json config_changed_event(int64_t step, const std::vector<ConfigChange>& changes);

}  // namespace gatedlm
