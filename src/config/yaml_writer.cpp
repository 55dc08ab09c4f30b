// config_to_yaml: the resolved config as YAML that load_config reads back to an equal Config.
#include <charconv>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

#include "gatedlm/config/enum_names.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/config/schema.h"

namespace gatedlm {

namespace {

// The shortest text that reads back to the same double, always with a '.' so that YAML 1.1
// readers (PyYAML) see a float too: 0.003, 1.0e-06, 10000.0, .inf.
std::string format_double(double value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, result.ptr);
  if (text.find('.') == std::string::npos) {
    const auto exponent = text.find('e');
    text.insert(exponent == std::string::npos ? text.size() : exponent, ".0");
  }
  return text;
}

std::string quote(const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\x";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// A schema visitor that prints every field in block style.
class YamlWriter {
 public:
  void field(std::string_view key, int64_t value) { line(key, std::to_string(value)); }
  void field(std::string_view key, uint64_t value) { line(key, std::to_string(value)); }
  void field(std::string_view key, double value) { line(key, format_double(value)); }
  void field(std::string_view key, bool value) { line(key, value ? "true" : "false"); }
  void field(std::string_view key, const std::string& value) { line(key, quote(value)); }
  template <class E>
  requires std::is_enum_v<E>
  void field(std::string_view key, E value) { line(key, std::string(enum_name(value))); }
  // Choices are plain identifiers; an unset one (empty) is quoted so that it stays a string.
  void choice(std::string_view key, const std::string& value, std::span<const std::string_view>) {
    line(key, value.empty() ? quote(value) : value);
  }
  void number_pair(std::string_view key, double first, double second) {
    line(key, "[" + format_double(first) + ", " + format_double(second) + "]");
  }
  template <class S>
  void section(std::string_view key, S& section) {
    out += std::string(indent_, ' ') + std::string(key) + ":\n";
    indent_ += 2;
    visit_fields(section, *this);
    indent_ -= 2;
  }
  template <class S>
  void optional_section(std::string_view key, std::optional<S>& section) {
    if (section) {
      this->section(key, *section);
    } else {
      line(key, "null");
    }
  }

  std::string out;

 private:
  void line(std::string_view key, const std::string& value) {
    out += std::string(indent_, ' ') + std::string(key) + ": " + value + "\n";
  }

  int indent_ = 0;
};

}  // namespace

std::string config_to_yaml(const Config& config) {
  Config copy = config;  // the schema walks mutable references
  YamlWriter writer;
  writer.out = "# gatedlm: the fully resolved config (every key; load_config reads it back)\n";
  visit_fields(copy, writer);
  return writer.out;
}

}  // namespace gatedlm
