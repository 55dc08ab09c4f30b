// Where each config key was written. load_config fills one per Config, so that any module can
// point an error about a config value at the YAML line (or --set argument) that set it.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace gatedlm {

struct SourceLocation {
  std::string file;  // a path, or "--set" for a command-line override
  int line = 0;      // 1-based; 0 = unknown (for "--set": the override's 1-based index)
  int col = 0;       // 1-based; 0 = unknown

  bool operator==(const SourceLocation&) const = default;
};

class KeyLocations {
 public:
  // Names errors about keys that nobody wrote (they kept their defaults).
  void set_default_file(std::string file) { default_file_ = std::move(file); }
  const std::string& default_file() const { return default_file_; }

  // `dotted_key` as in YAML: "model.hidden_size", "optimizer.betas", "model" (a section).
  void record(const std::string& dotted_key, SourceLocation location);

  // The key's location, else its nearest enclosing section's, else the default file.
  SourceLocation find(std::string_view dotted_key) const;

  // "file:line:col: message" at find(dotted_key).
  std::string locate(std::string_view dotted_key, const std::string& message) const;

  bool empty() const { return by_key_.empty(); }

 private:
  std::string default_file_;
  std::map<std::string, SourceLocation, std::less<>> by_key_;
};

}  // namespace gatedlm
