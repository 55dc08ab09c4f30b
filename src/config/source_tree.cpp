#include "gatedlm/config/source_tree.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gatedlm/core/error.h"

namespace gatedlm {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOverrideSource = "--set";

std::string at(const SourceLocation& where, const std::string& message) {
  return located(where.file, where.line, where.col, message);
}

// A config is a few hundred nodes; aliases nested in aliases ("billion laughs") expand to 2^n.
constexpr std::size_t kMaxNodes = 10000;
constexpr int kMaxDepth = 64;
// Configs are a few KiB; a larger file is not a config (or never ends: /dev/zero).
constexpr std::uintmax_t kMaxConfigBytes = 16u << 20;

}  // namespace

namespace {

bool is_marker(const std::string& line, const char* marker) {
  return line.compare(0, 3, marker) == 0 &&
         (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
}

bool is_blank_or_comment(const std::string& line, size_t from) {
  const size_t at = line.find_first_not_of(" \t\r", from);
  return at == std::string::npos || line[at] == '#';
}

// The 0-based line where a second YAML document starts, if any: a "---" after content or
// after another "---", or anything but comments after a "..." end marker. (yaml-cpp 0.7's
// LoadAll, which would say the same, never returns on some inputs, e.g. a lone ",".) Markers sit
// at column 0, where no block scalar's content can. The line given is the second document's
// first content, else its marker.
std::optional<int> second_document_line(const std::string& text) {
  std::istringstream lines(text);
  bool content = false, started = false, ended = false;
  std::optional<int> second;
  int number = 0;
  for (std::string line; std::getline(lines, line); ++number) {
    const bool start = is_marker(line, "---");
    const bool has_content = start ? !is_blank_or_comment(line, 3)
                                   : !is_marker(line, "...") && !is_blank_or_comment(line, 0);
    if (second) {
      if (has_content) return number;
      continue;
    }
    if (start && (content || started || ended)) {
      second = number;
      if (has_content) return number;
    } else if (start) {
      started = true;
    } else if (is_marker(line, "...")) {
      ended = true;
    } else if (has_content && ended) {
      return number;
    }
    content = content || has_content;
  }
  return second;
}

// InputError at the second document's line (`message` says what was expected), if there is one.
void refuse_second_document(const std::string& text, const SourceText& source,
                            const std::string& message) {
  const std::optional<int> line = second_document_line(text);
  if (!line) return;
  YAML::Mark mark;
  mark.line = *line;
  mark.column = 0;
  throw InputError(at(source.locate(mark), message));
}

}  // namespace

// One document only: yaml-cpp's Load would silently ignore everything after a second `---`.
YAML::Node parse_yaml_document(const std::string& text, const SourceText& source) {
  refuse_second_document(text, source, "expected one YAML document, found a second one");
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw InputError(at(source.locate(error.mark), "invalid YAML: " + error.msg));
  }
}

namespace {

// Counts the nodes a value expands to (aliases expanded), failing past kMaxNodes, and how deep
// they nest, failing past kMaxDepth (an alias inside its own anchor nests without end: the
// recursion would overflow the stack long before the node budget runs out).
class NodeBudget {
 public:
  void spend(const YAML::Node& yaml, const SourceText& source, int depth) {
    if (++used_ > kMaxNodes)
      throw InputError(at(source.locate(yaml.Mark()),
                          "the YAML expands to more than " + std::to_string(kMaxNodes) +
                              " nodes (anchors and aliases repeated inside each other?); a "
                              "config holds a few hundred"));
    if (depth > kMaxDepth)
      throw InputError(at(source.locate(yaml.Mark()),
                          "the YAML nests deeper than " + std::to_string(kMaxDepth) +
                              " levels (an alias inside its own anchor?); configs nest a few"));
    if (yaml.IsSequence())
      for (const YAML::Node& item : yaml) spend(item, source, depth + 1);
  }

 private:
  std::size_t used_ = 0;
};

// Fills `node`, whose key and key_location are already set, from a parsed value.
void fill_from_yaml(SourceNode& node, const YAML::Node& yaml, const SourceText& source,
                    NodeBudget& budget, int depth = 0) {
  budget.spend(yaml, source, depth);
  node.source = source;
  node.value_location = source.locate(yaml.Mark());
  // An empty value ("key:") carries the mark of the token after it: point at the key instead.
  const bool has_key = !node.key.empty();
  if (has_key && yaml.IsNull() &&
      (node.value_location.col == 0 || node.value_location.line != node.key_location.line)) {
    node.value_location = node.key_location;
  }
  if (!yaml.IsMap()) {
    node.is_map = false;
    node.set_value(yaml);
    return;
  }
  node.is_map = true;
  node.set_value(YAML::Node());
  std::unordered_map<std::string, std::size_t> seen;  // key -> its entry: linear in the keys
  for (const auto& pair : yaml) {
    // Copies: yaml-cpp's iterator hands out a temporary pair.
    const YAML::Node key = pair.first;
    const YAML::Node value = pair.second;
    SourceLocation key_location = source.locate(key.Mark());
    if (!key.IsScalar()) {
      throw InputError(at(key_location, "a key must be a plain name, not a list or a map"));
    }
    if (const auto earlier = seen.find(key.Scalar()); earlier != seen.end()) {
      const SourceLocation& first = node.entries[earlier->second].key_location;
      throw InputError(at(key_location, "duplicate key '" + key.Scalar() + "' (first written at " +
                                            std::to_string(first.line) + ":" +
                                            std::to_string(first.col) + ")"));
    }
    seen.emplace(key.Scalar(), node.entries.size());
    SourceNode child;
    child.key = key.Scalar();
    child.key_location = std::move(key_location);
    fill_from_yaml(child, value, source, budget, depth + 1);
    node.entries.push_back(std::move(child));
  }
}

// The root of one document: a map of sections (an empty document is an empty map).
SourceNode parse_document(const std::string& text, const std::string& name) {
  const SourceText source{name, 0, 0};
  const YAML::Node yaml = parse_yaml_document(text, source);
  SourceNode root;
  root.key_location = SourceLocation{name, 0, 0};
  if (yaml.IsNull()) {
    root.is_map = true;
    root.source = source;
    root.value_location = root.key_location;
    return root;
  }
  if (!yaml.IsMap()) {
    throw InputError(at(source.locate(yaml.Mark()),
                        "expected a map of sections (model:, train:, ...) at the top level"));
  }
  NodeBudget budget;
  fill_from_yaml(root, yaml, source, budget);
  return root;
}

fs::path identity_of(const fs::path& path) {
  std::error_code error;
  fs::path canonical = fs::weakly_canonical(path, error);
  return error ? fs::absolute(path).lexically_normal() : canonical;
}

// The files being loaded, outermost first, to name a cycle.
struct BaseChain {
  std::vector<fs::path> identities;
  std::vector<std::string> names;
};

// Replaces `root`'s `base:` entry, if any, by the base file's tree with `root` laid over it.
SourceNode resolve_base(SourceNode root, const fs::path& directory, BaseChain& chain) {
  auto base_entry = std::find_if(root.entries.begin(), root.entries.end(),
                                 [](const SourceNode& entry) { return entry.key == "base"; });
  if (base_entry == root.entries.end()) return root;
  const SourceNode base_key = std::move(*base_entry);
  root.entries.erase(base_entry);

  if (base_key.is_map || !base_key.value().IsScalar() || base_key.value().Scalar().empty()) {
    throw InputError(at(base_key.value_location, "base: expected the path of a config file"));
  }
  const fs::path base_path = (directory / base_key.value().Scalar()).lexically_normal();
  const std::string base_name = base_path.string();
  const fs::path identity = identity_of(base_path);
  for (std::size_t i = 0; i < chain.identities.size(); ++i) {
    if (chain.identities[i] != identity) continue;
    std::string cycle;
    for (std::size_t j = i; j < chain.names.size(); ++j) cycle += chain.names[j] + " -> ";
    throw InputError(
        at(base_key.value_location, "base: the chain of bases is a cycle: " + cycle + base_name));
  }
  const std::optional<std::string> text = read_yaml_file(base_path);
  if (!text) {
    throw InputError(at(base_key.value_location, "base: cannot open '" + base_name + "'"));
  }
  chain.identities.push_back(identity);
  chain.names.push_back(base_name);
  SourceNode merged =
      resolve_base(parse_document(*text, base_name), base_path.parent_path(), chain);
  chain.identities.pop_back();
  chain.names.pop_back();
  merge_source(merged, std::move(root));
  return merged;
}

// An override's value as YAML. Text YAML cannot read is taken as a plain string (a glob like
// *.bin reads as an alias), unless it starts like a list, map or quoted string.
YAML::Node parse_override_value(const std::string& text, const SourceText& source) {
  // "x=1\n---\n2" (or "...") would keep 1 and drop the rest silently.
  refuse_second_document(text, source, "expected one YAML value, found a second document");
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& error) {
    const std::size_t first = text.find_first_not_of(' ');
    const char lead = first == std::string::npos ? ' ' : text[first];
    if (lead == '[' || lead == '{' || lead == '"' || lead == '\'') {
      throw InputError(at(source.locate(error.mark), "invalid YAML value: " + error.msg));
    }
    return YAML::Node(first == std::string::npos ? std::string() : text.substr(first));
  }
}

struct KeySegment {
  std::string name;
  int column;  // 1-based, in the override text
};

void apply_override(SourceNode& root, const std::string& text, int index) {
  auto location = [&](int column) { return SourceLocation{kOverrideSource, index, column}; };
  const std::size_t equals = text.find('=');
  if (equals == std::string::npos) {
    throw InputError(
        at(location(1), "expected key.path=value, got '" + text + "' (there is no '=')"));
  }

  std::vector<KeySegment> segments;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = std::min(text.find('.', start), equals);
    std::size_t first = start;
    std::size_t last = end;
    while (first < last && text[first] == ' ') ++first;
    while (last > first && text[last - 1] == ' ') --last;
    if (first == last) {
      throw InputError(at(location(static_cast<int>(first) + 1),
                          "empty key name in '" + text.substr(0, equals) + "'"));
    }
    segments.push_back({text.substr(first, last - first), static_cast<int>(first) + 1});
    if (end == equals) break;
    start = end + 1;
  }
  if (segments.size() == 1 && segments[0].name == "base") {
    throw InputError(
        at(location(segments[0].column), "base can only be set in a config file, not with --set"));
  }

  const int value_column = static_cast<int>(equals) + 1;  // 0-based column of the value
  const std::string value_text = text.substr(equals + 1);
  const SourceText value_source{kOverrideSource, index, value_column};
  const YAML::Node value = parse_override_value(value_text, value_source);

  std::vector<KeyPathSegment> path;
  for (const KeySegment& segment : segments)
    path.push_back({segment.name, location(segment.column)});
  SourceNode leaf =
      source_node_from_yaml(segments.back().name, path.back().location, value, value_source);
  if (leaf.value_location.col == 0 || leaf.value_location == leaf.key_location) {
    leaf.value_location = location(value_column + 1);
  }
  set_at_path(root, path, std::move(leaf));
}

}  // namespace

// Opening a FIFO would block: only regular files are read.
std::optional<std::string> read_yaml_file(const std::string& path_text) {
  const fs::path path(path_text);
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (status.type() == fs::file_type::not_found || error) return std::nullopt;
  if (status.type() != fs::file_type::regular)
    throw InputError(path.string() + ": expected a regular file (a YAML config), found " +
                     (status.type() == fs::file_type::directory ? "a directory"
                      : status.type() == fs::file_type::fifo    ? "a FIFO"
                                                                : "a device or socket"));
  const std::uintmax_t size = fs::file_size(path, error);
  if (!error && size > kMaxConfigBytes)
    throw InputError(path.string() + ": expected a config of at most " +
                     std::to_string(kMaxConfigBytes) + " bytes, found " + std::to_string(size));
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

SourceLocation SourceText::locate(const YAML::Mark& mark) const {
  if (mark.is_null()) return SourceLocation{name, fixed_line, 0};
  if (fixed_line > 0) return SourceLocation{name, fixed_line, column_offset + mark.column + 1};
  return SourceLocation{name, mark.line + 1, mark.column + 1};
}

const SourceNode* SourceNode::find(std::string_view child_key) const {
  for (const SourceNode& entry : entries) {
    if (entry.key == child_key) return &entry;
  }
  return nullptr;
}

SourceNode* SourceNode::find(std::string_view child_key) {
  return const_cast<SourceNode*>(std::as_const(*this).find(child_key));
}

void merge_source(SourceNode& base, SourceNode top) {
  if (!(base.is_map && top.is_map)) {
    base = std::move(top);
    return;
  }
  if (!top.key.empty()) {
    base.key_location = top.key_location;
    base.value_location = top.value_location;
  }
  for (SourceNode& entry : top.entries) {
    if (SourceNode* existing = base.find(entry.key)) {
      merge_source(*existing, std::move(entry));
    } else {
      base.entries.push_back(std::move(entry));
    }
  }
}

SourceNode load_source_file(const std::string& path) {
  const std::optional<std::string> text = read_yaml_file(path);
  if (!text) throw InputError(located(path, 0, 0, "cannot open config file"));
  BaseChain chain{{identity_of(path)}, {path}};
  return resolve_base(parse_document(*text, path), fs::path(path).parent_path(), chain);
}

SourceNode load_source_text(const std::string& text, const std::string& name) {
  BaseChain chain;
  return resolve_base(parse_document(text, name), fs::path(), chain);
}

SourceNode source_node_from_yaml(const std::string& key, const SourceLocation& key_location,
                                 const YAML::Node& value, const SourceText& source) {
  SourceNode node;
  node.key = key;
  node.key_location = key_location;
  NodeBudget budget;
  fill_from_yaml(node, value, source, budget);
  return node;
}

void set_at_path(SourceNode& root, const std::vector<KeyPathSegment>& path, SourceNode leaf) {
  SourceNode* node = &root;
  std::string dotted;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    const KeyPathSegment& segment = path[i];
    dotted += (dotted.empty() ? "" : ".") + segment.name;
    SourceNode* child = node->find(segment.name);
    if (child == nullptr) {
      SourceNode section;
      section.key = segment.name;
      section.key_location = segment.location;
      section.value_location = section.key_location;
      section.source = leaf.source;
      section.is_map = true;
      node->entries.push_back(std::move(section));
      child = &node->entries.back();
    } else if (!child->is_map) {
      if (!child->is_null()) {
        throw InputError(at(segment.location, "'" + dotted +
                                                  "' is a value, not a section, so it has "
                                                  "no key '" +
                                                  path[i + 1].name + "'"));
      }
      // Setting a key inside an absent optional block (moe: null) creates the block.
      child->is_map = true;
      child->set_value(YAML::Node());
      child->key_location = segment.location;
      child->value_location = child->key_location;
    }
    node = child;
  }
  if (SourceNode* existing = node->find(leaf.key)) {
    merge_source(*existing, std::move(leaf));
  } else {
    node->entries.push_back(std::move(leaf));
  }
}

void apply_overrides(SourceNode& root, const std::vector<std::string>& overrides) {
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    apply_override(root, overrides[i], static_cast<int>(i) + 1);
  }
}

}  // namespace gatedlm
