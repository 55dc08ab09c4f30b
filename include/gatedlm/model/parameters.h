// ParameterSet: every trainable tensor of a model, named as in Hugging Face, in one contiguous
// parameter buffer (and a mirror gradient buffer). Each parameter declares its role where a
// layer creates it (ParamSpec): how it is initialised and decayed, how tensor parallelism cuts
// it, whose gradient a rank computes, whether it is a GEMM weight (FLOP counting) and which
// fused group it must sit in. Sharding, gradient reduction, checkpoint slicing and FLOP counts
// read these roles; nothing decides by a parameter's name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gatedlm/backend/backend.h"
#include "gatedlm/core/rng.h"

namespace gatedlm {

enum class ParamInit { normal, ones, zeros };

// AdamW's decoupled weight decay: never, always, or as optimizer.decay_embeddings says.
enum class WeightDecay { none, decay, embedding };

// How tensor parallelism cuts a parameter (Megatron's terms): a column-parallel weight is cut
// along its rows (dim 0: output features), a row-parallel one along its columns (dim 1: input
// features), a vocabulary-parallel table along its vocabulary rows (dim 0); a replicated one
// is whole on every shard. `unset` is refused at declaration.
enum class TensorSplit { unset, replicated, column, row, vocab };

// Whose gradient a rank computes: the whole of it (local), only its own heads' share of a
// replicated parameter (partial_over_tensor: summed over the tensor group before use), or the
// gradient of one routed expert (summed over the expert-data group under expert parallelism).
// `unset` is refused at declaration.
enum class GradientKind { unset, local, partial_over_tensor, expert };

struct ParamSpec {
  ParamInit init = ParamInit::normal;
  WeightDecay decay = WeightDecay::decay;
  TensorSplit split = TensorSplit::unset;
  GradientKind gradient = GradientKind::unset;
  int64_t expert = -1;      // GradientKind::expert: the routed expert's global index
  bool matmul = false;      // a GEMM weight every token (or every routed token) multiplies
  std::string fused_group;  // parameters one GEMM reads as one matrix: declared back to back
};

// Specs of the common roles (fields can be adjusted on the result).
ParamSpec weight_spec(TensorSplit split);  // normal init, decayed, a GEMM weight
ParamSpec norm_spec(GradientKind gradient = GradientKind::local);  // ones, no decay, replicated

struct ParamInfo {
  std::string name;
  Shape shape;
  ParamSpec spec;
  int64_t offset = 0;  // elements into the parameter buffer
  // The dimension tensor-parallel shards cut (from spec.split), -1 when whole on every shard or
  // when the set is not tensor-parallel.
  int split_dim = -1;
  int64_t numel() const { return shape_numel(shape); }
  bool routed_expert() const { return spec.gradient == GradientKind::expert; }
};

// Values for `infos` in declaration order: normal(0, std) from `rng`, or the constant.
std::vector<float> draw_initial_values(const std::vector<ParamInfo>& infos, Rng& rng, float std);

class ParameterSet {
 public:
  using Id = int;

  // `tensor_parallel_size` shards cut the split parameters (1: nothing is cut).
  explicit ParameterSet(int tensor_parallel_size = 1) : tensor_size_(tensor_parallel_size) {}

  // std::logic_error when the spec leaves the split or gradient kind unset, names no expert
  // for an expert gradient, or after allocate().
  Id add(std::string name, Shape shape, ParamSpec spec);
  // Allocates parameters and zeroed gradients on the backend; no add() after this.
  // std::logic_error when a fused group's parameters are not declared back to back.
  void allocate(Backend& backend);
  // Draws every parameter in declaration order from `rng` (normal(0, std) or constant).
  void initialize(Rng& rng, float std);

  float* data(Id id) const { return params_.data() + infos_[id].offset; }
  float* grad(Id id) const { return grads_.data() + infos_[id].offset; }
  const ParamInfo& info(Id id) const { return infos_[id]; }
  const std::vector<ParamInfo>& infos() const { return infos_; }
  Id find(const std::string& name) const;  // -1 when absent
  int64_t numel() const { return total_; }
  int tensor_parallel_size() const { return tensor_size_; }
  Tensor& params() { return params_; }
  Tensor& grads() { return grads_; }
  Backend& backend() const { return *backend_; }
  void zero_grads();
  // True when `ids` lie back to back in the buffer, in this order.
  bool contiguous(const std::vector<Id>& ids) const;

 private:
  void check_fused_groups() const;

  std::vector<ParamInfo> infos_;
  int64_t total_ = 0;
  int tensor_size_ = 1;
  Tensor params_, grads_;
  Backend* backend_ = nullptr;
};

// The dimension a parameter of this split kind is cut along (-1: not cut).
int split_dimension(TensorSplit split);

}  // namespace gatedlm
