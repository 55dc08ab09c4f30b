#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14 + libFuzzer from Debian) into build-fuzz/
# and runs each for a time or a number of executions. docs/reliability.md has the details and
# the recorded counts.
#
#   scripts/fuzz.sh [--seconds S | --runs N] [--build-dir DIR] [--sanitizers LIST] [--no-build]
#                   [TARGET...]
#
# --sanitizers (default address,undefined) picks -fsanitize=; e.g. `--sanitizers undefined` for
# fuzz_checkpoint, which ASan slows ~30x inside HDF5 (default build dir then build-fuzz-undefined).
# TARGET is a name like config or fuzz_config (default: every fuzz_*.cpp in tests/fuzz).
# Each target grows a working corpus in DIR/fuzz/corpus-NAME, seeded from tests/fuzz/corpus/NAME;
# a crashing input is saved as DIR/fuzz/artifacts/NAME-crash-* and the script exits 1.
set -euo pipefail
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="$source_dir/build-fuzz"
limit=(-max_total_time=60)
limit_text="60 s"
build=1
sanitizers=address,undefined
build_dir_given=0
targets=()
while (($#)); do
  case "$1" in
    --seconds) limit=("-max_total_time=$2"); limit_text="$2 s"; shift 2 ;;
    --runs) limit=("-runs=$2"); limit_text="$2 runs"; shift 2 ;;
    --build-dir) build_dir="$(realpath -m "$2")"; build_dir_given=1; shift 2 ;;
    --sanitizers) sanitizers="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("fuzz_${1#fuzz_}"); shift ;;
  esac
done
if [[ $sanitizers != address,undefined ]] && ((!build_dir_given)); then
  build_dir="$source_dir/build-fuzz-${sanitizers//,/-}"
fi
if ((${#targets[@]} == 0)); then
  for harness in "$source_dir"/tests/fuzz/fuzz_*.cpp; do
    targets+=("$(basename "$harness" .cpp)")
  done
fi

if ((build)); then
  if ! command -v clang++-14 >/dev/null; then
    echo "fuzz.sh: clang++-14 not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 2
  fi
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 -DGATEDLM_CUDA=OFF \
    -DGATEDLM_TESTS=OFF -DGATEDLM_FUZZ=ON -DGATEDLM_FUZZ_SANITIZERS="$sanitizers" \
    "${launcher[@]}" >/dev/null
  cmake --build "$build_dir" --parallel "${GATEDLM_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"
fi

pulse=$'^#([0-9]+)\t(pulse|DONE).*exec/s: ([0-9]+)'
progress() {
  local line runs rate eta
  while IFS= read -r line; do
    [[ $line =~ $pulse ]] || continue
    runs=${BASH_REMATCH[1]} rate=${BASH_REMATCH[3]} eta=""
    if [[ ${limit[0]} == -runs=* ]] && ((rate > 0)); then
      eta=", ETA $(((${limit[0]#-runs=} - runs) / rate)) s"
    fi
    echo "$1: $runs runs, $rate runs/s, $(($(date +%s) - $2)) s$eta"
  done
}

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# The leak suppressions name only allocations kept inside external libraries (see the file).
export LSAN_OPTIONS="suppressions=$source_dir/tests/sanitize/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
mkdir -p "$build_dir/fuzz/artifacts"
failed=0
for target in "${targets[@]}"; do
  name="${target#fuzz_}"
  corpus="$build_dir/fuzz/corpus-$name"
  log="$build_dir/fuzz/$target.log"
  mkdir -p "$corpus"
  echo "$target: fuzzing for $limit_text (log $log)"
  start=$(date +%s)
  set +e
  # Progress: libFuzzer's pulse lines, as runs so far, runs per second and (for --runs) ETA.
  "$build_dir/fuzz/$target" "${limit[@]}" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$build_dir/fuzz/artifacts/$name-" "$corpus" \
    "$source_dir/tests/fuzz/corpus/$name" 2>&1 | tee "$log" | progress "$target" "$start"
  status=${PIPESTATUS[0]}
  set -e
  total_runs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  seconds=$(($(date +%s) - start))
  if ((status != 0)); then
    failed=1
    grep -E "^(==[0-9]+==ERROR|SUMMARY|fuzz:|artifact_prefix|Test unit written)" "$log" | head -20 >&2
    echo "$target: FAILED (exit $status) after ${total_runs:-?} runs; see $log" >&2
  else
    echo "$target: ${total_runs:-?} runs in $seconds s (${rate:-?} runs/s), 0 crashes"
  fi
done
exit $failed
