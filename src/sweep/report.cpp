#include "gatedlm/sweep/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "gatedlm/checkpoint/store.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/core/error.h"
#include "gatedlm/train/run_outcome.h"
#include "gatedlm/train/stability.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

std::optional<double> number(const nlohmann::json& j, const char* key) {
  if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
  return std::nullopt;
}

RunReport read_run(const fs::path& dir, const ReportOptions& options) {
  RunReport r;
  r.dir = dir.string();
  r.name = dir.filename().string();
  if (std::ifstream in(dir / "sweep-run.json"); in) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded()) {
      r.name = j.value("name", r.name);
      r.variant = j.value("variant", "");
      r.stage = j.value("stage", "");
    }
  }
  std::optional<Config> config;
  try {
    config = load_config((dir / "config.yaml").string());
    r.lr = config->optimizer.lr;
    r.train_seq_len = config->train.seq_len;
  } catch (const InputError&) {
  }
  const bool logged_spikes = config && config->stability.spike_zscore > 0;
  const int64_t warmup = config ? config->scheduler.warmup_steps : 0;
  SpikeDetector detector(options.spike_zscore, options.spike_window);

  // Later lines of a step win: a rollback logs the replayed steps again.
  std::map<int64_t, nlohmann::json> train_lines;
  std::ifstream metrics(dir / "metrics.jsonl");
  std::string line;
  double rate_sum = 0.0;
  int64_t rate_count = 0;
  while (std::getline(metrics, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step")) continue;
    const int64_t step = j["step"].get<int64_t>();
    if (j.contains("event")) {
      const std::string event = j["event"].get<std::string>();
      if (event == "spike" && logged_spikes) r.spike_steps.push_back(step);
      if (event == "nonfinite" && !r.diverged) {
        r.diverged = true;
        r.divergence = fmt::format("non-finite loss at step {}", step);
      }
    } else if (j.contains("loss")) {
      train_lines[step] = j;
    } else if (const auto v = number(j, "val_loss")) {
      r.val_loss = v;
    } else if (j.contains("first_token_attn")) {
      r.first_token_attn = number(j, "first_token_attn");
      r.max_act = number(j, "max_act");
      r.gate_score = number(j, "gate_score");
      r.layer_first_token_attn.clear();
      r.layer_max_act.clear();
      for (const nlohmann::json& layer : j.value("analysis", nlohmann::json::array())) {
        r.layer_first_token_attn.push_back(layer.value("first_token_attn", 0.0));
        r.layer_max_act.push_back(layer["max_act"].value("ffn_residual", 0.0));
      }
    }
  }
  // The loss at initialisation: step 1's when logged, else that of a uniform prediction,
  // ln(vocab_size), which is what a freshly initialised model (std 0.02) gives.
  std::optional<double> initial;
  if (!train_lines.count(1) && config)
    initial = std::log(static_cast<double>(config->model.vocab_size));
  for (const auto& [step, j] : train_lines) {
    const std::optional<double> loss = number(j, "loss");
    if (!loss) continue;
    if (!initial) initial = loss;
    if (!logged_spikes && detector.is_spike(*loss)) r.spike_steps.push_back(step);
    detector.add(step, *loss);
    if (step > warmup && *loss > *initial && !r.diverged) {
      r.diverged = true;
      r.divergence =
          fmt::format("loss {:.3f} above the initial {:.3f} at step {}", *loss, *initial, step);
    }
    r.final_loss = loss;
    r.steps = step;
    // The first window includes start-up; leave it out of the rate when there are others.
    if (const auto rate = number(j, "tokens_per_s"); rate && step != train_lines.begin()->first) {
      rate_sum += *rate;
      ++rate_count;
    }
  }
  if (rate_count > 0)
    r.tokens_per_s = rate_sum / static_cast<double>(rate_count);
  else if (!train_lines.empty())
    r.tokens_per_s = number(train_lines.begin()->second, "tokens_per_s");
  const std::optional<nlohmann::json> outcome = read_run_outcome(dir.string());
  if (outcome) {
    if (outcome->contains("parameters")) r.parameters = outcome->at("parameters").get<int64_t>();
    if (outcome->value("outcome", "") == "diverged" && !r.diverged) {
      r.diverged = true;
      r.divergence = "stopped: non-finite loss";
    }
    r.steps = std::max<int64_t>(r.steps, outcome->value("steps", int64_t{0}));
  }
  r.state = r.diverged ? "diverged" : outcome ? "done" : "partial";
  r.evaluations = read_eval_results(dir.string());
  return r;
}

std::string cell(const std::optional<double>& v, const char* format = "{:.4f}") {
  return v ? fmt::format(fmt::runtime(format), *v) : "";
}

std::string steps_text(const std::vector<int64_t>& steps) {
  std::string out;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (i == 8) return out + " ...";
    out.append(i ? " " : "").append(std::to_string(steps[i]));
  }
  return out;
}

std::optional<double> perplexity(const std::optional<double>& loss) {
  if (!loss) return std::nullopt;
  return std::exp(*loss);
}

}  // namespace

std::vector<RunReport> collect_run_reports(const std::string& dir, const ReportOptions& options) {
  std::vector<RunReport> runs;
  if (fs::exists(fs::path(dir) / "metrics.jsonl")) {
    runs.push_back(read_run(dir, options));
  } else {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw InputError(dir + ": not a directory (expected a sweep or run directory)");
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.is_directory() && fs::exists(entry.path() / "metrics.jsonl"))
        runs.push_back(read_run(entry.path(), options));
    if (runs.empty())
      throw InputError(dir + ": no runs here (no metrics.jsonl in it or its subdirectories)");
  }
  std::sort(runs.begin(), runs.end(), [](const RunReport& a, const RunReport& b) {
    return std::tie(a.variant, a.lr, a.name) < std::tie(b.variant, b.lr, b.name);
  });
  // The largest LR of each variant whose run did not diverge.
  std::map<std::string, std::optional<double>> stable;
  for (const RunReport& r : runs) {
    std::optional<double>& best = stable[r.variant];
    if (!r.diverged && r.state != "partial" && (!best || r.lr > *best)) best = r.lr;
  }
  for (RunReport& r : runs) r.max_stable_lr = stable[r.variant];
  return runs;
}

std::string report_markdown(const std::vector<RunReport>& runs) {
  std::string out =
      "| run | variant | lr | steps | state | train loss (last step) | val loss | val PPL | F-Attn "
      "| M-Act | "
      "gate score | spikes | spike steps | max stable LR (variant) | tok/s | params |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const RunReport& r : runs) {
    out += fmt::format(
        "| {} | {} | {:.4g} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        r.name, r.variant, r.lr, r.steps,
        r.diverged ? fmt::format("{} ({})", r.state, r.divergence) : r.state, cell(r.final_loss),
        cell(r.val_loss), cell(perplexity(r.val_loss), "{:.2f}"),
        cell(r.first_token_attn, "{:.3f}"), cell(r.max_act, "{:.1f}"), cell(r.gate_score, "{:.3f}"),
        r.spike_steps.size(), steps_text(r.spike_steps), cell(r.max_stable_lr, "{:.4g}"),
        cell(r.tokens_per_s, "{:.0f}"), r.parameters ? std::to_string(*r.parameters) : "");
  }
  return out;
}

std::string report_csv(const std::vector<RunReport>& runs) {
  std::string out =
      "run,variant,lr,steps,state,diverged,train_loss,val_loss,val_ppl,first_token_attn,"
      "max_act,gate_score,spikes,spike_steps,max_stable_lr,tokens_per_s,parameters\n";
  for (const RunReport& r : runs) {
    std::string steps;
    for (int64_t s : r.spike_steps)
      steps.append(steps.empty() ? "" : " ").append(std::to_string(s));
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.name, r.variant,
                       r.lr, r.steps, r.state, r.diverged ? 1 : 0, cell(r.final_loss, "{:.6g}"),
                       cell(r.val_loss, "{:.6g}"), cell(perplexity(r.val_loss), "{:.6g}"),
                       cell(r.first_token_attn, "{:.6g}"), cell(r.max_act, "{:.6g}"),
                       cell(r.gate_score, "{:.6g}"), r.spike_steps.size(), steps,
                       cell(r.max_stable_lr, "{:.6g}"), cell(r.tokens_per_s, "{:.6g}"),
                       r.parameters ? std::to_string(*r.parameters) : "");
  }
  return out;
}

std::string eval_length_markdown(const std::vector<RunReport>& runs) {
  std::set<int64_t> lengths;
  for (const RunReport& r : runs)
    for (const RunEvalResult& e : r.evaluations) lengths.insert(e.seq_len);
  if (lengths.empty()) return "";
  std::string out =
      "\n## Loss by evaluation length\n\nMean loss over the window; last column: the positions "
      "at or beyond the run's training length, at the longest evaluation.\n\n| run | variant | "
      "setting | train len |";
  std::string rule = "|---|---|---|---|";
  for (int64_t length : lengths) {
    out += fmt::format(" {} |", length);
    rule += "---|";
  }
  out += " beyond train len |\n" + rule + "---|\n";
  for (const RunReport& r : runs) {
    std::vector<std::string> settings;  // in the order the spec lists them
    for (const RunEvalResult& e : r.evaluations)
      if (std::find(settings.begin(), settings.end(), e.setting) == settings.end())
        settings.push_back(e.setting);
    for (const std::string& setting : settings) {
      std::map<int64_t, const RunEvalResult*> by_length;
      for (const RunEvalResult& e : r.evaluations)
        if (e.setting == setting) by_length[e.seq_len] = &e;
      out += fmt::format("| {} | {} | {} | {} |", r.name, r.variant, setting, r.train_seq_len);
      for (int64_t length : lengths)
        out += fmt::format(" {} |",
                           cell(by_length.count(length) ? std::optional(by_length[length]->val_loss)
                                                        : std::nullopt));
      // Buckets of the longest evaluation that start at or after the training length.
      const RunEvalResult& longest = *by_length.rbegin()->second;
      double sum = 0.0;
      int64_t count = 0;
      for (const EvalBucketLoss& b : longest.buckets)
        if (b.start >= r.train_seq_len) {
          sum += b.loss;
          ++count;
        }
      out += fmt::format(" {} |\n", cell(count ? std::optional(sum / count) : std::nullopt));
    }
  }
  return out;
}

std::string positions_csv(const std::vector<RunReport>& runs) {
  std::string out =
      "run,variant,stage,setting,train_seq_len,eval_seq_len,bucket_start,bucket_end,bucket_loss,"
      "val_loss\n";
  for (const RunReport& r : runs)
    for (const RunEvalResult& e : r.evaluations)
      for (const EvalBucketLoss& b : e.buckets)
        out +=
            fmt::format("{},{},{},{},{},{},{},{},{:.6g},{:.6g}\n", r.name, r.variant, r.stage,
                        e.setting, r.train_seq_len, e.seq_len, b.start, b.end, b.loss, e.val_loss);
  return out;
}

std::string write_report(const std::string& dir, const ReportOptions& options) {
  const std::vector<RunReport> runs = collect_run_reports(dir, options);
  const std::string markdown = report_markdown(runs) + eval_length_markdown(runs);
  nlohmann::json json = nlohmann::json::array();
  auto opt = [](const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json();
  };
  for (const RunReport& r : runs) {
    nlohmann::json evaluations = nlohmann::json::array();
    for (const RunEvalResult& e : r.evaluations) {
      nlohmann::json buckets = nlohmann::json::array();
      for (const EvalBucketLoss& b : e.buckets)
        buckets.push_back({{"start", b.start}, {"end", b.end}, {"loss", b.loss}});
      evaluations.push_back({{"setting", e.setting},
                             {"seq_len", e.seq_len},
                             {"val_loss", e.val_loss},
                             {"buckets", buckets}});
    }
    json.push_back({{"name", r.name},
                    {"dir", fs::absolute(r.dir).string()},
                    {"variant", r.variant},
                    {"lr", r.lr},
                    {"state", r.state},
                    {"diverged", r.diverged},
                    {"final_loss", opt(r.final_loss)},
                    {"val_loss", opt(r.val_loss)},
                    {"spike_steps", r.spike_steps},
                    {"layer_first_token_attn", r.layer_first_token_attn},
                    {"layer_max_act", r.layer_max_act},
                    {"stage", r.stage},
                    {"train_seq_len", r.train_seq_len},
                    {"evaluations", evaluations}});
  }
  write_file_durably((fs::path(dir) / "report.md").string(), markdown);
  write_file_durably((fs::path(dir) / "report.csv").string(), report_csv(runs));
  write_file_durably((fs::path(dir) / "report.json").string(), json.dump(1) + "\n");
  if (std::any_of(runs.begin(), runs.end(),
                  [](const RunReport& r) { return !r.evaluations.empty(); }))
    write_file_durably((fs::path(dir) / "positions.csv").string(), positions_csv(runs));
  return markdown;
}

}  // namespace gatedlm
