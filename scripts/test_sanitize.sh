#!/usr/bin/env bash
# `scripts/test.sh --sanitize`: builds gatedlm and its gtest suite (unit + finite-difference
# tests) with AddressSanitizer + UndefinedBehaviorSanitizer into build-sanitize/ and runs the
# suite under them. Any report stops the run with a non-zero exit (halt_on_error); a clean run
# ends with gtest's PASSED line. Extra arguments go to the test binary (e.g. --gtest_filter=...).
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S . -B build-sanitize "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGATEDLM_SANITIZE=ON -DGATEDLM_CUDA=OFF "${launcher[@]}" >/dev/null
cmake --build build-sanitize --parallel "${GATEDLM_BUILD_JOBS:-$(nproc)}" --target gatedlm gatedlm_tests
# Leaks are checked at exit; the suppressions file names the only external ones (see the file).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" OPENBLAS_NUM_THREADS=1
build-sanitize/tests/gatedlm_tests "$@"
