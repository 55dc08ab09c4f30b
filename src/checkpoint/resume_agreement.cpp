#include "gatedlm/checkpoint/resume_agreement.h"

#include <spdlog/spdlog.h>

#include "gatedlm/checkpoint/format.h"

namespace gatedlm {

std::optional<ResumePoint> agree_on_resume_point(Communicator& world, const std::string& run_dir,
                                                 const std::string& explicit_path,
                                                 const std::vector<ParamInfo>& expected,
                                                 const CheckpointSlices& slices) {
  std::vector<std::string> rejected;  // damaged in the blocks of a rank other than 0
  for (;;) {
    std::optional<ResumePoint> point;
    if (world.rank() == 0)
      point = explicit_path.empty()
                  ? find_resume_point(run_dir, expected, &slices, rejected)
                  : std::optional(load_resume_point(explicit_path, expected, &slices));
    std::string dir = point ? point->dir : "";
    broadcast_string(world, dir, 0);
    double damaged = 0.0;
    if (world.rank() != 0 && !dir.empty()) {
      try {
        point = load_resume_point(dir, expected, &slices);
      } catch (const CheckpointCorrupt& e) {
        if (!explicit_path.empty()) throw;
        spdlog::warn("checkpoint {} is damaged ({}); trying an older one", dir, e.what());
        damaged = 1.0;
      }
    }
    world.all_reduce(&damaged, 1, ReduceOp::max);
    if (damaged == 0.0) return point;
    rejected.push_back(dir);
  }
}

}  // namespace gatedlm
