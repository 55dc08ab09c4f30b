// ParameterSet: every trainable tensor of a model, named as in Hugging Face, in one contiguous
// parameter buffer (and a mirror gradient buffer). Parameters declared one after another are
// adjacent, which lets a layer run one GEMM over several projections (q|k|v|gate, gate|up).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/core/rng.h"

namespace gatedlm {

enum class ParamInit { normal, ones, zeros };

struct ParamInfo {
  std::string name;
  Shape shape;
  ParamInit init = ParamInit::normal;
  bool weight_decay = true;
  int64_t offset = 0;  // elements into the parameter buffer
  int split_dim = -1;  // tensor parallelism: the dimension shards cut (comm/tensor_parallel.h)
  int64_t numel() const { return shape_numel(shape); }
};

// Values for `infos` in declaration order: normal(0, std) from `rng`, or the constant.
std::vector<float> draw_initial_values(const std::vector<ParamInfo>& infos, Rng& rng, float std);

class ParameterSet {
 public:
  using Id = int;

  Id add(std::string name, Shape shape, ParamInit init, bool weight_decay);
  // Allocates parameters and zeroed gradients on the backend; no add() after this.
  void allocate(Backend& backend);
  // Draws every parameter in declaration order from `rng` (normal(0, std) or constant).
  void initialize(Rng& rng, float std);

  float* data(Id id) const { return params_.data() + infos_[id].offset; }
  float* grad(Id id) const { return grads_.data() + infos_[id].offset; }
  const ParamInfo& info(Id id) const { return infos_[id]; }
  const std::vector<ParamInfo>& infos() const { return infos_; }
  void set_split_dim(Id id, int dim) { infos_[id].split_dim = dim; }
  Id find(const std::string& name) const;  // -1 when absent
  int64_t numel() const { return total_; }
  Tensor& params() { return params_; }
  Tensor& grads() { return grads_; }
  Backend& backend() const { return *backend_; }
  void zero_grads();
  // True when `ids` lie back to back in the buffer, in this order.
  bool contiguous(const std::vector<Id>& ids) const;

 private:
  std::vector<ParamInfo> infos_;
  int64_t total_ = 0;
  Tensor params_, grads_;
  Backend* backend_ = nullptr;
};

}  // namespace gatedlm
