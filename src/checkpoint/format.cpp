#include "gatedlm/checkpoint/format.h"

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>

#include "gatedlm/checkpoint/checksum.h"
#include "gatedlm/checkpoint/h5_file.h"
#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/core/build_info.h"

namespace gatedlm {

const LoaderState* CheckpointState::loader(const std::string& name) const {
  for (const auto& [loader_name, state] : loaders)
    if (loader_name == name) return &state;
  return nullptr;
}

namespace {

const std::string kModel = kModelPrefix;
const std::string kExpAvg = kExpAvgPrefix;
const std::string kExpAvgSq = kExpAvgSqPrefix;

template <typename T>
void put(H5File& f, const std::string& name, const Shape& shape, const T* data) {
  if constexpr (std::is_same_v<T, float>) f.write_floats(name, shape, data);
  if constexpr (std::is_same_v<T, double>) f.write_doubles(name, shape, data);
  if constexpr (std::is_same_v<T, int64_t>) f.write_int64s(name, shape, data);
  if constexpr (std::is_same_v<T, uint64_t>) f.write_uint64s(name, shape, data);
  write_checksum(f, name, data, static_cast<size_t>(shape_numel(shape)) * sizeof(T));
}

template <typename T>
void put_scalar(H5File& f, const std::string& name, T value) {
  put(f, name, {}, &value);
}

void put_text(H5File& f, const std::string& name, const std::string& text) {
  f.write_text(name, text);
  const std::string stored = text.empty() ? std::string(1, '\0') : text;
  write_checksum(f, name, stored.data(), stored.size());
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

template <typename T>
constexpr H5Type h5_type_for() {
  if constexpr (std::is_same_v<T, float>) return H5Type::f32;
  if constexpr (std::is_same_v<T, double>) return H5Type::f64;
  if constexpr (std::is_same_v<T, int64_t>) return H5Type::i64;
  if constexpr (std::is_same_v<T, uint64_t>) return H5Type::u64;
  return H5Type::other;
}

// Reads one dataset, checks its element type and checksum; damage is CheckpointCorrupt.
template <typename T>
std::vector<T> get(const H5File& f, const std::string& name, Shape* shape = nullptr) {
  if (!f.has(name)) throw CheckpointCorrupt(f.path() + ": dataset '" + name + "' is missing");
  H5DatasetInfo info;
  const std::vector<std::byte> bytes = f.read_bytes(name, &info);
  if (info.type != h5_type_for<T>())
    throw CheckpointCorrupt(f.path() + ": dataset '" + name + "' is " + h5_type_name(info.type) +
                            ", expected " + h5_type_name(h5_type_for<T>()));
  const std::string problem = checksum_problem(f, name, bytes.data(), bytes.size());
  if (!problem.empty()) throw CheckpointCorrupt(f.path() + ": dataset '" + name + "': " + problem);
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));  // empty: null
  if (shape) *shape = info.shape;
  return out;
}

template <typename T>
T get_scalar(const H5File& f, const std::string& name) {
  const std::vector<T> v = get<T>(f, name);
  if (v.size() != 1)
    throw CheckpointCorrupt(f.path() + ": dataset '" + name + "' should hold one value");
  return v[0];
}

std::string get_text(const H5File& f, const std::string& name) {
  if (!f.has(name)) throw CheckpointCorrupt(f.path() + ": dataset '" + name + "' is missing");
  H5DatasetInfo info;
  const std::vector<std::byte> bytes = f.read_bytes(name, &info);
  const std::string problem = checksum_problem(f, name, bytes.data(), bytes.size());
  if (!problem.empty()) throw CheckpointCorrupt(f.path() + ": dataset '" + name + "': " + problem);
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  text.resize(std::strlen(text.c_str()));
  return text;
}

std::array<uint64_t, 4> get_rng(const H5File& f, const std::string& name) {
  const std::vector<uint64_t> v = get<uint64_t>(f, name);
  if (v.size() != 4)
    throw CheckpointCorrupt(f.path() + ": dataset '" + name + "' should hold 4 uint64 words");
  return {v[0], v[1], v[2], v[3]};
}

// Runs `body`, reporting any unreadable part of the file as CheckpointCorrupt.
template <typename F>
auto as_corrupt(F&& body) {
  try {
    return body();
  } catch (const CheckpointCorrupt&) {
    throw;
  } catch (const InputError& e) {
    throw CheckpointCorrupt(e.what());
  }
}

// Stored tensor names and shapes, in model order when `expected` is given (checked against it:
// a difference is the user's config, a plain InputError), else in name order.
std::vector<TensorSlot> stored_tensors(const H5File& f, const std::vector<ParamInfo>* expected) {
  const std::map<std::string, Shape> stored = as_corrupt([&] {
    std::map<std::string, Shape> shapes;
    for (const std::string& name : f.list("model")) shapes[name] = f.shape_of(kModel + name);
    return shapes;
  });
  std::vector<TensorSlot> slots;
  int64_t offset = 0;
  if (!expected) {
    for (const auto& [name, shape] : stored) {
      slots.push_back({name, shape, offset});
      offset += shape_numel(shape);
    }
    return slots;
  }
  const std::string hint = " (was the model config changed?)";
  for (const ParamInfo& p : *expected) {
    const auto it = stored.find(p.name);
    if (it == stored.end())
      throw InputError(f.path() + ": tensor '" + p.name +
                       "' of the model is missing from the checkpoint" + hint);
    if (it->second != p.shape)
      throw InputError(f.path() + ": tensor '" + p.name + "' has shape " + shape_str(it->second) +
                       " in the checkpoint but " + shape_str(p.shape) + " in the model" + hint);
    slots.push_back({p.name, p.shape, offset});
    offset += p.numel();
  }
  if (stored.size() != expected->size()) {
    std::map<std::string, bool> known;
    for (const ParamInfo& p : *expected) known[p.name] = true;
    for (const auto& [name, shape] : stored)
      if (!known.count(name))
        throw InputError(f.path() + ": checkpoint tensor '" + name + "' is not in the model" +
                         hint);
  }
  return slots;
}

// Blocks of one tensor to read, packed in order.
struct TensorRead {
  std::string name;
  std::vector<TensorBlock> blocks;
};

// Reads every request's blocks (verified, checkpoint/virtual_layout.h) into `out`, back to back.
void read_tensors(const H5File& f, const std::string& prefix, const std::vector<TensorRead>& reads,
                  std::vector<float>& out) {
  int64_t total = 0;
  for (const TensorRead& r : reads)
    for (const TensorBlock& b : r.blocks) total += shape_numel(b.count);
  out.assign(static_cast<size_t>(total), 0.0f);
  auto at = out.begin();
  for (const TensorRead& r : reads) {
    if (r.blocks.empty()) continue;
    const std::string name = prefix + r.name;
    if (!f.has(name)) throw CheckpointCorrupt(f.path() + ": dataset '" + name + "' is missing");
    const Shape shape = f.shape_of(name), model_shape = f.shape_of(kModel + r.name);
    if (shape != model_shape)
      throw CheckpointCorrupt(f.path() + ": dataset '" + name + "' has shape " + shape_str(shape) +
                              ", model/" + r.name + " has " + shape_str(model_shape));
    const std::vector<float> data = read_verified_blocks(f, name, r.blocks);
    at = std::copy(data.begin(), data.end(), at);
  }
}

void check_format(H5File& f) {
  const int64_t version = as_corrupt([&] {
    if (!f.has_attribute("/", "format") || f.attribute("/", "format") != kCheckpointFormat)
      throw CheckpointCorrupt(f.path() + ": not a gatedlm checkpoint (no format attribute '" +
                              kCheckpointFormat + "')");
    return std::stoll(f.attribute("/", "format_version"));
  });
  if (version > kCheckpointFormatVersion)
    throw InputError(f.path() + ": checkpoint format version " + std::to_string(version) +
                     " is newer than this gatedlm reads (" +
                     std::to_string(kCheckpointFormatVersion) + ")");
  if (version >= 2) f.require_link_counts();
}

}  // namespace

std::string read_checkpoint_config(const std::string& path) {
  auto f = as_corrupt([&] { return std::make_unique<H5File>(path, H5File::Mode::read); });
  check_format(*f);
  return as_corrupt([&] { return get_text(*f, "config_yaml"); });
}

void write_checkpoint_file(const std::string& path, const CheckpointState& s,
                           const ShardedLayout* sharded, const ShardedLayout* sharded_moments) {
  if (!sharded_moments) sharded_moments = sharded;
  H5File f(path, H5File::Mode::truncate);
  int64_t num_parameters = s.numel();
  if (sharded) {
    num_parameters = 0;
    for (const ShardedTensor& t : sharded->tensors) num_parameters += shape_numel(t.shape);
    write_virtual_tensors(f, kModel, *sharded);
  } else {
    for (const TensorSlot& t : s.tensors)
      put(f, kModel + t.name, t.shape, s.params.data() + t.offset);
  }
  if (!s.exp_avg.empty()) {
    if (sharded) {
      write_virtual_tensors(f, kExpAvg, *sharded_moments);
      write_virtual_tensors(f, kExpAvgSq, *sharded_moments);
    } else {
      for (const TensorSlot& t : s.tensors) {
        put(f, kExpAvg + t.name, t.shape, s.exp_avg.data() + t.offset);
        put(f, kExpAvgSq + t.name, t.shape, s.exp_avg_sq.data() + t.offset);
      }
    }
    put_scalar<int64_t>(f, "optimizer/step", s.optimizer_step);
    f.set_attribute("optimizer", "type", std::string("adamw"));
  }
  put_scalar<int64_t>(f, "train/step", s.step);
  put_scalar<int64_t>(f, "train/tokens_seen", s.tokens_seen);
  put_scalar<double>(f, "train/elapsed_s", s.elapsed_s);
  put_scalar<int64_t>(f, "scheduler/total_steps", s.schedule_total_steps);
  put_scalar<double>(f, "scheduler/last_lr", s.last_lr);
  put_scalar<uint64_t>(f, "rng/seed", s.seed);
  for (const auto& [name, words] : s.rng_streams) put(f, "rng/" + name, {4}, words.data());
  for (const auto& [name, loader] : s.loaders) {
    const std::string group = "data/" + name + "/";
    put(f, group + "rng", {4}, loader.rng.data());
    put_scalar<int64_t>(f, group + "epoch", loader.epoch);
    put_scalar<int64_t>(f, group + "cursor", loader.cursor);
    put_scalar<int64_t>(f, group + "batches_served", loader.batches_served);
  }
  put_text(f, "config_yaml", s.config_yaml);

  f.set_attribute("/", "format", std::string(kCheckpointFormat));
  f.set_attribute("/", "format_version", kCheckpointFormatVersion);
  f.set_attribute("/", "gatedlm_version", std::string(gatedlm_version()));
  f.set_attribute("/", "git_commit", std::string(gatedlm_git_commit()));
  f.set_attribute("/", "created_utc", utc_now());
  f.set_attribute("/", "step", s.step);
  f.set_attribute("/", "tokens_seen", s.tokens_seen);
  f.set_attribute("/", "elapsed_s", s.elapsed_s);
  f.set_attribute("/", "num_parameters", num_parameters);
  f.set_attribute("/", "world_size", s.layout.world_size);
  f.set_attribute("/", "tensor_parallel", s.layout.tensor);
  f.set_attribute("/", "data_parallel", s.layout.data);
  f.set_attribute("/", "expert_parallel", s.layout.expert);
  f.set_attribute("/", "zero", s.layout.zero);
  // 0 = plain datasets; else the number of shard files the virtual datasets map.
  int64_t shard_files = 0;
  if (sharded) shard_files = static_cast<int64_t>(sharded->files.size());
  if (sharded_moments != sharded && !s.exp_avg.empty())
    shard_files += static_cast<int64_t>(sharded_moments->files.size());
  f.set_attribute("/", "shards", shard_files);
  f.close();
}

CheckpointState read_checkpoint_file(const std::string& path,
                                     const std::vector<ParamInfo>* expected, bool with_optimizer,
                                     const CheckpointSlices* slices) {
  auto f = as_corrupt([&] { return std::make_unique<H5File>(path, H5File::Mode::read); });
  check_format(*f);
  CheckpointState s;
  s.tensors = stored_tensors(*f, expected);
  std::vector<TensorRead> param_reads, moment_reads;
  if (!slices) {
    for (const TensorSlot& t : s.tensors) param_reads.push_back({t.name, {whole_block(t.shape)}});
  } else {
    const size_t n = s.tensors.size();
    if (slices->params.size() != n || (!slices->moments.empty() && slices->moments.size() != n))
      throw std::logic_error("read_checkpoint_file: one slice per tensor expected");
    std::vector<TensorSlot> held;  // the state holds just the blocks, packed
    int64_t offset = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!slices->moments.empty()) moment_reads.push_back({s.tensors[i].name, slices->moments[i]});
      const std::optional<TensorBlock>& block = slices->params[i];
      if (!block) continue;
      held.push_back({s.tensors[i].name, block->count, offset});
      offset += shape_numel(block->count);
      param_reads.push_back({s.tensors[i].name, {*block}});
    }
    s.tensors = std::move(held);
  }
  if (moment_reads.empty()) moment_reads = param_reads;
  as_corrupt([&] {
    read_tensors(*f, kModel, param_reads, s.params);
    s.config_yaml = get_text(*f, "config_yaml");
    s.step = get_scalar<int64_t>(*f, "train/step");
    s.tokens_seen = get_scalar<int64_t>(*f, "train/tokens_seen");
    s.elapsed_s = get_scalar<double>(*f, "train/elapsed_s");
    for (const auto& [key, field] :
         {std::pair{"gatedlm_version", &s.gatedlm_version}, std::pair{"git_commit", &s.git_commit},
          std::pair{"created_utc", &s.created_utc}})
      if (f->has_attribute("/", key)) *field = f->attribute("/", key);
    for (const auto& [key, field] :
         {std::pair{"world_size", &s.layout.world_size},
          std::pair{"tensor_parallel", &s.layout.tensor},
          std::pair{"data_parallel", &s.layout.data},
          std::pair{"expert_parallel", &s.layout.expert}, std::pair{"zero", &s.layout.zero}})
      if (f->has_attribute("/", key)) *field = std::stoll(f->attribute("/", key));
    if (!with_optimizer) return 0;
    read_tensors(*f, kExpAvg, moment_reads, s.exp_avg);
    read_tensors(*f, kExpAvgSq, moment_reads, s.exp_avg_sq);
    s.optimizer_step = get_scalar<int64_t>(*f, "optimizer/step");
    s.schedule_total_steps = get_scalar<int64_t>(*f, "scheduler/total_steps");
    s.last_lr = get_scalar<double>(*f, "scheduler/last_lr");
    s.seed = get_scalar<uint64_t>(*f, "rng/seed");
    for (const std::string& name : f->list("rng"))
      if (name != "seed") s.rng_streams.emplace_back(name, get_rng(*f, "rng/" + name));
    for (const std::string& name : f->list("data")) {
      const std::string group = "data/" + name + "/";
      LoaderState loader;
      loader.rng = get_rng(*f, group + "rng");
      if (f->has(group + "epoch")) loader.epoch = get_scalar<int64_t>(*f, group + "epoch");
      loader.cursor = get_scalar<int64_t>(*f, group + "cursor");
      loader.batches_served = get_scalar<int64_t>(*f, group + "batches_served");
      s.loaders.emplace_back(name, loader);
    }
    return 0;
  });
  return s;
}

std::vector<DatasetCheck> verify_checkpoint_file(const std::string& path) {
  std::unique_ptr<H5File> f;
  std::vector<H5DatasetInfo> datasets;
  try {
    f = std::make_unique<H5File>(path, H5File::Mode::read);
    if (f->has_attribute("/", "format_version") &&
        std::stoll(f->attribute("/", "format_version")) >= 2)
      f->require_link_counts();
    datasets = f->datasets();
  } catch (const InputError& e) {
    return {{"", e.what()}};
  }
  std::vector<DatasetCheck> checks;
  for (const std::string required :
       {"train/step", "train/tokens_seen", "config_yaml", "optimizer/step", "rng/seed"})
    if (!f->has(required)) checks.push_back({required, "required dataset is missing"});
  if (f->list("model").empty()) checks.push_back({"model", "no model tensors"});
  for (const H5DatasetInfo& d : datasets) {
    try {
      if (const auto sources = verify_virtual_sources(*f, d.name); !sources.empty()) {
        for (const auto& [source, problem] : sources)
          checks.push_back({d.name, problem.empty() ? "" : source + ": " + problem});
        continue;
      }
      const std::vector<std::byte> bytes = f->read_bytes(d.name);
      checks.push_back({d.name, checksum_problem(*f, d.name, bytes.data(), bytes.size())});
    } catch (const InputError& e) {
      checks.push_back({d.name, e.what()});
    }
  }
  return checks;
}

}  // namespace gatedlm
