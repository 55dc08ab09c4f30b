// Size products of a config, checked before anything is allocated: a shape whose tensors no
// process can hold, or whose counts overflow 64 bits, is refused at its key with the bytes it
// would need (docs/configs.md, "Size limits").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "gatedlm/config/config.h"

namespace gatedlm {

// The user address space of x86-64 and AArch64 Linux (47 bits): no tensor a process allocates,
// nor all of them together, can be larger.
constexpr uint64_t kAddressableBytes = uint64_t{1} << 47;

// "1.5 TiB (1649267441664 bytes)".
std::string format_bytes(uint64_t bytes);

// Calls `fail(key, message)` (which must throw) for the first size over the limits.
void check_size_limits(const Config& config,
                       const std::function<void(std::string_view, const std::string&)>& fail);

// A lower bound of one training process's memory: the weights and gradients of its share of the
// parameters (divided by parallel.tensor and parallel.expert; AdamW's moments left out, since
// ZeRO-1 may shard them) plus one micro-batch's saved activations (the MLP's split by
// parallel.tensor, and one layer's under train.recompute: full) and logits. Throws InputError
// at the key of the largest part when it exceeds `limit` bytes, naming `limit_source` ("this
// machine's memory", "--max-memory"). Called by `train` before anything is allocated.
void check_memory_plan(const Config& config, uint64_t limit, const std::string& limit_source);

// Physical memory of this machine in bytes (0 when unknown).
uint64_t physical_memory_bytes();

}  // namespace gatedlm
