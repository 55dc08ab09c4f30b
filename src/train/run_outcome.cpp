#include "gatedlm/train/run_outcome.h"

#include <filesystem>
#include <fstream>

#include "gatedlm/checkpoint/store.h"

namespace gatedlm {
namespace fs = std::filesystem;

void write_run_outcome(const std::string& run_dir, const nlohmann::json& outcome) {
  // Durable and atomic: a sweep that sees the file may skip the run for ever.
  const std::string path = (fs::path(run_dir) / kRunDoneFile).string();
  write_file_durably(path + ".tmp", outcome.dump(1) + "\n");
  fs::rename(path + ".tmp", path);
}

std::optional<nlohmann::json> read_run_outcome(const std::string& run_dir) {
  std::ifstream in(fs::path(run_dir) / kRunDoneFile);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

void clear_run_outcome(const std::string& run_dir) {
  std::error_code ec;
  fs::remove(fs::path(run_dir) / kRunDoneFile, ec);
}

}  // namespace gatedlm
