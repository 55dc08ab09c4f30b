// A YAML document as a tree that remembers where every key and value was written, so that
// errors raised after merging `base:` chains and --set overrides still point at the file, line
// and column the user has to edit.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatedlm/config/key_locations.h"

namespace gatedlm {

// Maps yaml-cpp marks (0-based) of one parsed text to 1-based positions in what the user wrote.
struct SourceText {
  std::string name;       // a file path, or "--set"
  int fixed_line = 0;     // > 0: every position is on this line (an override's index)
  int column_offset = 0;  // added to every column (where an override's value starts)

  SourceLocation locate(const YAML::Mark& mark) const;
};

struct SourceNode {
  std::string key;                // empty for the root
  SourceLocation key_location;    // where the key was written
  SourceLocation value_location;  // where the value starts (the key's location for empty values)
  SourceText source;              // for positions inside a leaf value, e.g. a list item
  bool is_map = false;
  std::vector<SourceNode> entries;  // a map, in the order written

  // A leaf: scalar, sequence or null.
  const YAML::Node& value() const { return *value_; }
  void set_value(const YAML::Node& value) { value_ = std::make_shared<const YAML::Node>(value); }

  const SourceNode* find(std::string_view child_key) const;
  SourceNode* find(std::string_view child_key);
  bool is_null() const { return !is_map && value_->IsNull(); }

 private:
  // Held by pointer: assigning one YAML::Node to another writes through to the shared data
  // (and to every alias of it), whereas SourceNodes are copied and reassigned freely.
  std::shared_ptr<const YAML::Node> value_ = std::make_shared<const YAML::Node>();
};

// A YAML file's text, for configs and sweep specs: nullopt when it is missing or unreadable;
// InputError naming it when it is a FIFO, device or directory, or larger than a config can be.
std::optional<std::string> read_yaml_file(const std::string& path);

// Exactly one YAML document (a second `---` one is an InputError, not silently dropped); parse
// errors are InputErrors at their position.
YAML::Node parse_yaml_document(const std::string& text, const SourceText& source);

// Parses a file and its `base:` chain (each base relative to the file that names it) into one
// tree; the child's keys override the base's, maps merging deeply. Throws InputError.
SourceNode load_source_file(const std::string& path);

// The same for text; a `base:` in it is relative to the current directory.
SourceNode load_source_text(const std::string& text, const std::string& name);

// Applies "a.b.c=value" overrides in order (the value is YAML). Errors and the locations of the
// keys they set read "--set:N:COL", N the 1-based index of the override.
void apply_overrides(SourceNode& root, const std::vector<std::string>& overrides);

// One segment of a dotted key path and where it was written.
struct KeyPathSegment {
  std::string name;
  SourceLocation location;
};

// A tree for `value` (a map becomes sections), keyed `key`, positions read through `source`.
SourceNode source_node_from_yaml(const std::string& key, const SourceLocation& key_location,
                                 const YAML::Node& value, const SourceText& source);

// Lays `leaf` (keyed path.back().name) over the tree at `path`, creating sections on the way,
// as --set does; a path through a value that is not a section is an InputError at that segment.
void set_at_path(SourceNode& root, const std::vector<KeyPathSegment>& path, SourceNode leaf);

// Lays `top` over `base`: maps merge key by key, anything else in `top` replaces.
void merge_source(SourceNode& base, SourceNode top);

}  // namespace gatedlm
