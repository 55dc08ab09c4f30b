#!/usr/bin/env bash
# First run: installs dependencies, builds, tokenizes real English text to bytes and trains a
# small Qwen3-style model with G1 (SDPA-output, elementwise, sigmoid) gated attention on the
# CPU, then prints the paper's metrics for the result. Extra arguments go to `gatedlm train`,
# e.g. scripts/demo.sh --set train.steps=1000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
text="$(bash scripts/get_text.sh)"
echo "demo: training on $text"
build/gatedlm prepare --tokenizer bytes --input "$text" --out data/demo
build/gatedlm train configs/train/tiny-cpu.yaml --run-dir runs/demo \
  --set data.train='data/demo/train-*.bin' --set data.val='data/demo/val-*.bin' \
  --set model.attention_gate.position=sdpa --set train.analyze_interval=100 "$@"
build/gatedlm analyze --checkpoint runs/demo --data 'data/demo/val-*.bin' --batches 8
