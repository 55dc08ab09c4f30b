#include "gatedlm/train/metrics.h"

#include <filesystem>
#include <iterator>
#include <string_view>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;

MetricsWriter::MetricsWriter(const std::string& path, std::optional<int64_t> resumed_at,
                             const std::string& tensorboard_dir)
    : path_(path), out_(path, resumed_at ? std::ios::app : std::ios::trunc) {
  if (!out_) throw RuntimeFailure(path + ": cannot open for writing");
  if (tensorboard_dir.empty()) return;
  tensorboard_ = std::make_unique<TensorBoardWriter>(tensorboard_dir);
  if (resumed_at) tensorboard_->add_session_start(*resumed_at);
}

void MetricsWriter::write(const nlohmann::json& line) {
  out_ << line.dump() << '\n';
  out_.flush();
  if (!out_) throw RuntimeFailure(path_ + ": write failed");
  if (tensorboard_ && line.contains("step") && line["step"].is_number_integer())
    tensorboard_->add_scalars(line["step"].get<int64_t>(), tensorboard_scalars(line));
}

void MetricsWriter::rewind(int64_t step) {
  out_.close();
  drop_metrics_after(path_, step, true);
  out_.open(path_, std::ios::app);
  if (!out_) throw RuntimeFailure(path_ + ": cannot reopen for writing");
  if (tensorboard_) tensorboard_->add_session_start(step);
}

int64_t drop_metrics_after(const std::string& path, int64_t step, bool keep_events) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::string kept;
  int64_t dropped = 0;
  size_t begin = 0;
  while (begin < text.size()) {
    const size_t end = text.find('\n', begin);
    // A last line without its newline was cut by a kill mid-write: appending after it would
    // glue the next line onto it.
    if (end == std::string::npos) {
      ++dropped;
      break;
    }
    const std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
        j["step"].get<int64_t>() > step && !(keep_events && j.contains("event"))) {
      ++dropped;
      continue;
    }
    kept.append(line).push_back('\n');
  }
  if (dropped == 0) return 0;
  const std::string tmp = path + ".tmp";
  write_file_durably(tmp, kept);
  fs::rename(tmp, path);
  return dropped;
}

std::vector<std::pair<std::string, double>> tensorboard_scalars(const nlohmann::json& line) {
  static const std::pair<const char*, const char*> kTags[] = {
      {"loss", "train/loss"},
      {"loss_avg", "train/loss_avg"},
      {"mfu", "train/mfu"},
      {"lr", "train/lr"},
      {"grad_norm", "train/grad_norm"},
      {"tokens_per_s", "train/tokens_per_s"},
      {"val_loss", "val/loss"},
      {"first_token_attn", "analysis/first_token_attn"},
      {"max_act", "analysis/max_act"},
      {"gate_score", "analysis/gate_score"}};
  std::vector<std::pair<std::string, double>> out;
  if (line.contains("event")) return out;  // stability events: in metrics.jsonl only
  for (const auto& [key, tag] : kTags)
    if (line.contains(key) && line[key].is_number()) out.emplace_back(tag, line[key].get<double>());
  if (line.contains("analysis") && line["analysis"].is_array()) {
    for (const nlohmann::json& layer : line["analysis"]) {
      const std::string prefix = "analysis/layer_" + std::to_string(layer.value("layer", 0)) + "/";
      if (layer.contains("first_token_attn") && layer["first_token_attn"].is_number())
        out.emplace_back(prefix + "first_token_attn", layer["first_token_attn"].get<double>());
      if (layer.contains("max_act") && layer["max_act"].contains("ffn_residual"))
        out.emplace_back(prefix + "max_act", layer["max_act"]["ffn_residual"].get<double>());
      if (layer.contains("gate_score") && layer["gate_score"].is_number())
        out.emplace_back(prefix + "gate_score", layer["gate_score"].get<double>());
    }
  }
  return out;
}

}  // namespace gatedlm
