#include "gatedlm/sweep/spec.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "gatedlm/backend/cpu/thread_limit.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/config/source_tree.h"
#include "gatedlm/core/error.h"
#include "slurm_fields.h"
#include "spec_reader.h"
#include "stages.h"

namespace gatedlm {
namespace fs = std::filesystem;
using namespace sweep_spec;

namespace {

// Top-level keys that belong to the sweep, not to the base config.
constexpr const char* kSweepKeys[] = {"out_dir", "variants", "grid", "seeds", "slurm", "stages"};

SlurmResources read_slurm(const SpecReader& spec, const YAML::Node& node) {
  SlurmResources r;
  if (!node || node.IsNull()) return r;
  if (!node.IsMap()) spec.fail(node, "slurm: expected a map of resources");
  for (const auto& pair : node) {
    const YAML::Node key = pair.first, value = pair.second;
    const std::string k = key.Scalar(), what = "slurm." + k;
    if (k == "partition")
      r.partition = sbatch_word(spec, value, what);
    else if (k == "account")
      r.account = sbatch_word(spec, value, what);
    else if (k == "qos")
      r.qos = sbatch_word(spec, value, what);
    else if (k == "time")
      r.time = slurm_time(spec, value, what);
    else if (k == "mem")
      r.mem = slurm_mem(spec, value, what);
    else if (k == "nodes")
      r.nodes = bounded(spec, value, what, 1, 100000);
    else if (k == "ntasks_per_node")
      r.ntasks_per_node = bounded(spec, value, what, 1, 4096);
    else if (k == "cpus_per_task")
      r.cpus_per_task = bounded(spec, value, what, 1, kMaxCpuThreads);
    else if (k == "gpus_per_node")
      r.gpus_per_node = bounded(spec, value, what, 0, 64);
    else if (k == "signal_before_s")
      r.signal_before_s = bounded(spec, value, what, 0, 65535);  // sbatch --signal
    else if (k == "srun_mpi")
      r.srun_mpi = sbatch_word(spec, value, what);
    else if (k == "sbatch_args")
      r.sbatch_args = string_list(spec, value, what, sbatch_option);
    else if (k == "setup")
      r.setup = string_list(spec, value, what, script_line);
    else
      spec.fail(key, "slurm: unknown key '" + k +
                         "' (expected partition, account, qos, time, mem, nodes, "
                         "ntasks_per_node, cpus_per_task, gpus_per_node, signal_before_s, "
                         "srun_mpi, sbatch_args, setup)");
  }
  return r;
}

struct Variant {
  std::string name;
  NodeOverrides overrides;
};

std::vector<Variant> read_variants(const SpecReader& spec, const YAML::Node& node) {
  std::vector<Variant> variants;
  if (!node) return {Variant{}};
  if (!node.IsMap() || node.size() == 0)
    spec.fail(node, "variants: expected a map of run name -> {key: value, ...}");
  for (const auto& pair : node) {
    Variant v;
    v.name = checked_name(spec, pair.first, "variants");
    v.overrides = read_overrides(spec, pair.second, "variants." + v.name);
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
  const std::optional<std::string> text = read_yaml_file(path);
  if (!text) throw InputError(located(path, 0, 0, "cannot open sweep spec"));
  const YAML::Node loaded = parse_yaml_document(*text, spec.source);
  const YAML::Node& doc = loaded;  // const: looking a key up must not add it
  if (!doc.IsMap()) spec.fail(doc, "expected a sweep spec: base:, variants:, grid:, seeds:");
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

  const std::vector<Stage> stages = read_stages(spec, doc["stages"]);

  // Every point of variants x grid x seeds: its name and config source, before the stages.
  struct Point {
    std::string name, variant;
    SourceNode root;
    std::vector<std::pair<std::string, std::string>> overrides;
  };
  std::vector<Point> points;
  std::vector<std::size_t> index(grid.size(), 0);  // the odometer over the grid
  for (const Variant& variant : variants) {
    std::fill(index.begin(), index.end(), 0);
    while (true) {
      for (std::size_t s = 0; s < std::max<std::size_t>(seeds.size(), 1); ++s) {
        Point point{variant.name, variant.name, base, {}};
        auto set = [&](const YAML::Node& key, const YAML::Node& value) {
          apply(spec, point.root, scalar(spec, key, "override key"), spec.where(key), value);
          point.overrides.emplace_back(key.Scalar(), yaml_text(value));
        };
        for (const auto& [key, value] : variant.overrides) set(key, value);
        for (std::size_t a = 0; a < grid.size(); ++a) {
          const YAML::Node& value = grid[a].values[index[a]];
          set(grid[a].key, value);
          if (grid[a].values.size() > 1)
            point.name += (point.name.empty() ? "" : "_") + grid[a].short_name + "-" +
                          name_safe(yaml_text(value));
        }
        if (!seeds.empty()) {
          // A bad seed is reported at the seeds list, where it was written.
          apply(spec, point.root, "train.seed", spec.where(seeds[s]), seeds[s]);
          point.overrides.emplace_back("train.seed", yaml_text(seeds[s]));
          if (seeds.size() > 1)
            point.name += (point.name.empty() ? "" : "_") + std::string("seed-") +
                          name_safe(yaml_text(seeds[s]));
        }
        points.push_back(std::move(point));
      }
      // Next grid point: the last axis turns fastest.
      std::size_t a = grid.size();
      while (a > 0 && ++index[a - 1] == grid[a - 1].values.size()) index[--a] = 0;
      if (a == 0) break;
    }
  }

  // Each stage repeats every point (a spec without stages is one unnamed stage), stage by
  // stage, so a run comes after the run it resumes from.
  std::vector<const Stage*> stage_order;
  for (const Stage& stage : stages) stage_order.push_back(&stage);
  if (stage_order.empty()) stage_order.push_back(nullptr);
  std::set<std::string> names;
  for (const Stage* stage : stage_order) {
    for (const Point& point : points) {
      auto run_name = [&](const std::string& stage_name) {
        const std::string name =
            point.name + (point.name.empty() || stage_name.empty() ? "" : "_") + stage_name;
        return name.empty() ? std::string("base") : name;
      };
      SweepRun run;
      run.variant = point.variant;
      run.overrides = point.overrides;
      SourceNode root = point.root;
      if (stage) {
        run.stage = stage->name;
        for (const auto& [key, value] : stage->overrides) {
          apply(spec, root, scalar(spec, key, "override key"), spec.where(key), value);
          run.overrides.emplace_back(key.Scalar(), yaml_text(value));
        }
      }
      apply_overrides(root, overrides);
      for (const std::string& o : overrides) {
        const std::size_t eq = o.find('=');
        run.overrides.emplace_back(o.substr(0, eq),
                                   eq == std::string::npos ? "" : o.substr(eq + 1));
      }
      run.name = run_name(run.stage);
      if (!names.insert(run.name).second)
        spec.fail(doc, "two runs are both named '" + run.name +
                           "'; give variants different names or vary a grid key");
      run.config = config_from_source(root, path);
      run.dir = (fs::path(out.out_dir) / run.name).string();
      if (stage && !stage->resume_from.empty()) {
        const SweepRun* from = out.find(run_name(stage->resume_from));
        run.resume_from = from->name;
        run.resume_dir = from->dir;
        // Resuming at or past the new train.steps would train nothing and never finish.
        if (run.config.train.steps <= from->config.train.steps)
          spec.fail(stage->resume_node,
                    fmt::format("stages.{}: train.steps is {}, but it continues from {} at step "
                                "{}; give this stage more steps",
                                stage->name, run.config.train.steps, from->name,
                                from->config.train.steps));
      }
      if (stage && stage->evaluate)
        run.evals = expand_evaluations(spec, *stage->evaluate, root, run.config);
      out.runs.push_back(std::move(run));
    }
  }
  return out;
}

const SweepRun* SweepSpec::find(const std::string& run_name) const {
  for (const SweepRun& run : runs)
    if (run.name == run_name) return &run;
  return nullptr;
}

std::vector<std::string> eval_arguments(const SweepRun& run, const SweepEval& eval) {
  std::vector<std::string> args = {"eval",
                                   "--checkpoint",
                                   run.dir,
                                   "--data",
                                   eval.data,
                                   "--seq-len",
                                   std::to_string(eval.seq_len),
                                   "--per-position-buckets",
                                   std::to_string(eval.buckets),
                                   "--batch-size",
                                   "1",
                                   "--json"};
  if (eval.batches > 0) args.insert(args.end(), {"--batches", std::to_string(eval.batches)});
  for (const std::string& o : eval.overrides) args.insert(args.end(), {"--set", o});
  return args;
}

}  // namespace gatedlm
