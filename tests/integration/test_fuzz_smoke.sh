#!/usr/bin/env bash
# CI smoke of the fuzz targets (docs/reliability.md): builds them with clang-14 + libFuzzer into
# a build directory beside the tested binary and runs each for GATEDLM_FUZZ_SMOKE_SECONDS
# (default 20) from its seed corpus. Any crash, sanitizer report or escaped exception fails the
# test; the long runs are scripts/fuzz.sh's job. Exit 77 (ctest: skipped) without clang-14.
set -euo pipefail
source_dir="${GATEDLM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
if ! command -v clang++-14 >/dev/null ||
  ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "skipped: clang++-14 or libFuzzer (libclang-rt-14-dev) not installed"
  exit 77
fi
build_dir="$(dirname "${GATEDLM:?GATEDLM must name the built binary}")/fuzz-smoke"
GATEDLM_BUILD_JOBS="${GATEDLM_BUILD_JOBS:-2}" \
  bash "$source_dir/scripts/fuzz.sh" --build-dir "$build_dir" \
  --seconds "${GATEDLM_FUZZ_SMOKE_SECONDS:-20}"
# Every target. Inputs of fixed findings are kept in the seed corpora (tests/fuzz/corpus/*/
# finding-*), which libFuzzer runs before it mutates, so a regression fails here.
