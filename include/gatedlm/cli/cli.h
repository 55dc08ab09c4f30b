// The gatedlm command line: `gatedlm <command> [args]`, one source file per command.
#pragma once

namespace gatedlm {

// Runs the command line; returns the process exit code (0 ok, 1 runtime failure, 2 bad input).
int run_cli(int argc, char** argv);

}  // namespace gatedlm
