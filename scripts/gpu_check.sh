#!/usr/bin/env bash
# The GPU check of the CUDA backend, for one H200 machine lent for minutes (no network, none of
# this project's libraries). Uses build-gpu/bundle.tar.xz (made on a build machine by
# scripts/gpu_bundle.sh and carried along) or, lacking it, tries a source build. Then, each
# phase under its own timeout, later phases running whatever earlier ones did:
#   env      GPU, driver, nvcc, python3/torch
#   build    unpack the bundle (or configure + build with -DCMAKE_CUDA_ARCHITECTURES=90)
#   parity   CUDA vs CPU backend, op by op and whole model (gatedlm_tests CudaParity*)
#   bench    gatedlm bench --device cuda on configs/train/bench.yaml (no gate, two gates)
#   pytorch  the same model in PyTorch on the GPU: eager and torch.compile, fp32 (+ bf16)
#   oracle   the PyTorch oracle tests (tests/reference/test_parity_*.py) through --device cuda
#   hf       stock transformers loads gatedlm's HF exports (scripts/hf_transformers_check.py;
#            skipped, status 3, where transformers is not installed)
# Writes gpu_check.log, parity.xml, bench.jsonl, pytorch.jsonl and summary.md under $OUT
# (default out/gpu-check) and prints the summary last.
#   scripts/gpu_check.sh [PHASE...]          (default: every phase; GPU_CHECK_BUDGET_S=540)
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT="${OUT:-$PWD/out/gpu-check}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
set -x
budget="${GPU_CHECK_BUDGET_S:-540}"
start=$(date +%s)
phases=("$@")
[ ${#phases[@]} -gt 0 ] || phases=(env build parity bench pytorch oracle hf)
summary=()
export SRC="$PWD" BUNDLE_DIR=/tmp/gatedlm-bundle
export GATEDLM_BIN="$BUNDLE_DIR/gatedlm" GATEDLM_TESTS="$BUNDLE_DIR/gatedlm_tests"
export PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1

# cuBLAS from the machine's CUDA toolkit or its pip wheels; the bundle's libraries first.
cuda_libs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $("$PY" -c \
    'import glob, os, site; print(" ".join(sorted({os.path.dirname(p) for s in site.getsitepackages() for p in glob.glob(s + "/nvidia/**/libcublas.so*", recursive=True)})))' 2>/dev/null); do
  [ -e "$d/libcublas.so.13" ] && cuda_libs="$cuda_libs:$d"
done
export LD_LIBRARY_PATH="$BUNDLE_DIR/lib$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

phase_env() {
  nvidia-smi || true
  nvcc --version || /usr/local/cuda/bin/nvcc --version || true
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' || true
  uname -a; ldd --version | head -1; nproc
}

phase_build() {
  if [ -f build-gpu/bundle.tar.xz ]; then
    rm -rf "$BUNDLE_DIR" && mkdir -p "$BUNDLE_DIR" &&
      tar -xJf build-gpu/bundle.tar.xz -C "$(dirname "$BUNDLE_DIR")" --transform "s,^bundle,$(basename "$BUNDLE_DIR")," &&
      ldd "$GATEDLM_BIN" | grep -i "not found"
    "$GATEDLM_BIN" --version
    return
  fi
  echo "no build-gpu/bundle.tar.xz: building from source (needs yaml-cpp, spdlog, HDF5, OpenBLAS, ...)"
  cmake -S . -B build-gpu-src -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DGATEDLM_MARCH= &&
    cmake --build build-gpu-src --target gatedlm gatedlm_tests --parallel "$(nproc)" &&
    mkdir -p "$BUNDLE_DIR" && cp build-gpu-src/gatedlm build-gpu-src/tests/gatedlm_tests "$BUNDLE_DIR/"
}

phase_parity() {
  "$GATEDLM_TESTS" --gtest_filter='*CudaParity*:*CudaModelParity*:*DeviceSelection*' \
    --gtest_output="xml:$OUT/parity.xml" | tee /tmp/parity.txt
  local rc=${PIPESTATUS[0]}
  # Skipped parity tests mean the device was not usable: that is no pass.
  if grep -q "CUDA parity needs a CUDA build and device" /tmp/parity.txt; then
    echo "parity tests skipped: no usable CUDA device"; return 3
  fi
  return "$rc"
}

phase_oracle() {
  # The oracle tests call $GATEDLM oracle-dump ...; this wrapper adds --device cuda.
  printf '#!/bin/sh\nsub="$1"; shift\nexec "%s" "$sub" --device cuda "$@"\n' "$GATEDLM_BIN" \
    > /tmp/gatedlm-cuda && chmod +x /tmp/gatedlm-cuda
  local rc=0
  for t in tests/reference/test_parity_dense.py tests/reference/test_parity_gates.py; do
    GATEDLM=/tmp/gatedlm-cuda GATEDLM_SOURCE_DIR="$SRC" PYTHON="$PY" "$PY" "$t" || rc=1
  done
  return $rc
}

phase_hf() {
  GATEDLM="$GATEDLM_BIN" GATEDLM_SOURCE_DIR="$SRC" "$PY" scripts/hf_transformers_check.py
}

source scripts/bench/gate_args.sh
export -f gate_args

phase_bench() {
  local rc=0
  for g in none sdpa-elementwise sdpa-headwise; do
    # shellcheck disable=SC2046
    line=$("$GATEDLM_BIN" bench configs/train/bench.yaml --device cuda --json --steps 10 \
      --warmup 3 $(gate_args "$g")) && echo "{\"gate\": \"$g\", \"result\": $line}" >> "$OUT/bench.jsonl" || rc=1
  done
  line=$("$GATEDLM_BIN" bench configs/train/bench.yaml --device cuda --json --steps 5 --warmup 2 \
    --batch 16 --seq-len 1024) && echo "{\"gate\": \"none-B16-T1024\", \"result\": $line}" >> "$OUT/bench.jsonl" || rc=1
  return $rc
}

phase_pytorch() {
  local rc=0
  for run in "none ''" "none --compile" "sdpa-elementwise --compile" "none '--compile --precision bf16'"; do
    eval "set -- $run"
    # shellcheck disable=SC2046,SC2086
    line=$(timeout 150 "$PY" scripts/bench/pytorch_bench.py --config configs/train/bench.yaml \
      --device cuda --steps 10 --warmup 3 --threads 8 $(gate_args "$1") $2) &&
      echo "{\"gate\": \"$1\", \"result\": $line}" >> "$OUT/pytorch.jsonl" || rc=1
  done
  return $rc
}
export -f phase_env phase_build phase_parity phase_oracle phase_bench phase_pytorch phase_hf

declare -A limits=([env]=30 [build]=300 [parity]=180 [bench]=120 [pytorch]=300 [oracle]=200)
for p in "${phases[@]}"; do
  left=$((budget - ($(date +%s) - start)))
  if [ "$left" -lt 20 ]; then summary+=("| $p | not run: out of time | 0 |"); continue; fi
  limit=${limits[$p]:-120}
  [ "$limit" -gt $((left - 10)) ] && limit=$((left - 10))
  echo "===== phase $p (limit ${limit}s, ${left}s left) ====="
  t0=$(date +%s)
  timeout -k 5 "$limit" bash -c "phase_$p"
  rc=$?
  dt=$(($(date +%s) - t0))
  case $rc in
    0) status=pass ;;
    3) status="skipped (see the log)" ;;
    124 | 137) status="TIMEOUT after ${limit}s" ;;
    *) status="FAIL (rc $rc)" ;;
  esac
  summary+=("| $p | $status | $dt |")
done

{ set +x; } 2>/dev/null
{
  echo "## gatedlm GPU check, $(date -u +%FT%TZ)"
  echo
  echo "| phase | status | seconds |"
  echo "|---|---|---|"
  printf '%s\n' "${summary[@]}"
  echo
  [ -f "$OUT/parity.xml" ] && grep -o '<testsuites[^>]*>' "$OUT/parity.xml"
  [ -f /tmp/parity.txt ] && grep -E '^\[  (FAILED|PASSED|SKIPPED) +\]' /tmp/parity.txt | sort -u | head -40
  "$PY" - "$OUT" <<'PY' || true
import json, os, sys
out = sys.argv[1]
def rows(name):
    path = os.path.join(out, name)
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []
print("\n| impl | gate | setting | tokens/s | step ms |")
print("|---|---|---|---|---|")
for r in rows("bench.jsonl"):
    d = r["result"]
    print(f"| gatedlm cuda fp32 | {r['gate']} | B={d['batch']} T={d['seq_len']}, "
          f"MFU {100 * d['mfu']:.0f}% of {d['peak_tflops']:.0f} TFLOP/s ({d['peak_source']}), "
          f"GEMM efficiency {100 * d['gemm_efficiency']:.0f}% of {d['sgemm_gflops'] / 1000:.1f} TFLOP/s | "
          f"{d['tokens_per_s']:.0f} | {1000 * d['step_s']:.1f} |")
for r in rows("pytorch.jsonl"):
    d = r["result"]
    mode = ("torch.compile" if d["compiled"] else "eager") + " " + d["precision"]
    print(f"| PyTorch {d['torch']} | {r['gate']} | {mode}, B={d['batch']} T={d['seq_len']} | "
          f"{d['tokens_per_s']:.0f} | {1000 * d['step_s']:.1f} |")
PY
} | tee "$OUT/summary.md"
sleep 1  # let tee flush the log
