#!/usr/bin/env bash
# Same numbers from two builds: train the same short runs (dense, G1, MoE, TP2, DP2 + ZeRO-1,
# EP2) with binaries OLD and NEW and compare metrics.jsonl (time fields dropped) and the final
# checkpoint tensors bit for bit. Usage: scripts/same_numbers.sh OLD_BINARY NEW_BINARY WORK_DIR
set -euo pipefail
OLD=$(realpath "$1") NEW=$(realpath "$2") WORK=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TEXT=${GATEDLM_TEXT:-$ROOT/../shared/data/corpora/tinyshakespeare.txt}
mkdir -p "$WORK"; cd "$WORK"
if [ -f "$TEXT" ]; then head -c 400000 "$TEXT" > text.txt; else cat "$ROOT"/docs/*.md > text.txt; fi
[ -d data ] || "$NEW" prepare --tokenizer bytes --input text.txt --out data >/dev/null
export OMP_NUM_THREADS=1 GATEDLM_THREADS=1 OPENBLAS_NUM_THREADS=1
common=(--set "data.train=data/train-*.bin" --set "data.val=data/val-*.bin" --set train.steps=6 --set train.log_interval=1 --set train.eval_interval=3 --set train.micro_batch_size=4 --set train.seq_len=64 --threads 1)
run() { # name ranks binary extra...
  local name=$1 ranks=$2 bin=$3; shift 3
  rm -rf "run-$name"
  if [ "$ranks" -gt 1 ]; then mpirun --oversubscribe --allow-run-as-root -np "$ranks" "$bin" train "$ROOT/configs/train/tiny-cpu.yaml" "${common[@]}" "$@" --run-dir "run-$name" >/dev/null 2>&1
  else "$bin" train "$ROOT/configs/train/tiny-cpu.yaml" "${common[@]}" "$@" --run-dir "run-$name" >/dev/null 2>&1; fi
}
compare() { # label ranks extra...
  local label=$1 ranks=$2; shift 2
  run "$label-old" "$ranks" "$OLD" "$@"; run "$label-new" "$ranks" "$NEW" "$@"
  /usr/bin/python3 - "$label" <<'PY'
import json, sys, glob, h5py, numpy as np
label = sys.argv[1]
def lines(d):
    out = []
    for l in open(f"run-{d}/metrics.jsonl"):
        j = json.loads(l); [j.pop(k, None) for k in ("time_s", "tokens_per_s")]; out.append(j)
    return out
a, b = lines(f"{label}-old"), lines(f"{label}-new")
same = a == b
def tensors(d):
    step = sorted(glob.glob(f"run-{d}/checkpoints/step_*"))[-1]
    with h5py.File(f"{step}/model.h5", "r") as f:
        return {k: np.array(f["model"][k]) for k in f["model"]}
ta, tb = tensors(f"{label}-old"), tensors(f"{label}-new")
bitwise = ta.keys() == tb.keys() and all(np.array_equal(ta[k], tb[k]) for k in ta)
print(f"{label}: metrics identical={same} ({len(a)} lines, final loss {[l['loss'] for l in a if 'loss' in l][-1]}), checkpoint tensors bitwise={bitwise} ({len(ta)} tensors)")
PY
}
compare dense 1
compare g1 1 --set model.attention_gate.position=sdpa --set model.qk_norm=true
compare moe 1 --set "model.moe={num_experts: 4, num_experts_per_tok: 2, moe_intermediate_size: 64}"
compare tp2 2 --set parallel.tensor=2 --set model.attention_gate.position=sdpa --set model.attention_gate.sharing=head_shared
compare dp2zero 2 --set parallel.zero=1
compare ep2 2 --set parallel.expert=2 --set "model.moe={num_experts: 4, num_experts_per_tok: 2, moe_intermediate_size: 64}"
