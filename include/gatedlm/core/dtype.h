// Element types of device tensors. Compute runs in fp32; bf16 is a storage type (the bf16
// copy of the weights and saved activations, docs/precision.md once mixed precision lands);
// int32 holds token ids, targets and routing indices.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

// Functions both the host and CUDA kernels call (nvcc compiles them for both).
#ifdef __CUDACC__
#define GATEDLM_HOST_DEVICE __host__ __device__
#else
#define GATEDLM_HOST_DEVICE
#endif

namespace gatedlm {

enum class DType : uint8_t { f32, bf16, i32 };

// bfloat16 storage: the upper 16 bits of an IEEE float.
struct bf16_t {
  uint16_t bits = 0;
};

constexpr size_t dtype_size(DType t) { return t == DType::bf16 ? 2 : 4; }
std::string_view dtype_name(DType t);

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<bf16_t>() {
  return DType::bf16;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}

GATEDLM_HOST_DEVICE inline uint32_t float_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

GATEDLM_HOST_DEVICE inline float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

// Round to nearest, ties to even (as PyTorch's and CUDA's float -> bf16); NaN stays a quiet NaN,
// infinities stay infinite.
GATEDLM_HOST_DEVICE inline bf16_t float_to_bf16(float x) {
  uint32_t u = float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<uint16_t>((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return {static_cast<uint16_t>(u >> 16)};
}

GATEDLM_HOST_DEVICE inline float bf16_to_float(bf16_t x) {
  return bits_float(static_cast<uint32_t>(x.bits) << 16);
}

}  // namespace gatedlm
