#!/usr/bin/env bash
# Setup, build and the whole test suite (unit, finite-difference, PyTorch oracle, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j 2 "$@"
