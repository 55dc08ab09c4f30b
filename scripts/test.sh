#!/usr/bin/env bash
# Setup, build and the whole test suite (unit, finite-difference, PyTorch oracle, end-to-end).
# --sanitize: the unit and finite-difference tests under ASan + UBSan (scripts/test_sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == --sanitize ]]; then  # the gtest suite under ASan + UBSan instead
  shift
  exec bash scripts/test_sanitize.sh "$@"
fi
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j 2 "$@"
