#!/usr/bin/env bash
# Configures and builds gatedlm into build/ (the binary is build/gatedlm). Extra arguments go to
# CMake, e.g. scripts/build.sh -DGATEDLM_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif [ $# -gt 0 ]; then
  cmake -S . -B build "$@"
fi
cmake --build build --parallel "$(nproc)"
echo "built: build/gatedlm"
