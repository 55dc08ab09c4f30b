#include "gatedlm/sweep/spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "gatedlm/config/loader.h"
#include "gatedlm/config/source_tree.h"
#include "gatedlm/core/error.h"

namespace gatedlm {
namespace fs = std::filesystem;

namespace {

// Top-level keys that belong to the sweep, not to the base config.
constexpr const char* kSweepKeys[] = {"out_dir", "variants", "grid", "seeds", "slurm"};

struct SpecReader {
  std::string path;
  SourceText source{path, 0, 0};

  SourceLocation where(const YAML::Node& node) const { return source.locate(node.Mark()); }
  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    const SourceLocation at = where(node);
    throw InputError(located(at.file, at.line, at.col, message));
  }
};

// A value as YAML text on one line, as --dry-run shows it.
std::string yaml_text(const YAML::Node& value) {
  if (value.IsScalar()) return value.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << value;
  return out.c_str();
}

// "2.0e-3" -> "2.0e-3", "{a: b}" -> "-a-b-": what may stand in a directory name.
std::string name_safe(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == '_';
    out += ok ? c : '-';
  }
  return out;
}

struct Override {
  std::string key;
  YAML::Node value;
  SourceLocation key_location;
};

// Sets dotted `key` (written at `at`) to `value` in `root`; every segment points at the key.
void apply(const SpecReader& spec, SourceNode& root, const std::string& key,
           const SourceLocation& at, const YAML::Node& value) {
  std::vector<KeyPathSegment> path;
  for (std::size_t start = 0;;) {
    const std::size_t end = key.find('.', start);
    const std::string name = key.substr(start, end == std::string::npos ? end : end - start);
    if (name.empty())
      throw InputError(located(at.file, at.line, at.col, "empty key name in '" + key + "'"));
    path.push_back({name, at});
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (path.size() == 1 && path[0].name == "base")
    throw InputError(located(at.file, at.line, at.col, "base cannot be overridden per run"));
  set_at_path(root, path, source_node_from_yaml(path.back().name, at, value, spec.source));
}

std::string scalar(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) spec.fail(node, what + ": expected a single value");
  return node.Scalar();
}

int64_t integer(const SpecReader& spec, const YAML::Node& node, const std::string& what) {
  const std::string text = scalar(spec, node, what);
  try {
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == text.size() && value >= 0) return value;
  } catch (const std::exception&) {
  }
  spec.fail(node, what + ": expected a non-negative integer, got '" + text + "'");
}

std::vector<std::string> string_list(const SpecReader& spec, const YAML::Node& node,
                                     const std::string& what) {
  if (!node.IsSequence()) spec.fail(node, what + ": expected a list of strings");
  std::vector<std::string> out;
  for (const YAML::Node& item : node) out.push_back(scalar(spec, item, what));
  return out;
}

SlurmResources read_slurm(const SpecReader& spec, const YAML::Node& node) {
  SlurmResources r;
  if (!node || node.IsNull()) return r;
  if (!node.IsMap()) spec.fail(node, "slurm: expected a map of resources");
  for (const auto& pair : node) {
    const YAML::Node key = pair.first, value = pair.second;
    const std::string k = key.Scalar(), what = "slurm." + k;
    if (k == "partition")
      r.partition = scalar(spec, value, what);
    else if (k == "account")
      r.account = scalar(spec, value, what);
    else if (k == "qos")
      r.qos = scalar(spec, value, what);
    else if (k == "time")
      r.time = scalar(spec, value, what);
    else if (k == "mem")
      r.mem = scalar(spec, value, what);
    else if (k == "nodes")
      r.nodes = integer(spec, value, what);
    else if (k == "ntasks_per_node")
      r.ntasks_per_node = integer(spec, value, what);
    else if (k == "cpus_per_task")
      r.cpus_per_task = integer(spec, value, what);
    else if (k == "gpus_per_node")
      r.gpus_per_node = integer(spec, value, what);
    else if (k == "signal_before_s")
      r.signal_before_s = integer(spec, value, what);
    else if (k == "srun_mpi")
      r.srun_mpi = scalar(spec, value, what);
    else if (k == "sbatch_args")
      r.sbatch_args = string_list(spec, value, what);
    else if (k == "setup")
      r.setup = string_list(spec, value, what);
    else
      spec.fail(key, "slurm: unknown key '" + k +
                         "' (expected partition, account, qos, time, mem, nodes, "
                         "ntasks_per_node, cpus_per_task, gpus_per_node, signal_before_s, "
                         "srun_mpi, sbatch_args, setup)");
  }
  if (r.nodes < 1 || r.ntasks_per_node < 1 || r.cpus_per_task < 1)
    spec.fail(node, "slurm: nodes, ntasks_per_node and cpus_per_task must be at least 1");
  return r;
}

struct Variant {
  std::string name;
  std::vector<std::pair<YAML::Node, YAML::Node>> overrides;  // key, value
};

std::vector<Variant> read_variants(const SpecReader& spec, const YAML::Node& node) {
  std::vector<Variant> variants;
  if (!node) return {Variant{}};
  if (!node.IsMap() || node.size() == 0)
    spec.fail(node, "variants: expected a map of run name -> {key: value, ...}");
  for (const auto& pair : node) {
    Variant v;
    v.name = scalar(spec, pair.first, "variants");
    if (v.name.empty() || name_safe(v.name) != v.name || v.name.front() == '.')
      spec.fail(pair.first, "variants: '" + v.name +
                                "' is not a usable run name (letters, digits, '.', '-', '_', '+')");
    const YAML::Node overrides = pair.second;
    if (!overrides.IsNull() && !overrides.IsMap())
      spec.fail(overrides, "variants." + v.name + ": expected a map of key.path: value");
    if (overrides.IsMap())
      for (const auto& kv : overrides) v.overrides.emplace_back(kv.first, kv.second);
    variants.push_back(std::move(v));
  }
  return variants;
}

struct GridAxis {
  YAML::Node key;
  std::vector<YAML::Node> values;
  std::string short_name;  // in run names
};

std::vector<GridAxis> read_grid(const SpecReader& spec, const YAML::Node& node) {
  std::vector<GridAxis> axes;
  if (!node) return axes;
  if (!node.IsMap()) spec.fail(node, "grid: expected a map of key.path: [values]");
  std::map<std::string, int> short_counts;
  for (const auto& pair : node) {
    GridAxis axis{pair.first, {}, ""};
    const YAML::Node values = pair.second;
    if (!values.IsSequence() || values.size() == 0)
      spec.fail(values, "grid." + pair.first.Scalar() + ": expected a non-empty list of values");
    for (const YAML::Node& v : values) axis.values.push_back(v);
    const std::string key = pair.first.Scalar();
    axis.short_name = key.substr(key.rfind('.') + 1);
    if (axis.values.size() > 1) ++short_counts[axis.short_name];
    axes.push_back(std::move(axis));
  }
  // Names stay short (lr-2e-3) unless two varying axes end in the same key.
  for (GridAxis& axis : axes)
    if (short_counts[axis.short_name] > 1) axis.short_name = name_safe(axis.key.Scalar());
  return axes;
}

}  // namespace

SweepSpec load_sweep_spec(const std::string& path, const std::vector<std::string>& overrides,
                          const std::string& out_dir) {
  SpecReader spec{path};
  YAML::Node loaded;
  try {
    loaded = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw InputError(located(path, 0, 0, "cannot open sweep spec"));
  } catch (const YAML::Exception& e) {
    const SourceLocation at = spec.source.locate(e.mark);
    throw InputError(located(at.file, at.line, at.col, "invalid YAML: " + e.msg));
  }
  const YAML::Node& doc = loaded;  // const: looking a key up must not add it
  if (!doc.IsMap()) spec.fail(doc, "expected a sweep spec: base:, variants:, grid:, seeds:");
  // Proposed by the length-extrapolation study (docs/studies/length-extrapolation.md); staged
  // runs are not part of the sweep runner yet.
  for (const char* staged : {"resume_from", "evaluate"})
    if (const YAML::Node node = doc[staged])
      spec.fail(node, std::string(staged) +
                          ": staged runs are not supported by gatedlm sweep yet (see "
                          "docs/sweeps.md); scripts/studies/length_extrapolation.sh runs this "
                          "study");

  // The base config with the spec's own config sections laid over it; sweep keys removed.
  SourceNode base = load_source_file(path);
  std::erase_if(base.entries, [](const SourceNode& entry) {
    return std::find(std::begin(kSweepKeys), std::end(kSweepKeys), entry.key) !=
           std::end(kSweepKeys);
  });

  SweepSpec out;
  out.path = path;
  out.name = fs::path(path).stem().string();
  out.out_dir = !out_dir.empty() ? out_dir
                : doc["out_dir"] ? scalar(spec, doc["out_dir"], "out_dir")
                                 : "runs/" + out.name;
  out.slurm = read_slurm(spec, doc["slurm"]);
  const std::vector<Variant> variants = read_variants(spec, doc["variants"]);
  const std::vector<GridAxis> grid = read_grid(spec, doc["grid"]);
  std::vector<YAML::Node> seeds;
  if (const YAML::Node node = doc["seeds"]) {
    if (!node.IsSequence() || node.size() == 0)
      spec.fail(node, "seeds: expected a non-empty list of integers");
    for (const YAML::Node& seed : node) seeds.push_back(seed);
  }

  std::set<std::string> names;
  std::vector<std::size_t> index(grid.size(), 0);  // the odometer over the grid
  for (const Variant& variant : variants) {
    std::fill(index.begin(), index.end(), 0);
    while (true) {
      for (std::size_t s = 0; s < std::max<std::size_t>(seeds.size(), 1); ++s) {
        SweepRun run;
        run.variant = variant.name;
        SourceNode root = base;
        std::string name = variant.name;
        auto set = [&](const YAML::Node& key, const YAML::Node& value) {
          apply(spec, root, scalar(spec, key, "override key"), spec.where(key), value);
          run.overrides.emplace_back(key.Scalar(), yaml_text(value));
        };
        for (const auto& [key, value] : variant.overrides) set(key, value);
        for (std::size_t a = 0; a < grid.size(); ++a) {
          const YAML::Node& value = grid[a].values[index[a]];
          set(grid[a].key, value);
          if (grid[a].values.size() > 1)
            name +=
                (name.empty() ? "" : "_") + grid[a].short_name + "-" + name_safe(yaml_text(value));
        }
        if (!seeds.empty()) {
          // A bad seed is reported at the seeds list, where it was written.
          apply(spec, root, "train.seed", spec.where(seeds[s]), seeds[s]);
          run.overrides.emplace_back("train.seed", yaml_text(seeds[s]));
          if (seeds.size() > 1)
            name +=
                (name.empty() ? "" : "_") + std::string("seed-") + name_safe(yaml_text(seeds[s]));
        }
        apply_overrides(root, overrides);
        for (const std::string& o : overrides) {
          const std::size_t eq = o.find('=');
          run.overrides.emplace_back(o.substr(0, eq),
                                     eq == std::string::npos ? "" : o.substr(eq + 1));
        }
        run.name = name.empty() ? "base" : name;
        if (!names.insert(run.name).second)
          spec.fail(doc, "two runs are both named '" + run.name +
                             "'; give variants different names or vary a grid key");
        run.config = config_from_source(root, path);
        run.dir = (fs::path(out.out_dir) / run.name).string();
        out.runs.push_back(std::move(run));
      }
      // Next grid point: the last axis turns fastest.
      std::size_t a = grid.size();
      while (a > 0 && ++index[a - 1] == grid[a - 1].values.size()) index[--a] = 0;
      if (a == 0) break;
    }
  }
  return out;
}

}  // namespace gatedlm
