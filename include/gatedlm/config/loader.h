// YAML -> typed Config: `base:` inheritance, `--set key.path=value` overrides, validation.
// Every error is an InputError "file:line:col: message" (with a "did you mean" for misspelt keys);
// overrides from --set report as "--set:1:col: ...".
#pragma once

#include <string>
#include <vector>

#include "gatedlm/config/config.h"
#include "gatedlm/config/source_tree.h"

namespace gatedlm {

// Loads `path` (resolving `base:` chains relative to each file), applies `overrides`
// ("a.b.c=value", in order, after all files), validates, and resolves derived values
// (e.g. match_params_of_ungated). Throws InputError on any problem.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Same, from YAML text (for tests and sweep specs); `name` is used in error locations.
Config load_config_text(const std::string& yaml_text, const std::string& name,
                        const std::vector<std::string>& overrides = {});

// A merged source tree (see config/source_tree.h) -> validated Config with derived values; what
// load_config does after reading files and overrides. Sweeps build their trees themselves.
Config config_from_source(const SourceNode& root, const std::string& source_name);

// The fully resolved config as YAML, in the key layout that load_config reads back to an equal
// Config. Written to RUN/config.yaml.
std::string config_to_yaml(const Config& config);

// Checks shapes and combinations; throws InputError at the offending key's file:line:col (from
// config.locations), or naming `where` for keys without a location (a Config built in code).
// Called by load_config; exposed for code that edits a Config directly.
void validate_config(const Config& config, const std::string& where);

}  // namespace gatedlm
