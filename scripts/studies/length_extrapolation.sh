#!/usr/bin/env bash
# Tiny length-extrapolation study (issue 11; spec: configs/sweeps/length-extrapolation.yaml),
# run directly with `gatedlm train` / `gatedlm eval` until `gatedlm sweep` exists.
#   1. baseline and G1 (sdpa, elementwise) trained on bytes at seq_len 32, rope_theta 1e4;
#   2. continued (--resume) at seq_len 64 with rope_theta 1e5 (the paper: 4k -> 32k, 10k -> 1M);
#      if resuming with a new shape of run fails, trained directly at 64 / 1e5 instead (logged);
#   3. evaluated at 1x, 2x, 4x, 8x of 64 tokens, plain RoPE and YaRN (factor = length / 64,
#      original_max_position_embeddings 64), with per-position loss buckets.
# Writes OUT/results.csv, OUT/results.md and OUT/loss_vs_position.png (OUT defaults to
# runs/length-extrapolation). Idempotent: finished training runs are reused.
# About 10-15 minutes on 2 cores. Env: GATEDLM (binary, default build/gatedlm), OUT, PYTHON.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
GATEDLM="${GATEDLM:-$repo/build/gatedlm}"
OUT="${OUT:-$repo/runs/length-extrapolation}"
PYTHON="${PYTHON:-/usr/bin/python3}"
# One thread per process, two processes at once: on a small shared CPU, OpenMP threads that
# spin-wait cost far more than they give at this model size.
export GATEDLM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

SHORT_LEN=32 LONG_LEN=64 SHORT_STEPS=1000 TOTAL_STEPS=1500
SHORT_THETA=10000 LONG_THETA=100000
EVAL_TOKENS=32768 BUCKET=32

log() { echo "[length-extrapolation] $*" >&2; }
mkdir -p "$OUT"

data="$OUT/data"
if [ ! -s "$data/val-00000.bin" ]; then
  log "preparing byte-level data"
  "$GATEDLM" prepare --tokenizer bytes --input "$(bash scripts/get_text.sh)" --out "$data" >&2
fi

# A ~70k-parameter model: the tiny-cpu recipe made smaller so that the study fits its budget.
common=(configs/train/tiny-cpu.yaml
  --set model.hidden_size=64 --set model.num_hidden_layers=2 --set model.num_attention_heads=4
  --set model.num_key_value_heads=4 --set model.head_dim=16 --set model.intermediate_size=192
  --set train.micro_batch_size=16 --set train.log_interval=50 --set train.eval_interval=0
  --set "data.train=$data/train-*.bin" --set "data.val=$data/val-*.bin"
  --set checkpoint.interval=500 --set checkpoint.keep_last=1)

done_at() {  # true when RUN's latest checkpoint is at step $2
  [ -s "$1/checkpoints/latest" ] &&
    [ "$(cat "$1/checkpoints/latest")" = "step_$(printf %08d "$2")" ]
}

train_variant() {  # name, extra --set arguments...
  local name="$1"; shift
  local short="$OUT/$name/short" long="$OUT/$name/long"
  if ! done_at "$short" "$SHORT_STEPS"; then
    log "$name: training at seq_len $SHORT_LEN"
    "$GATEDLM" train "${common[@]}" "$@" --set train.steps=$SHORT_STEPS \
      --set train.seq_len=$SHORT_LEN --set model.rope_theta=$SHORT_THETA \
      --run-dir "$short" > "$OUT/$name.short.log" 2>&1
  fi
  if ! done_at "$long" "$TOTAL_STEPS"; then
    log "$name: continuing at seq_len $LONG_LEN, rope_theta $LONG_THETA"
    local ckpt="$short/checkpoints/$(cat "$short/checkpoints/latest")"
    if "$GATEDLM" train "${common[@]}" "$@" --set train.steps=$TOTAL_STEPS \
      --set train.seq_len=$LONG_LEN --set model.rope_theta=$LONG_THETA \
      --resume "$ckpt" --run-dir "$long" > "$OUT/$name.long.log" 2>&1; then
      echo continued > "$OUT/$name/long.mode"
    else
      log "$name: resuming with a new theta/seq_len failed (see $OUT/$name.long.log);" \
        "training directly at seq_len $LONG_LEN, rope_theta $LONG_THETA"
      rm -rf "$long"
      "$GATEDLM" train "${common[@]}" "$@" --set train.steps=$TOTAL_STEPS \
        --set train.seq_len=$LONG_LEN --set model.rope_theta=$LONG_THETA \
        --run-dir "$long" > "$OUT/$name.long-direct.log" 2>&1
      echo direct > "$OUT/$name/long.mode"
    fi
  fi
}

train_variant baseline &
pid_baseline=$!
train_variant g1 --set model.attention_gate.position=sdpa &
pid_g1=$!
wait "$pid_baseline"
wait "$pid_g1"

evaluate() {  # name, multiple, yarn(0|1)
  local name="$1" mult="$2" yarn="$3"
  local len=$((LONG_LEN * mult)) tag="plain"
  local args=(eval --checkpoint "$OUT/$name/long" --data "$data/val-*.bin" --seq-len "$len"
    --batch-size 1 --batches $((EVAL_TOKENS / len)) --per-position-buckets $((len / BUCKET))
    --json)
  if [ "$yarn" = 1 ]; then
    tag="yarn"
    args+=(--set "model.rope_scaling={type: yarn, factor: $mult, original_max_position_embeddings: $LONG_LEN, beta_fast: 32, beta_slow: 1}")
  fi
  "$GATEDLM" "${args[@]}" > "$OUT/evals/$name-$tag-${mult}x.json"
}

mkdir -p "$OUT/evals"
log "evaluating at 1x..8x of $LONG_LEN tokens, with and without YaRN"
for name in baseline g1; do
  (
    for mult in 1 2 4 8; do
      evaluate "$name" "$mult" 0
      evaluate "$name" "$mult" 1
    done
  ) &
done
wait

"$PYTHON" - "$OUT" "$LONG_LEN" <<'EOF'
import csv, json, os, sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

out, train_len = sys.argv[1], int(sys.argv[2])
rows = []
for name in ("baseline", "g1"):
    mode_file = os.path.join(out, name, "long.mode")
    mode = open(mode_file).read().strip() if os.path.exists(mode_file) else "?"
    for tag in ("plain", "yarn"):
        for mult in (1, 2, 4, 8):
            with open(os.path.join(out, "evals", f"{name}-{tag}-{mult}x.json")) as f:
                r = json.load(f)
            for b in r["position_buckets"]:
                rows.append({"variant": name, "rope": tag, "eval_len": train_len * mult,
                             "multiple": mult, "start": b["start"], "end": b["end"],
                             "bucket_loss": b["loss"], "val_loss": r["val_loss"],
                             "phase2": mode})
with open(os.path.join(out, "results.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)

# Markdown: mean loss per eval length, and the loss of the positions beyond the training length.
lines = ["| variant | rope | " + " | ".join(f"{m}x ({train_len*m})" for m in (1, 2, 4, 8))
         + " | loss at positions >= 64, 8x |", "|---|---|---|---|---|---|---|"]
for name in ("baseline", "g1"):
    for tag in ("plain", "yarn"):
        cells = []
        for mult in (1, 2, 4, 8):
            sel = [r for r in rows if r["variant"] == name and r["rope"] == tag
                   and r["multiple"] == mult]
            cells.append(f"{sel[0]['val_loss']:.4f}")
        far = [r["bucket_loss"] for r in rows if r["variant"] == name and r["rope"] == tag
               and r["multiple"] == 8 and r["start"] >= train_len]
        lines.append(f"| {name} | {tag} | " + " | ".join(cells) + f" | {sum(far)/len(far):.4f} |")
with open(os.path.join(out, "results.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))

fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, tag in zip(axes, ("plain", "yarn")):
    for name, color in (("baseline", "tab:blue"), ("g1", "tab:red")):
        sel = [r for r in rows if r["variant"] == name and r["rope"] == tag and r["multiple"] == 8]
        xs = [(r["start"] + r["end"]) / 2 for r in sel]
        ax.plot(xs, [r["bucket_loss"] for r in sel], color=color, marker=".", label=name)
    ax.axvline(train_len, color="gray", linestyle="--", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_title(f"{tag} RoPE{' (YaRN factor 8)' if tag == 'yarn' else ''}, eval length {8*train_len}")
    ax.set_xlabel("position (bucket centre)")
    ax.legend()
axes[0].set_ylabel("mean loss (nats/byte)")
fig.suptitle(f"Loss vs position, trained at {train_len} tokens")
fig.tight_layout()
fig.savefig(os.path.join(out, "loss_vs_position.png"), dpi=110)
EOF
log "wrote $OUT/results.csv, results.md, loss_vs_position.png"
