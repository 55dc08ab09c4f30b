#include "gatedlm/cli/cli.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <vector>

#include "commands.h"
#include "gatedlm/backend/cpu/cpu_backend.h"
#include "gatedlm/backend/cpu/thread_limit.h"
#include "gatedlm/comm/launch.h"
#include "gatedlm/core/build_info.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace cli {

void add_threads_option(CLI::App& cmd, int& threads) {
  cmd.add_option("--threads", threads,
                 "CPU threads for OpenMP and OpenBLAS (default: GATEDLM_THREADS, "
                 "OMP_NUM_THREADS, or all cores)")
      ->check(CLI::Range(0, kMaxCpuThreads));
}

void apply_threads(int threads) { set_cpu_threads(threads > 0 ? threads : default_cpu_threads()); }

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device, "compute on cpu (default) or cuda (GPU 0)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
}

}  // namespace cli

namespace {

// A message is one line on stderr whatever text it quotes (a key or path holding a newline).
std::string one_line(const char* message) {
  std::string out;
  for (const char* p = message; *p; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c < 0x20 && c != '\t')
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

int run_cli(int argc, char** argv) {
  // A write past `ulimit -f` then fails with EFBIG and is reported (exit 1), for every command.
  std::signal(SIGXFSZ, SIG_IGN);
  cli::configure_console_log();
  CLI::App app{"gatedlm: pretraining dense and MoE transformers with gated attention"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string(gatedlm_version()) + " (" + gatedlm_git_commit() + ")");
  const std::vector<cli::Command> commands = {
      cli::add_train_command(app),      cli::add_eval_command(app),
      cli::add_analyze_command(app),    cli::add_bench_command(app),
      cli::add_prepare_command(app),    cli::add_oracle_dump_command(app),
      cli::add_checkpoint_command(app), cli::add_export_command(app),
      cli::add_import_command(app),     cli::add_sweep_command(app),
      cli::add_report_command(app),     cli::add_generate_command(app),
      cli::add_tokenizer_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "gatedlm: %s (see gatedlm --help)\n", one_line(e.what()).c_str());
    return 2;
  }
  // Under mpirun one rank's error ends the job, or the others would wait in a collective.
  auto failed = [](int code) {
    abort_job_if_distributed(code);
    return code;
  };
  try {
    for (const cli::Command& cmd : commands)
      if (cmd.app->parsed()) return cmd.run();
    return 2;
  } catch (const InputError& e) {
    std::fprintf(stderr, "%s\n", one_line(e.what()).c_str());
    return failed(2);
  } catch (const RuntimeFailure& e) {
    std::fprintf(stderr, "error: %s\n", one_line(e.what()).c_str());
    return failed(1);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return failed(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", one_line(e.what()).c_str());
    return failed(1);
  }
}

}  // namespace gatedlm
