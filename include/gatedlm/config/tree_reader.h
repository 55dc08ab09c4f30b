// Source tree -> typed Config: every key type-checked, unknown keys named with a suggestion,
// and the location of every key recorded in Config::locations.
#pragma once

#include <string>

#include "gatedlm/config/config.h"
#include "gatedlm/config/source_tree.h"

namespace gatedlm {

// `source_name` names errors about keys nobody wrote. Throws InputError.
Config read_config(const SourceNode& root, const std::string& source_name);

}  // namespace gatedlm
