// load_config: file (+ base chain) -> overrides -> typed Config -> validation -> derived values.
#include "gatedlm/config/loader.h"

#include "gatedlm/config/param_matching.h"
#include "gatedlm/config/source_tree.h"
#include "gatedlm/config/tree_reader.h"

namespace gatedlm {

namespace {

Config resolve(SourceNode root, const std::string& source_name,
               const std::vector<std::string>& overrides) {
  apply_overrides(root, overrides);
  return config_from_source(root, source_name);
}

}  // namespace

Config config_from_source(const SourceNode& root, const std::string& source_name) {
  Config config = read_config(root, source_name);
  validate_config(config, source_name);
  apply_param_matching(config);
  return config;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return resolve(load_source_file(path), path, overrides);
}

Config load_config_text(const std::string& yaml_text, const std::string& name,
                        const std::vector<std::string>& overrides) {
  return resolve(load_source_text(yaml_text, name), name, overrides);
}

}  // namespace gatedlm
