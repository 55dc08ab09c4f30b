#!/usr/bin/env bash
# Data-parallel step time with the gradient all-reduce overlapped with backward and without
# (parallel.overlap_grad_reduce), under `mpirun -np RANKS` on the CPU backend.
#   scripts/bench/overlap_grad_reduce.sh [RANKS] [THREADS_PER_RANK]   (default 2 1)
# Model configs/models/dense-bench.yaml (~17M parameters), micro-batch 2 x 128 tokens, buckets
# of BUCKET floats (default 1 Mi: 17 buckets), STEPS steps (default 12, the first 2 dropped);
# prints the median step time of each mode, ROUNDS times alternating (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
ranks="${1:-2}"
threads="${2:-1}"
steps="${STEPS:-12}"
bucket="${BUCKET:-1048576}"
rounds="${ROUNDS:-2}"
[ -x build/gatedlm ] || bash scripts/build.sh >/dev/null
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/train.bin" <<'PY'
import sys
import numpy as np
tokens = 400000
header = np.zeros(256, np.int32)
header[:3] = [20240520, 1, tokens]
with open(sys.argv[1], "wb") as f:
    f.write(header.tobytes())
    f.write(np.random.default_rng(0).integers(0, 8192, tokens).astype(np.uint16).tobytes())
PY
run() {  # $1 = true/false; prints the median step seconds after the first two
  OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 GATEDLM_THREADS=$threads \
    mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$ranks" \
    build/gatedlm train configs/models/dense-bench.yaml --run-dir "$tmp/run_$1" \
    --set data.train="$tmp/train.bin" --set train.steps="$steps" --set train.seq_len=128 \
    --set train.micro_batch_size=2 --set train.log_interval=1 --set train.eval_interval=0 \
    --set checkpoint.interval=0 --set parallel.grad_bucket_size="$bucket" \
    --set parallel.overlap_grad_reduce="$1" >/dev/null 2>&1
  /usr/bin/python3 - "$tmp/run_$1/metrics.jsonl" <<'PY'
import json, statistics, sys
t = [json.loads(l)["time_s"] for l in open(sys.argv[1]) if '"loss"' in l]
print(f"{statistics.median(b - a for a, b in zip(t[2:], t[3:])):.3f}")
PY
  rm -rf "$tmp/run_$1"
}
echo "| round | overlap on (s/step) | overlap off (s/step) |"
echo "|---|---|---|"
for r in $(seq "$rounds"); do
  echo "| $r | $(run true) | $(run false) |"
done
