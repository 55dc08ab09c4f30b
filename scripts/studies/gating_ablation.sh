#!/usr/bin/env bash
# The tiny-scale gating ablation (docs/studies/gating-ablation.md), in two stages:
#   1. configs/sweeps/sink-probe.yaml: the ungated baseline at longer windows and more layers,
#      F-Attn logged over training; the cheapest setup (seq_len x layers) whose final F-Attn is
#      at least SINK (default 0.2) is chosen. If none reaches it, the script stops and says so.
#   2. configs/sweeps/gating-ablation.yaml (19 variants) at that setup, then `gatedlm report`.
# Idempotent: rerun to resume either stage. Hours on 2 cores; minutes per run on a big CPU.
# Env: GATEDLM (default build/gatedlm), PARALLEL (default 2), THREADS (default 2), SINK.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
GATEDLM="${GATEDLM:-$repo/build/gatedlm}"
PARALLEL="${PARALLEL:-2}" THREADS="${THREADS:-2}" SINK="${SINK:-0.2}"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

data="$repo/data/tinyshakespeare"
if [ ! -s "$data/val-00000.bin" ]; then
  "$GATEDLM" prepare --tokenizer bytes --input "$(bash scripts/get_text.sh)" --out "$data" >&2
fi
paths=(--set "data.train=$data/train-*.bin" --set "data.val=$data/val-*.bin")

"$GATEDLM" sweep configs/sweeps/sink-probe.yaml "${paths[@]}" --max-parallel "$PARALLEL" \
  --threads "$THREADS" || true
"$GATEDLM" report runs/sink-probe

# The cheapest probe run whose baseline sinks: its seq_len and layer count.
read -r seq_len layers < <(/usr/bin/python3 - "$SINK" <<'PY'
import csv, sys, yaml
sink = float(sys.argv[1])
best = None
for row in csv.DictReader(open("runs/sink-probe/report.csv")):
    if row["first_token_attn"] and float(row["first_token_attn"]) >= sink:
        cfg = yaml.safe_load(open(f"runs/sink-probe/{row['run']}/config.yaml"))
        cost = cfg["train"]["seq_len"] * cfg["model"]["num_hidden_layers"]
        if best is None or cost < best[0]:
            best = (cost, cfg["train"]["seq_len"], cfg["model"]["num_hidden_layers"])
if best is None:
    sys.exit(f"no sink-probe run reached F-Attn >= {sink}; see runs/sink-probe/report.md")
print(best[1], best[2])
PY
)
echo "gating ablation at seq_len $seq_len, $layers layers (the cheapest probe setup that sinks)" >&2
args=(configs/sweeps/gating-ablation.yaml "${paths[@]}" --set "train.seq_len=$seq_len"
  --set "model.num_hidden_layers=$layers" --set train.steps=4000 --set train.analyze_interval=500)
"$GATEDLM" sweep "${args[@]}" --dry-run
"$GATEDLM" sweep "${args[@]}" --max-parallel "$PARALLEL" --threads "$THREADS"
"$GATEDLM" report runs/gating-ablation
