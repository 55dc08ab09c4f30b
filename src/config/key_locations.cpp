#include "gatedlm/config/key_locations.h"

#include "gatedlm/core/error.h"

namespace gatedlm {

void KeyLocations::record(const std::string& dotted_key, SourceLocation location) {
  by_key_[dotted_key] = std::move(location);
}

SourceLocation KeyLocations::find(std::string_view dotted_key) const {
  std::string_view key = dotted_key;
  while (!key.empty()) {
    if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
    const auto dot = key.rfind('.');
    if (dot == std::string_view::npos) break;
    key = key.substr(0, dot);
  }
  return SourceLocation{default_file_, 0, 0};
}

std::string KeyLocations::locate(std::string_view dotted_key, const std::string& message) const {
  const SourceLocation where = find(dotted_key);
  return located(where.file, where.line, where.col, message);
}

}  // namespace gatedlm
