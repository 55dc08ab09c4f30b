// RUN/done.json: written when training ends for good, removed when a run starts steps it has
// not done. Its presence is what makes a run "finished" to sweeps and reports:
//   {"outcome": "finished" | "diverged", "steps", "final_loss", "final_val_loss",
//    "tokens_per_s", "parameters", "time_s"}
// "diverged": stability.on_nonfinite is stop and the loss or gradient became non-finite.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace gatedlm {

inline constexpr const char* kRunDoneFile = "done.json";

void write_run_outcome(const std::string& run_dir, const nlohmann::json& outcome);
// nullopt when the run has not finished (or the file is unreadable).
std::optional<nlohmann::json> read_run_outcome(const std::string& run_dir);
void clear_run_outcome(const std::string& run_dir);

}  // namespace gatedlm
