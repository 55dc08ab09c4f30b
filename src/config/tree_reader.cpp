#include "gatedlm/config/tree_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <type_traits>

#include "gatedlm/config/did_you_mean.h"
#include "gatedlm/config/enum_names.h"
#include "gatedlm/config/schema.h"
#include "gatedlm/core/error.h"

namespace gatedlm {

namespace {

std::string at(const SourceLocation& where, const std::string& message) {
  return located(where.file, where.line, where.col, message);
}

// Quoted scalars ("3") are strings in YAML, never numbers or booleans.
bool is_plain_scalar(const YAML::Node& value) { return value.IsScalar() && value.Tag() != "!"; }

// How a value reads in a message: 'abc', the string "3", a list, a map, null.
std::string describe(const SourceNode& node) {
  if (node.is_map) return "a map";
  if (node.value().IsNull()) return "null";
  if (node.value().IsSequence()) return "a list";
  std::string text = node.value().Scalar();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return is_plain_scalar(node.value()) ? "'" + text + "'" : "the string \"" + text + "\"";
}

std::optional<int64_t> parse_integer(std::string_view text, bool& out_of_range) {
  out_of_range = false;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size() || text.empty()) return std::nullopt;
  if (error == std::errc::result_out_of_range) out_of_range = true;
  if (error != std::errc()) return std::nullopt;
  return value;
}

std::optional<uint64_t> parse_unsigned(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// YAML's float forms: 3, 3.5, 1e-3, 1.0e-3, .5, .inf, -.inf, .nan.
std::optional<double> parse_double(std::string_view text) {
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  if (digits == ".inf" || digits == ".Inf" || digits == ".INF") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (digits == ".nan" || digits == ".NaN" || digits == ".NAN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (digits.empty() ||
      !(std::isdigit(static_cast<unsigned char>(digits.front())) || digits.front() == '.')) {
    return std::nullopt;  // from_chars would take "inf" and "nan", which YAML spells otherwise
  }
  double value = 0.0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return negative ? -value : value;
}

std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view name : names) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

// The section path a dotted key lives in: "model.attention_gate" for
// "model.attention_gate.position", "" for "model".
std::string parent_of(const std::string& dotted_key) {
  const auto dot = dotted_key.rfind('.');
  return dot == std::string::npos ? std::string() : dotted_key.substr(0, dot);
}

std::string leaf_of(const std::string& dotted_key) {
  const auto dot = dotted_key.rfind('.');
  return dot == std::string::npos ? dotted_key : dotted_key.substr(dot + 1);
}

// A schema visitor that reads the source tree into the Config it walks.
class TreeReader {
 public:
  explicit TreeReader(KeyLocations& locations) : locations_(locations) {}

  void read(const SourceNode& root, Config& config) { walk(root, "", config); }

  void field(std::string_view key, int64_t& out) {
    const SourceNode* node = leaf(key);
    if (node == nullptr) return;
    bool out_of_range = false;
    std::optional<int64_t> value;
    if (is_plain_scalar(node->value())) value = parse_integer(node->value().Scalar(), out_of_range);
    if (!value) {
      fail(*node, key,
           out_of_range ? "integer out of range" : "expected an integer, got " + describe(*node));
    }
    out = *value;
  }

  void field(std::string_view key, uint64_t& out) {
    const SourceNode* node = leaf(key);
    if (node == nullptr) return;
    std::optional<uint64_t> value;
    if (is_plain_scalar(node->value())) value = parse_unsigned(node->value().Scalar());
    if (!value) fail(*node, key, "expected a non-negative integer, got " + describe(*node));
    out = *value;
  }

  void field(std::string_view key, double& out) {
    const SourceNode* node = leaf(key);
    if (node == nullptr) return;
    out = read_number(node->value(), node->value_location, key);
  }

  void field(std::string_view key, bool& out) {
    const SourceNode* node = leaf(key);
    if (node == nullptr) return;
    const std::string text =
        is_plain_scalar(node->value()) ? node->value().Scalar() : std::string();
    if (text == "true" || text == "True" || text == "TRUE") {
      out = true;
    } else if (text == "false" || text == "False" || text == "FALSE") {
      out = false;
    } else {
      fail(*node, key, "expected true or false, got " + describe(*node));
    }
  }

  void field(std::string_view key, std::string& out) {
    const SourceNode* node = leaf(key);
    if (node == nullptr) return;
    if (node->value().IsNull()) {
      out.clear();
    } else if (node->value().IsScalar()) {
      out = node->value().Scalar();
    } else {
      fail(*node, key, "expected a string, got " + describe(*node));
    }
  }

  template <class E>
  requires std::is_enum_v<E>
  void field(std::string_view key, E& out) {
    const SourceNode* node = leaf(key);
    if (node == nullptr) return;
    std::optional<E> value;
    if (node->value().IsScalar()) value = parse_enum<E>(node->value().Scalar());
    if (!value) {
      fail(*node, key,
           "unknown value " + describe(*node) + "; expected one of " + enum_choices<E>());
    }
    out = *value;
  }

  void choice(std::string_view key, std::string& out, std::span<const std::string_view> allowed) {
    const SourceNode* node = leaf(key);
    if (node == nullptr) return;
    const bool known =
        node->value().IsScalar() &&
        std::find(allowed.begin(), allowed.end(), node->value().Scalar()) != allowed.end();
    if (!known) {
      fail(*node, key, "unknown value " + describe(*node) + "; expected one of " + join(allowed));
    }
    out = node->value().Scalar();
  }

  void number_pair(std::string_view key, double& first, double& second) {
    const SourceNode* node = leaf(key);
    if (node == nullptr) return;
    if (!node->value().IsSequence() || node->value().size() != 2) {
      fail(*node, key, "expected a list of two numbers, got " + describe(*node));
    }
    first = read_number(node->value()[0], node->source.locate(node->value()[0].Mark()), key);
    second = read_number(node->value()[1], node->source.locate(node->value()[1].Mark()), key);
  }

  template <class S>
  void section(std::string_view key, S& out) {
    const SourceNode* node = current_->find(key);
    if (node == nullptr) return;
    const std::string path = prefix_ + std::string(key);
    locations_.record(path, node->key_location);
    if (node->is_null()) return;  // an empty section keeps its defaults
    if (!node->is_map) {
      throw InputError(
          at(node->value_location, path + ": expected a map of keys, got " + describe(*node)));
    }
    walk(*node, path, out);
  }

  template <class S>
  void optional_section(std::string_view key, std::optional<S>& out) {
    const SourceNode* node = current_->find(key);
    if (node == nullptr) return;
    const std::string path = prefix_ + std::string(key);
    locations_.record(path, node->key_location);
    if (node->is_null()) {
      out.reset();
      return;
    }
    if (!node->is_map) {
      throw InputError(at(node->value_location,
                          path + ": expected null or a map of keys, got " + describe(*node)));
    }
    out.emplace();
    walk(*node, path, *out);
  }

 private:
  template <class S>
  void walk(const SourceNode& node, const std::string& path, S& out) {
    reject_unknown_keys(node, path, section_keys<S>());
    const SourceNode* saved_node = current_;
    const std::string saved_prefix = prefix_;
    current_ = &node;
    prefix_ = path.empty() ? std::string() : path + ".";
    visit_fields(out, *this);
    current_ = saved_node;
    prefix_ = saved_prefix;
  }

  // The entry for a scalar or list key, with its location recorded; null when absent.
  const SourceNode* leaf(std::string_view key) {
    const SourceNode* node = current_->find(key);
    if (node == nullptr) return nullptr;
    locations_.record(prefix_ + std::string(key), node->value_location);
    if (node->is_map) fail(*node, key, "expected a single value, got a map");
    return node;
  }

  double read_number(const YAML::Node& value, const SourceLocation& where, std::string_view key) {
    std::optional<double> number;
    if (is_plain_scalar(value)) number = parse_double(value.Scalar());
    if (!number) {
      SourceNode shown;
      shown.set_value(value);
      throw InputError(
          at(where, prefix_ + std::string(key) + ": expected a number, got " + describe(shown)));
    }
    return *number;
  }

  [[noreturn]] void fail(const SourceNode& node, std::string_view key, const std::string& message) {
    throw InputError(at(node.value_location, prefix_ + std::string(key) + ": " + message));
  }

  void reject_unknown_keys(const SourceNode& node, const std::string& path,
                           const std::vector<std::string>& known) {
    for (const SourceNode& entry : node.entries) {
      if (std::find(known.begin(), known.end(), entry.key) != known.end()) continue;
      std::string message = "unknown key '" + entry.key + "' " +
                            (path.empty() ? std::string("at the top level") : "in " + path);
      if (std::optional<std::string> near = closest_name(entry.key, known)) {
        message += "; did you mean '" + *near + "'?";
      } else if (std::optional<std::string> elsewhere = key_in_another_section(entry.key, path)) {
        message += "; did you mean '" + *elsewhere + "'?";
      }
      throw InputError(at(entry.key_location, message));
    }
  }

  // A key written in the wrong section ("lr" under train:) names the one section it belongs to.
  static std::optional<std::string> key_in_another_section(const std::string& key,
                                                           const std::string& path) {
    std::optional<std::string> found;
    for (const std::string& dotted : all_config_keys()) {
      if (leaf_of(dotted) != key || parent_of(dotted) == path) continue;
      if (found) return std::nullopt;  // ambiguous ("type"): no suggestion beats a wrong one
      found = dotted;
    }
    return found;
  }

  KeyLocations& locations_;
  const SourceNode* current_ = nullptr;
  std::string prefix_;
};

}  // namespace

Config read_config(const SourceNode& root, const std::string& source_name) {
  Config config;
  config.source_path = source_name;
  config.locations.set_default_file(source_name);
  TreeReader reader(config.locations);
  reader.read(root, config);
  return config;
}

}  // namespace gatedlm
