#include "gatedlm/sweep/eval_results.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

// A loss as gatedlm eval --json writes it: a number, or null for a non-finite one.
double loss_value(const nlohmann::json& value) {
  if (value.is_null()) return std::numeric_limits<double>::quiet_NaN();
  return value.get<double>();
}

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!in || j.is_discarded() || !j.is_object())
    throw RuntimeFailure(path.string() + ": not a JSON object");
  return j;
}

}  // namespace

std::vector<RunEvalResult> read_eval_results(const std::string& run_dir) {
  std::vector<RunEvalResult> results;
  const fs::path record_path = fs::path(run_dir) / "sweep-run.json";
  if (!fs::exists(record_path)) return results;
  const nlohmann::json record = read_json_file(record_path);
  for (const nlohmann::json& listed : record.value("evaluations", nlohmann::json::array())) {
    const fs::path file = fs::path(run_dir) / listed.value("file", "");
    if (!fs::is_regular_file(file)) continue;
    const nlohmann::json j = read_json_file(file);
    RunEvalResult r;
    r.setting = listed.value("setting", "");
    r.seq_len = listed.value("seq_len", int64_t{0});
    try {
      r.val_loss = loss_value(j.at("val_loss"));
      for (const nlohmann::json& b : j.value("position_buckets", nlohmann::json::array()))
        r.buckets.push_back(
            {b.at("start").get<int64_t>(), b.at("end").get<int64_t>(), loss_value(b.at("loss"))});
    } catch (const nlohmann::json::exception& e) {
      throw RuntimeFailure(file.string() + ": not an eval result (" + e.what() + ")");
    }
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace gatedlm
