#!/usr/bin/env bash
# Learning-rate stability study (configs/sweeps/lr-stability.yaml): the ungated baseline and G1
# elementwise over 5 learning rates, on bytes of tinyshakespeare; then `gatedlm report`.
# Idempotent (rerun to resume). Writes OUT/report.{md,csv} and OUT/plots/*.png.
#   scripts/studies/lr_stability.sh                # the full spec (600 steps a run)
#   REDUCED=1 scripts/studies/lr_stability.sh      # the reduced run of docs/studies/lr-stability.md
#   REDUCED=1 OUT=runs/lr-stability-reduced-seed2 scripts/studies/lr_stability.sh --set train.seed=2
# Extra arguments go to every `gatedlm sweep` call (e.g. --set key=value for all runs).
# Env: GATEDLM (default build/gatedlm), OUT, PARALLEL (runs at once, default 2), THREADS (cores
# divided among them, default 2), REDUCED (1: 200 steps, seq_len 64, batch 8, no analysis).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
GATEDLM="${GATEDLM:-$repo/build/gatedlm}"
REDUCED="${REDUCED:-0}"
OUT="${OUT:-$repo/runs/lr-stability$([ "$REDUCED" = 1 ] && echo -reduced || true)}"
PARALLEL="${PARALLEL:-2}" THREADS="${THREADS:-2}"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

data="$repo/data/tinyshakespeare"
if [ ! -s "$data/val-00000.bin" ]; then
  "$GATEDLM" prepare --tokenizer bytes --input "$(bash scripts/get_text.sh)" --out "$data" >&2
fi
args=(configs/sweeps/lr-stability.yaml --out "$OUT" --max-parallel "$PARALLEL" --threads "$THREADS"
  --set "data.train=$data/train-*.bin" --set "data.val=$data/val-*.bin" "$@")
if [ "$REDUCED" = 1 ]; then
  args+=(--set train.steps=200 --set train.seq_len=64 --set train.micro_batch_size=8
    --set scheduler.warmup_steps=20 --set train.eval_interval=100 --set checkpoint.interval=100
    --set train.analyze_interval=0)
fi
"$GATEDLM" sweep "${args[@]}" --dry-run
"$GATEDLM" sweep "${args[@]}" || echo "some runs failed (a diverged run counts as done)" >&2
"$GATEDLM" sweep "${args[@]}" --status
"$GATEDLM" report "$OUT"
