#include "spec_reader.h"

#include <cctype>

#include "gatedlm/config/loader.h"

namespace gatedlm::sweep_spec {

namespace {

// The emitter keeps a loaded node's block style unless every collection in it says otherwise.
void set_flow_style(YAML::Node node) {
  if (!node.IsMap() && !node.IsSequence()) return;
  node.SetStyle(YAML::EmitterStyle::Flow);
  for (auto item : node) {
    if (node.IsMap()) {
      set_flow_style(item.second);
    } else {
      set_flow_style(item);
    }
  }
}

}  // namespace

std::string yaml_text(const YAML::Node& value) {
  if (value.IsScalar()) return value.Scalar();
  const YAML::Node flow = YAML::Clone(value);
  set_flow_style(flow);
  YAML::Emitter out;
  out << flow;
  return out.c_str();
}

std::string name_safe(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == '_';
    out += ok ? c : '-';
  }
  return out;
}

std::string checked_name(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  const std::string name = scalar(spec, node, what);
  if (name.empty() || name_safe(name) != name || name.front() == '.')
    spec.fail(node, what + ": '" + name +
                        "' is not a usable run name (letters, digits, '.', '-', '_', '+')");
  return name;
}

std::string scalar(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) spec.fail(node, what + ": expected a single value");
  return node.Scalar();
}

int64_t integer(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  const std::string text = scalar(spec, node, what);
  try {
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == text.size() && value >= 0) return value;
  } catch (const std::exception&) {
  }
  spec.fail(node, what + ": expected a non-negative integer, got '" + text + "'");
}

std::vector<std::string> string_list(const SpecReader& spec, const YAML::Node& node,
                                     const std::string& what, ItemReader read_item) {
  if (!node.IsSequence()) spec.fail(node, what + ": expected a list of strings");
  std::vector<std::string> out;
  for (const YAML::Node& item : node) out.push_back(read_item(spec, item, what));
  return out;
}

NodeOverrides read_overrides(const SpecReader& spec, const YAML::Node& node,
                             const std::string& what) {
  NodeOverrides out;
  if (!node || node.IsNull()) return out;
  if (!node.IsMap()) spec.fail(node, what + ": expected a map of key.path: value");
  for (const auto& kv : node) out.emplace_back(kv.first, kv.second);
  return out;
}

void apply(const SpecReader& spec, SourceNode& root, const std::string& key,
           const SourceLocation& at, const YAML::Node& value) {
  std::vector<KeyPathSegment> path;
  for (std::size_t start = 0;;) {
    const std::size_t end = key.find('.', start);
    const std::string name = key.substr(start, end == std::string::npos ? end : end - start);
    if (name.empty())
      throw InputError(located(at.file, at.line, at.col, "empty key name in '" + key + "'"));
    path.push_back({name, at});
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (path.size() == 1 && path[0].name == "base")
    throw InputError(located(at.file, at.line, at.col, "base cannot be overridden per run"));
  set_at_path(root, path, source_node_from_yaml(path.back().name, at, value, spec.source));
}

}  // namespace gatedlm::sweep_spec
