// Reading a sweep spec's YAML with file:line:col in every error: shared by the spec loader
// (spec.cpp) and its staged parts (stages.cpp). Private to src/sweep.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gatedlm/config/source_tree.h"
#include "gatedlm/core/error.h"

namespace gatedlm::sweep_spec {

struct SpecReader {
  std::string path;
  SourceText source{path, 0, 0};

  SourceLocation where(const YAML::Node& node) const { return source.locate(node.Mark()); }
  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    const SourceLocation at = where(node);
    throw InputError(located(at.file, at.line, at.col, message));
  }
};

// A value as YAML text on one line, as --dry-run shows it.
std::string yaml_text(const YAML::Node& value);

// "2.0e-3" -> "2.0e-3", "{a: b}" -> "-a-b-": what may stand in a directory name.
std::string name_safe(const std::string& text);

// A name the spec gives (a variant, a stage, an evaluation setting): usable in a directory name.
std::string checked_name(const SpecReader& spec, const YAML::Node& node, const std::string& what);

std::string scalar(const SpecReader& spec, const YAML::Node& node, const std::string& what);
int64_t integer(const SpecReader& spec, const YAML::Node& node, const std::string& what);
// A list of scalars, each read (and checked) by `item`.
using ItemReader = std::string (*)(const SpecReader&, const YAML::Node&, const std::string&);
std::vector<std::string> string_list(const SpecReader& spec, const YAML::Node& node,
                                     const std::string& what, ItemReader item = scalar);

// Dotted key -> value pairs, as written (a variant's, a stage's `set:`, an evaluation setting's).
using NodeOverrides = std::vector<std::pair<YAML::Node, YAML::Node>>;
NodeOverrides read_overrides(const SpecReader& spec, const YAML::Node& node,
                             const std::string& what);

// Sets dotted `key` (written at `at`) to `value` in `root`; every segment points at the key.
void apply(const SpecReader& spec, SourceNode& root, const std::string& key,
           const SourceLocation& at, const YAML::Node& value);

}  // namespace gatedlm::sweep_spec
