// Config load + validation: YAML text, then up to two `--set` overrides (NUL-separated).
// A config that loads must also survive the round trip through config_to_yaml unchanged, as
// RUN/config.yaml relies on.
#include "fuzz_support.h"
#include "gatedlm/config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatedlm;
  const std::vector<std::string_view> parts = fuzz::split_input(data, size, 3);
  std::vector<std::string> overrides;
  for (size_t i = 1; i < parts.size(); ++i)
    if (!parts[i].empty()) overrides.emplace_back(parts[i]);
  Config config;
  if (!fuzz::accepts(
          [&] { config = load_config_text(std::string(parts[0]), "fuzz.yaml", overrides); }))
    return 0;
  const std::string resolved = config_to_yaml(config);
  std::string again;
  if (!fuzz::accepts([&] { again = config_to_yaml(load_config_text(resolved, "resolved.yaml")); }))
    fuzz::fail("resolved config does not reload", resolved);
  if (again != resolved)
    fuzz::fail("resolved config changed on reload", resolved + "\n---\n" + again);
  return 0;
}
