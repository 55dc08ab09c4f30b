// The fields of a spec's `slurm:` section, checked where the spec names them: each lands on an
// `#SBATCH` line or in the generated bash script, so a newline, a space or a shell character
// in one would end the line and start a command of its own. Private to src/sweep.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "spec_reader.h"

namespace gatedlm::sweep_spec {

// One word of letters, digits and . _ - + , : = @ % / (partition, account, qos, srun_mpi).
std::string sbatch_word(const SpecReader& spec, const YAML::Node& node, const std::string& what);

// sbatch --time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
std::string slurm_time(const SpecReader& spec, const YAML::Node& node, const std::string& what);

// sbatch --mem: digits with an optional K, M, G or T.
std::string slurm_mem(const SpecReader& spec, const YAML::Node& node, const std::string& what);

// An extra #SBATCH option: starts with '-', one line, no control characters.
std::string sbatch_option(const SpecReader& spec, const YAML::Node& node, const std::string& what);

// A setup line of the task script: one line (bash by design, but never two).
std::string script_line(const SpecReader& spec, const YAML::Node& node, const std::string& what);

// An integer in [minimum, maximum].
int64_t bounded(const SpecReader& spec, const YAML::Node& node, const std::string& what,
                int64_t minimum, int64_t maximum);

}  // namespace gatedlm::sweep_spec
