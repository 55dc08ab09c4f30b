#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "commands.h"
#include "gatedlm/core/error.h"
#include "gatedlm/sweep/report.h"

namespace gatedlm::cli {

namespace fs = std::filesystem;

namespace {

// scripts/plot_report.py: $GATEDLM_PLOT_SCRIPT, else beside the build (build/gatedlm ->
// scripts/), else an installed share/gatedlm/.
std::string find_plot_script() {
  if (const char* env = std::getenv("GATEDLM_PLOT_SCRIPT")) return env;
  std::error_code ec;
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const fs::path& candidate : {exe_dir / ".." / "scripts" / "plot_report.py",
                                    exe_dir / ".." / "share" / "gatedlm" / "plot_report.py"})
    if (fs::exists(candidate)) return fs::weakly_canonical(candidate).string();
  throw RuntimeFailure(
      "report tables written, but scripts/plot_report.py was not found for the plots (set "
      "GATEDLM_PLOT_SCRIPT, or pass --no-plots)");
}

void run_plot_script(const std::string& dir) {
  const std::string script = find_plot_script();
  const char* env_python = std::getenv("PYTHON");
  const std::string python = env_python ? env_python : "/usr/bin/python3";
  const pid_t pid = ::fork();
  if (pid < 0) throw RuntimeFailure("fork failed");
  if (pid == 0) {
    const char* argv[] = {python.c_str(), script.c_str(), dir.c_str(), nullptr};
    ::execv(python.c_str(), const_cast<char* const*>(argv));
    std::fprintf(stderr, "cannot run %s\n", python.c_str());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw RuntimeFailure("report tables written, but the plots failed (" + python + " " + script +
                         "; Debian: apt-get install python3-matplotlib)");
}

}  // namespace

Command add_report_command(CLI::App& app) {
  struct Args {
    std::string dir;
    bool no_plots = false;
    ReportOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Tables (report.md, report.csv) and PNG plots of a sweep or run directory");
  cmd->add_option("dir", args->dir, "a sweep directory (runs in subdirectories) or a run directory")
      ->required();
  cmd->add_flag("--no-plots", args->no_plots, "tables only");
  cmd->add_option("--spike-zscore", args->options.spike_zscore,
                  "spike threshold for runs trained without spike detection (default 4)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--spike-window", args->options.spike_window,
                  "rolling window, in logged steps, for those runs (default 20)")
      ->check(CLI::Range(2, 1 << 30));
  return {cmd, [args] {
            const std::string markdown = write_report(args->dir, args->options);
            std::fputs(markdown.c_str(), stdout);
            const bool positions = std::filesystem::exists(args->dir + "/positions.csv");
            std::printf("wrote %s/report.md, report.csv%s\n", args->dir.c_str(),
                        positions ? ", positions.csv" : "");
            std::fflush(stdout);  // before the plotting script writes to the same stream
            if (!args->no_plots) run_plot_script(args->dir);
            return 0;
          }};
}

}  // namespace gatedlm::cli
