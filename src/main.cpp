#include "gatedlm/cli/cli.h"

int main(int argc, char** argv) { return gatedlm::run_cli(argc, argv); }
