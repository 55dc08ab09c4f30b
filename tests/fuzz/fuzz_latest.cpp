// checkpoints/latest: the input is the file's bytes, read by read_latest as resume, eval and
// retention do. Oracle beyond "no crash": an accepted `latest` names a step directory inside
// RUN/checkpoints in checkpoint_dir_name's own form, never a path elsewhere.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_support.h"
#include "gatedlm/checkpoint/store.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path run = [] {
    const char* dir = std::getenv("TMPDIR");
    fs::path p = fs::path(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (dir ? dir : "/tmp")) /
                 ("gatedlm-fuzz-latest-" + std::to_string(getpid()));
    fs::create_directories(p / "checkpoints");
    return p;
  }();
  {
    std::ofstream out(run / "checkpoints" / gatedlm::kLatestFile,
                      std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::string named;
  if (gatedlm::fuzz::accepts([&] { named = gatedlm::read_latest(run.string()); })) {
    const fs::path p(named);
    if (p.parent_path() != run / "checkpoints")
      gatedlm::fuzz::fail("latest names a path outside checkpoints/", named);
    if (gatedlm::checkpoint_step_of(p.filename().string()) < 0)
      gatedlm::fuzz::fail("latest accepted a name checkpoint_dir_name does not write", named);
  }
  return 0;
}
