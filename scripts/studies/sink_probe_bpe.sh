#!/usr/bin/env bash
# Attention-sink probe on subword text (configs/sweeps/sink-probe-bpe.yaml): the ungated 8-layer
# ablation model on Project Gutenberg English in a 4096-token SentencePiece BPE vocabulary, with
# and without a BOS token, F-Attn logged every 250 steps; then `gatedlm report`.
# Needs ../shared/data/corpora/gutenberg_en.txt.xz (84 public-domain books, 57 MB of text).
# Idempotent: the tokenizer, the shards and finished runs are kept. About 15 minutes per run on
# one core; PARALLEL runs at a time (default 2), THREADS cores in all (default 2).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
GATEDLM="${GATEDLM:-$repo/build/gatedlm}"
PARALLEL="${PARALLEL:-2}" THREADS="${THREADS:-2}"
corpus="${CORPUS:-$repo/../shared/data/corpora/gutenberg_en.txt.xz}"
tokenizer=data/tokenizers/gutenberg-bpe4k.model
shards=data/gutenberg-bpe4k

if [ ! -s "$shards/val-00000.bin" ]; then
  [ -f "$corpus" ] || { echo "sink_probe_bpe.sh: $corpus not found (set CORPUS)" >&2; exit 2; }
  text="$(mktemp -d)"
  trap 'rm -rf "$text"' EXIT
  xz -dc "$corpus" > "$text/gutenberg.txt"
  if [ ! -s "$tokenizer" ]; then
    mkdir -p "$(dirname "$tokenizer")"
    head -c 12000000 "$text/gutenberg.txt" > "$text/head.txt"  # the first 12 MB train the BPE
    "$GATEDLM" tokenizer train --type bpe --vocab-size 4096 --input "$text/head.txt" \
      --out "$tokenizer"
  fi
  "$GATEDLM" prepare --tokenizer "$tokenizer" --input "$text/gutenberg.txt" --out "$shards" \
    --val-fraction 0.02
fi

"$GATEDLM" sweep configs/sweeps/sink-probe-bpe.yaml --max-parallel "$PARALLEL" --threads "$THREADS"
"$GATEDLM" report runs/sink-probe-bpe
