#include "gatedlm/core/error.h"

namespace gatedlm {

std::string located(const std::string& file, int line, int col, const std::string& message) {
  // Appends rather than chaining operator+, which trips GCC 12's false -Wrestrict warning.
  std::string out = file;
  if (line > 0) {
    out.append(":").append(std::to_string(line));
    if (col > 0) out.append(":").append(std::to_string(col));
  }
  out.append(": ").append(message);
  return out;
}

}  // namespace gatedlm
