// The YAML spelling of every config enum: exactly the C++ enumerator names, in declaration
// order, so that the enum's value indexes its name.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "gatedlm/config/config.h"

namespace gatedlm {

template <class E>
struct EnumNames;  // specialised below: static constexpr std::array<std::string_view, N> names

template <>
struct EnumNames<GatePosition> {
  static constexpr std::array<std::string_view, 6> names = {"none", "sdpa",  "value",
                                                            "key",  "query", "dense"};
};
template <>
struct EnumNames<GateGranularity> {
  static constexpr std::array<std::string_view, 2> names = {"elementwise", "headwise"};
};
template <>
struct EnumNames<GateSharing> {
  static constexpr std::array<std::string_view, 2> names = {"head_specific", "head_shared"};
};
template <>
struct EnumNames<GateCombine> {
  static constexpr std::array<std::string_view, 2> names = {"multiply", "add"};
};
template <>
struct EnumNames<GateActivation> {
  static constexpr std::array<std::string_view, 4> names = {"sigmoid", "silu", "ns_sigmoid",
                                                            "identity"};
};
template <>
struct EnumNames<QkGatePoint> {
  static constexpr std::array<std::string_view, 2> names = {"post_rope", "pre_norm"};
};
template <>
struct EnumNames<SharedAverage> {
  static constexpr std::array<std::string_view, 2> names = {"scores", "logits"};
};
template <>
struct EnumNames<SdpaOutputTransform> {
  static constexpr std::array<std::string_view, 3> names = {"none", "rmsnorm", "silu"};
};
template <>
struct EnumNames<Precision> {
  static constexpr std::array<std::string_view, 2> names = {"fp32", "bf16"};
};
template <>
struct EnumNames<RecomputeMode> {
  static constexpr std::array<std::string_view, 3> names = {"none", "selective", "full"};
};
template <>
struct EnumNames<ScheduleType> {
  static constexpr std::array<std::string_view, 4> names = {"cosine", "linear", "wsd", "constant"};
};
template <>
struct EnumNames<SpikePolicy> {
  static constexpr std::array<std::string_view, 3> names = {"none", "skip", "rollback"};
};
template <>
struct EnumNames<NonFinitePolicy> {
  static constexpr std::array<std::string_view, 3> names = {"skip", "rollback", "stop"};
};

template <class E>
std::string_view enum_name(E value) {
  return EnumNames<E>::names.at(static_cast<std::size_t>(value));
}

template <class E>
std::optional<E> parse_enum(std::string_view text) {
  const auto& names = EnumNames<E>::names;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == text) return static_cast<E>(i);
  }
  return std::nullopt;
}

// "a, b, c": the allowed values, for error messages.
template <class E>
std::string enum_choices() {
  std::string out;
  for (std::string_view name : EnumNames<E>::names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace gatedlm
