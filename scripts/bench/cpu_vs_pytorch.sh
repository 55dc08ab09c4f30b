#!/usr/bin/env bash
# gatedlm vs PyTorch (Debian's python3-torch, /usr/bin/python3) on the same model, batch and
# threads, run side by side in one invocation; prints a Markdown table of ratios.
#   scripts/bench/cpu_vs_pytorch.sh [CONFIG] [THREADS...]   (default configs/train/bench.yaml, 2)
# Extra gate variants: GATES="none sdpa-headwise sdpa-elementwise" (default: all three).
set -euo pipefail
cd "$(dirname "$0")/../.."
config="${1:-configs/train/bench.yaml}"
shift || true
threads=("${@:-2}")
gates=(${GATES:-none sdpa-elementwise sdpa-headwise})
steps="${STEPS:-5}"
warmup="${WARMUP:-2}"
[ -x build/gatedlm ] || bash scripts/build.sh >/dev/null

source scripts/bench/gate_args.sh

out="$(mktemp)"
for t in "${threads[@]}"; do
  for g in "${gates[@]}"; do
    # shellcheck disable=SC2046
    ours=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t build/gatedlm bench "$config" --threads "$t" \
             --steps "$steps" --warmup "$warmup" --json $(gate_args "$g"))
    theirs=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 scripts/bench/pytorch_bench.py \
             --config "$config" --threads "$t" --steps "$steps" --warmup "$warmup" $(gate_args "$g"))
    echo "$t $g $ours" >> "$out"
    echo "$t $g $theirs" >> "$out"
    echo "threads=$t gate=$g done" >&2
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    t, g, js = line.split(" ", 2)
    d = json.loads(js)
    rows.setdefault((int(t), g), {})[d["impl"]] = d
print("| threads | gate | gatedlm tok/s | PyTorch tok/s | ratio | gatedlm GEMM efficiency (of sgemm now) | gatedlm RSS MB | PyTorch RSS MB |")
print("|---|---|---|---|---|---|---|---|")
for (t, g), d in sorted(rows.items()):
    ours, theirs = d["gatedlm"], d["pytorch"]
    print(f"| {t} | {g} | {ours['tokens_per_s']:.0f} | {theirs['tokens_per_s']:.0f} | "
          f"{ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}x | {100 * ours['gemm_efficiency']:.0f}% of {ours['sgemm_gflops']:.0f} GFLOP/s | "
          f"{ours['peak_rss_mb']:.0f} | {theirs['peak_rss_mb']:.0f} |")
PY
rm -f "$out"
