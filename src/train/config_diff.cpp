#include "gatedlm/train/config_diff.h"

#include <yaml-cpp/yaml.h>

#include <map>

namespace gatedlm {

namespace {

// Dotted key -> the value's YAML text, for every leaf (a scalar, a sequence, an empty map).
void flatten(const YAML::Node& node, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  if (node.IsMap() && node.size() > 0) {
    for (const auto& entry : node)
      flatten(entry.second,
              prefix.empty() ? entry.first.as<std::string>()
                             : prefix + "." + entry.first.as<std::string>(),
              out);
    return;
  }
  YAML::Emitter text;
  text << YAML::Flow << node;
  out[prefix] = text.c_str();
}

bool parse(const std::string& yaml, std::map<std::string, std::string>& out) {
  try {
    flatten(YAML::Load(yaml), "", out);
    return true;
  } catch (const YAML::Exception&) {
    return false;
  }
}

}  // namespace

std::vector<ConfigChange> config_diff(const std::string& before_yaml,
                                      const std::string& after_yaml) {
  std::map<std::string, std::string> before, after;
  if (!parse(before_yaml, before) || !parse(after_yaml, after)) return {};
  static const std::string kAbsent = "(absent)";
  std::vector<ConfigChange> changes;
  for (const auto& [key, value] : before) {
    const auto it = after.find(key);
    const std::string& now = it == after.end() ? kAbsent : it->second;
    if (now != value) changes.push_back({key, value, now});
  }
  for (const auto& [key, value] : after)
    if (!before.count(key)) changes.push_back({key, kAbsent, value});
  return changes;
}

nlohmann::json config_changed_event(int64_t step, const std::vector<ConfigChange>& changes) {
  nlohmann::json list = nlohmann::json::array();
  for (const ConfigChange& c : changes)
    list.push_back({{"key", c.key}, {"from", c.from}, {"to", c.to}});
  return {{"step", step}, {"event", "config_changed"}, {"changes", list}};
}

}  // namespace gatedlm
