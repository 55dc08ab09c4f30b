#include "gatedlm/config/schema.h"

namespace gatedlm {

namespace {

// Collects every dotted key path, descending into sections.
class KeyPathLister {
 public:
  template <class T>
  void field(std::string_view key, T&) {
    add(key);
  }
  void choice(std::string_view key, std::string&, std::span<const std::string_view>) { add(key); }
  void number_pair(std::string_view key, double&, double&) { add(key); }
  template <class S>
  void section(std::string_view key, S& section) {
    descend(key, section);
  }
  template <class S>
  void optional_section(std::string_view key, std::optional<S>&) {
    S section{};
    descend(key, section);
  }

  std::vector<std::string> paths;

 private:
  void add(std::string_view key) { paths.push_back(prefix_ + std::string(key)); }

  template <class S>
  void descend(std::string_view key, S& section) {
    add(key);
    const std::string saved = prefix_;
    prefix_ += std::string(key) + ".";
    visit_fields(section, *this);
    prefix_ = saved;
  }

  std::string prefix_;
};

}  // namespace

std::vector<std::string> all_config_keys() {
  static const std::vector<std::string> paths = [] {
    Config config;
    KeyPathLister lister;
    visit_fields(config, lister);
    return lister.paths;
  }();
  return paths;
}

}  // namespace gatedlm
