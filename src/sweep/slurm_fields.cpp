#include "slurm_fields.h"

#include <cstring>
#include <regex>

namespace gatedlm::sweep_spec {

namespace {

bool has_control(const std::string& text) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

std::string matching(const SpecReader& spec, const YAML::Node& node, const std::string& what,
                     const std::regex& pattern, const char* expected) {
  const std::string text = scalar(spec, node, what);
  if (!std::regex_match(text, pattern)) spec.fail(node, what + ": expected " + expected);
  return text;
}

}  // namespace

std::string sbatch_word(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  static const std::regex kWord("[A-Za-z0-9._+,:=@%/-]+");
  return matching(spec, node, what, kWord,
                  "one word of letters, digits and . _ - + , : = @ % / (no spaces, quotes or "
                  "shell characters)");
}

std::string slurm_time(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  static const std::regex kTime(
      "[0-9]{1,6}(:[0-9]{1,2}){0,2}|[0-9]{1,4}-[0-9]{1,2}(:[0-9]{1,2}){0,2}");
  return matching(spec, node, what, kTime,
                  "a Slurm time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
}

std::string slurm_mem(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  static const std::regex kMem("[0-9]{1,12}[KMGT]?");
  return matching(spec, node, what, kMem, "a memory size: digits and an optional K, M, G or T");
}

std::string sbatch_option(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  const std::string text = scalar(spec, node, what);
  if (text.empty() || text[0] != '-' || has_control(text))
    spec.fail(node, what + ": expected an sbatch option on one line, starting with '-'");
  return text;
}

std::string script_line(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  const std::string text = scalar(spec, node, what);
  for (unsigned char c : text)
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      spec.fail(node, what + ": expected one line of shell, found a control character (byte " +
                          std::to_string(c) + ")");
  return text;
}

int64_t bounded(const SpecReader& spec, const YAML::Node& node, const std::string& what,
                int64_t minimum, int64_t maximum) {
  const int64_t value = integer(spec, node, what);
  if (value < minimum || value > maximum)
    spec.fail(node, what + ": expected an integer from " + std::to_string(minimum) + " to " +
                        std::to_string(maximum) + ", got " + std::to_string(value));
  return value;
}

}  // namespace gatedlm::sweep_spec
