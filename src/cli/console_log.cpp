// The console logger: colour only when a person is watching. spdlog's own test (isatty(stdout))
// is fooled under mpirun, which hands each rank a pseudo-terminal whatever its own output is,
// so a piped `mpirun ... | tee log` would fill the log with ANSI codes.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "commands.h"
#include "gatedlm/comm/launch.h"

namespace gatedlm::cli {

bool console_colour() {
  if (std::getenv("NO_COLOR")) return false;  // https://no-color.org
  if (launched_by_mpi()) return false;
  const char* term = std::getenv("TERM");
  return isatty(STDOUT_FILENO) && term && std::strcmp(term, "dumb") != 0;
}

void configure_console_log() {
  auto sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>(
      console_colour() ? spdlog::color_mode::always : spdlog::color_mode::never);
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("", sink));
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
}

}  // namespace gatedlm::cli
