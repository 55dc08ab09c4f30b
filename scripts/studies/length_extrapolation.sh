#!/usr/bin/env bash
# Tiny length-extrapolation study (issue 11; docs/studies/length-extrapolation.md): the staged
# sweep configs/sweeps/length-extrapolation.yaml on bytes of tinyshakespeare, then
# `gatedlm report`:
#   short: baseline and G1 (sdpa, elementwise) at seq_len 32, rope_theta 1e4;
#   long:  each continued from its short checkpoint at seq_len 64, rope_theta 1e5, then
#          evaluated at 1x, 2x, 4x, 8x of 64 tokens, plain RoPE and YaRN, loss per 32 positions.
# Writes OUT/report.md (loss by evaluation length), OUT/positions.csv (per position bucket) and
# OUT/plots/loss_vs_position.png. Idempotent (rerun to resume). About 10 minutes on 2 cores.
# Extra arguments go to every `gatedlm sweep` call (e.g. --set key=value for all runs).
# Env: GATEDLM (default build/gatedlm), OUT (default runs/length-extrapolation), PARALLEL (jobs
# at once, default 2), THREADS (cores divided among them, default 2).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
GATEDLM="${GATEDLM:-$repo/build/gatedlm}"
OUT="${OUT:-$repo/runs/length-extrapolation}"
PARALLEL="${PARALLEL:-2}" THREADS="${THREADS:-2}"
# One thread per process: on a small shared CPU, OpenMP threads that spin-wait cost far more
# than they give at this model size.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

data="$repo/data/tinyshakespeare"
if [ ! -s "$data/val-00000.bin" ]; then
  "$GATEDLM" prepare --tokenizer bytes --input "$(bash scripts/get_text.sh)" --out "$data" >&2
fi
args=(configs/sweeps/length-extrapolation.yaml --out "$OUT" --max-parallel "$PARALLEL"
  --threads "$THREADS" --set "data.train=$data/train-*.bin" --set "data.val=$data/val-*.bin" "$@")
"$GATEDLM" sweep "${args[@]}"
"$GATEDLM" sweep "${args[@]}" --status
"$GATEDLM" report "$OUT"
