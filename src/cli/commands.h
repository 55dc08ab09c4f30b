// Internal to the CLI: each command registers its subcommand and returns what runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace gatedlm::cli {

// A registered subcommand and what runs it (returns the exit code) once it is parsed.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_train_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_analyze_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_prepare_command(CLI::App& app);
Command add_oracle_dump_command(CLI::App& app);
Command add_checkpoint_command(CLI::App& app);
Command add_export_command(CLI::App& app);
Command add_import_command(CLI::App& app);
Command add_sweep_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_tokenizer_command(CLI::App& app);

// --threads N (0 = default_cpu_threads()) applied to OpenMP and OpenBLAS.
void add_threads_option(CLI::App& cmd, int& threads);
void apply_threads(int threads);
// --device cpu|cuda (default cpu): the backend the command computes on (backend/select.h).
void add_device_option(CLI::App& cmd, std::string& device);

// Whether the console log is coloured: on a terminal, not under an MPI launcher, without
// NO_COLOR. configure_console_log() installs the logger so (console_log.cpp).
bool console_colour();
void configure_console_log();

}  // namespace gatedlm::cli
