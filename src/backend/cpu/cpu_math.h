// Scalar helpers shared by the CPU kernels (inlined into their loops).
#pragma once

#include <cmath>

#include "gatedlm/backend/backend.h"

namespace gatedlm::cpu {

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

inline float activate(GateActivationKind kind, float x) {
  switch (kind) {
    case GateActivationKind::sigmoid:
      return sigmoid(x);
    case GateActivationKind::silu:
      return x * sigmoid(x);
    case GateActivationKind::ns_sigmoid:
      return 0.5f + 0.5f * sigmoid(x);
    case GateActivationKind::identity:
      return x;
  }
  return x;
}

inline float activate_grad(GateActivationKind kind, float x) {
  switch (kind) {
    case GateActivationKind::sigmoid: {
      const float s = sigmoid(x);
      return s * (1.0f - s);
    }
    case GateActivationKind::silu: {
      const float s = sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case GateActivationKind::ns_sigmoid: {
      const float s = sigmoid(x);
      return 0.5f * s * (1.0f - s);
    }
    case GateActivationKind::identity:
      return 1.0f;
  }
  return 1.0f;
}

}  // namespace gatedlm::cpu
