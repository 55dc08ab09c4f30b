#!/usr/bin/env bash
# MoE layer throughput against the dense FFN of the same FLOPs, on the CPU backend.
#   scripts/bench/moe_vs_dense.sh [THREADS]        (default 2; STEPS=5 WARMUP=2)
# Every run is `gatedlm bench configs/train/bench.yaml` (hidden 384, 6 layers, B=8, T=256):
#   dense      intermediate_size 1536
#   moe-16x384 16 experts of 384, top-4   (active FFN 4 x 384 = 1536: the same FLOPs)
#   moe-64x96  64 experts of 96, top-16   (fine-grained, the same FLOPs)
#   no-ffn     intermediate_size 8        (everything but the FFN)
# FFN time = step time - no-ffn step time; the table gives each FFN's time and its throughput
# relative to the dense FFN (1.0 = an MoE layer as fast as the dense FFN of its FLOPs).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads="${1:-2}"
steps="${STEPS:-5}"
warmup="${WARMUP:-2}"
[ -x build/gatedlm ] || bash scripts/build.sh >/dev/null
config=configs/train/bench.yaml
moe() {  # experts inter top-k
  echo "--set model.moe.num_experts=$1 --set model.moe.moe_intermediate_size=$2" \
       "--set model.moe.num_experts_per_tok=$3 --set model.moe.router_aux_loss_coef=0.01"
}
declare -A args=(
  [dense]=""
  [moe-16x384]="$(moe 16 384 4)"
  [moe-64x96]="$(moe 64 96 16)"
  [no-ffn]="--set model.intermediate_size=8"
)
declare -A step
for name in no-ffn dense moe-16x384 moe-64x96; do
  # shellcheck disable=SC2086
  json=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads build/gatedlm bench $config \
           --threads $threads --steps $steps --warmup $warmup --json ${args[$name]})
  step[$name]=$(echo "$json" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["step_s"])')
  echo "$name: $json" >&2
done
echo "| model (threads $threads) | step s | FFN s | FFN throughput vs dense |"
echo "|---|---|---|---|"
for name in dense moe-16x384 moe-64x96; do
  /usr/bin/python3 - "$name" "${step[$name]}" "${step[no-ffn]}" "${step[dense]}" <<'PY'
import sys
name, s, base, dense = sys.argv[1], *map(float, sys.argv[2:])
ffn, dense_ffn = s - base, dense - base
print(f"| {name} | {s:.3f} | {ffn:.3f} | {dense_ffn / ffn:.2f} |")
PY
done
