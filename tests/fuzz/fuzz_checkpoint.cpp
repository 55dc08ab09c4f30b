// Checkpoint reading (model.h5). The input describes a checkpoint rather than being one:
// tensor names and shapes, loader states and the config text come from it, the file is
// written with write_checkpoint_file, and then up to three bytes are flipped or the file is cut
// short. It is read back as eval (model only, against a fixed model), resume (with optimizer)
// and `checkpoint verify` do (read_checkpoint_config takes the same path as the full read).
// Describing instead of mutating raw bytes keeps the fuzzer in gatedlm's checks (names, shapes,
// types, checksums) instead of deep in libhdf5's parser. A read that succeeds after corruption must
// return exactly what was written: damage may be rejected, never passed on.
#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

#include "fuzz_support.h"
#include "gatedlm/checkpoint/format.h"
#include "gatedlm/model/parameters.h"

namespace {

using namespace gatedlm;

const std::vector<ParamInfo>& fixed_model() {
  static const std::vector<ParamInfo> params = [] {
    std::vector<ParamInfo> p(2);
    p[0].name = "model.embed_tokens.weight";
    p[0].shape = {8, 4};
    p[1].name = "model.norm.weight";
    p[1].shape = {4};
    p[1].offset = 32;
    return p;
  }();
  return params;
}

std::string tensor_name(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return fixed_model()[0].name;
    case 1:
      return fixed_model()[1].name;
    case 2:
      return "lm_head.weight";
    default: {
      std::string name = in.ConsumeRandomLengthString(12);
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '.';
      return name.empty() || name[0] == '.' ? "x" + name : name;
    }
  }
}

CheckpointState describe(FuzzedDataProvider& in) {
  CheckpointState s;
  const bool with_optimizer = in.ConsumeBool();
  const int tensors = in.ConsumeIntegralInRange(0, 3);
  for (int t = 0; t < tensors; ++t) {
    TensorSlot slot{tensor_name(in), {}, s.numel()};
    bool duplicate = false;
    for (const TensorSlot& other : s.tensors) duplicate |= other.name == slot.name;
    if (duplicate) continue;
    const int rank = in.ConsumeIntegralInRange(0, 3);
    for (int d = 0; d < rank; ++d) slot.shape.push_back(in.ConsumeIntegralInRange(0, 9));
    const float value = in.ConsumeFloatingPoint<float>();
    s.params.resize(s.params.size() + shape_numel(slot.shape), value);
    s.tensors.push_back(slot);
  }
  if (with_optimizer) {
    s.exp_avg.assign(s.params.size(), 0.5f);
    s.exp_avg_sq.assign(s.params.size(), 0.25f);
  }
  s.step = in.ConsumeIntegral<int64_t>();
  s.optimizer_step = in.ConsumeIntegral<int64_t>();
  s.seed = in.ConsumeIntegral<uint64_t>();
  if (in.ConsumeBool()) s.rng_streams.push_back({"dropout", {1, 2, 3, 4}});
  const int loaders = in.ConsumeIntegralInRange(0, 2);
  for (int l = 0; l < loaders; ++l) {
    LoaderState loader;
    loader.cursor = in.ConsumeIntegral<int64_t>();
    loader.batches_served = in.ConsumeIntegral<int64_t>();
    s.loaders.push_back({l == 0 ? "train" : "val", loader});
  }
  s.config_yaml = in.ConsumeRandomLengthString(256);
  std::erase(s.config_yaml, '\0');  // stored as a C string, as the YAML writer never makes NULs
  return s;
}

// Whether every tensor `read` holds has the bytes `written` holds under its name (the reader
// orders tensors by the model or by name, the writer by the description).
bool same_tensors(const CheckpointState& read, const std::vector<float>& read_values,
                  const CheckpointState& written, const std::vector<float>& written_values) {
  if (read_values.size() != written_values.size()) return false;
  for (const TensorSlot& r : read.tensors) {
    const TensorSlot* w = nullptr;
    for (const TensorSlot& slot : written.tensors)
      if (slot.name == r.name) w = &slot;
    if (!w || w->shape != r.shape ||
        std::memcmp(read_values.data() + r.offset, written_values.data() + w->offset,
                    shape_numel(r.shape) * sizeof(float)) != 0)
      return false;
  }
  return true;
}

}  // namespace

// libhdf5 1.10 can leave a *corrupted* file's descriptor open, with its flock, when an open
// fails partway (with the memory noted in tests/sanitize/lsan.supp): after 751,455 inputs the next
// H5Fcreate of the reused path failed with EAGAIN. No identifier of gatedlm's was open (checked
// below). Without file locking the reused path stays writable; gatedlm never recreates a path it
// failed to read (a new save goes to a new temporary directory).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemoryFile file;
  FuzzedDataProvider in(data, size);
  const CheckpointState written = describe(in);
  try {
    write_checkpoint_file(file.path(), written);
  } catch (const RuntimeFailure& e) {
    fuzz::fail("write_checkpoint_file", e.what());
  }
  std::string bytes = file.read();
  const int damages = in.ConsumeIntegralInRange(0, 3);
  for (int d = 0; d < damages && !bytes.empty(); ++d) {
    const size_t at = in.ConsumeIntegral<uint32_t>() % bytes.size();
    if (in.ConsumeBool())
      bytes[at] = static_cast<char>(bytes[at] ^ in.ConsumeIntegralInRange<uint8_t>(1, 255));
    else
      bytes.resize(at);
  }
  if (damages > 0) file.write(bytes);

  const std::string& path = file.path();
  fuzz::accepts([&] {
    const CheckpointState model_only = read_checkpoint_file(path, &fixed_model(), false);
    if (!same_tensors(model_only, model_only.params, written, written.params))
      fuzz::fail("read", "model tensors differ");
  });
  fuzz::accepts([&] {
    const CheckpointState full = read_checkpoint_file(path, nullptr, true);
    const char* differs = full.tensors.size() != written.tensors.size() ? "tensor count"
                          : !same_tensors(full, full.params, written, written.params) ? "params"
                          : !same_tensors(full, full.exp_avg_sq, written, written.exp_avg_sq)
                              ? "exp_avg_sq"
                          : full.config_yaml != written.config_yaml       ? "config text"
                          : full.step != written.step                     ? "step"
                          : full.loaders.size() != written.loaders.size() ? "loader count"
                                                                          : nullptr;
    if (differs) fuzz::fail("read", std::string(differs) + " differs from what was written");
  });
  fuzz::accepts([&] { verify_checkpoint_file(path); });
  // libhdf5 loses some memory on corrupted files by itself (tests/sanitize/lsan.supp); what
  // gatedlm owns is checked here instead: every identifier it opened has been released.
  if (const ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); open_ids != 0)
    fuzz::fail("hdf5", std::to_string(open_ids) + " identifiers left open");
  return 0;
}
