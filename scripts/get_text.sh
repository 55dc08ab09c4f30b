#!/usr/bin/env bash
# Prints (on stdout, nothing else) the path of a real English text corpus for the demo.
#   1. tinyshakespeare.txt (1.1 MB) from the shared corpora, when this checkout has them
#      ($REPO/../shared/data/corpora or /work/shared/data/corpora);
#   2. otherwise data/corpus/fortunes.txt (~2.5 MB of English quotations, prose and verse),
#      built from Debian's `fortunes` and `fortunes-min` packages. They are downloaded with
#      apt-get and unpacked with dpkg-deb into a temp dir: nothing is installed.
# Idempotent: a second run prints the same path without fetching anything.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

for dir in "$repo/../shared/data/corpora" /work/shared/data/corpora; do
  if [ -s "$dir/tinyshakespeare.txt" ]; then
    realpath "$dir/tinyshakespeare.txt"
    exit 0
  fi
done

out_dir="$repo/data/corpus"
out="$out_dir/fortunes.txt"
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi

log() { echo "get_text: $*" >&2; }
sudo_if_needed() { if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

packages=(fortunes fortunes-min)
log "downloading ${packages[*]} from Debian's archive"
# apt-get download writes into the current directory; it needs fresh package lists.
if ! (cd "$work" && apt-get download -q "${packages[@]}" >&2 2>"$work/apt.err"); then
  log "package lists missing or stale; running apt-get update"
  sudo_if_needed apt-get update -qq >&2
  (cd "$work" && apt-get download -q "${packages[@]}" >&2)
fi
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

source_dir="$work/root/usr/share/games/fortunes"
mkdir -p "$out_dir"
# Plain cookie files only: not the .dat indexes, not the .u8 links, not the ascii-art
# pictures. Quotations are separated by lines holding "%"; those become blank lines.
# Backspace overstriking (old terminal bold and underline: "X^HX", "__^H^Hab") is undone by
# deleting each character that a backspace erases (perl-base is in every Debian install).
find "$source_dir" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' ! -name 'ascii-art' \
    -print0 | sort -z | xargs -0 cat \
  | perl -pe '1 while s/[^\x08]\x08//; s/\x08//g; s/^%$//' > "$out.tmp"
mv "$out.tmp" "$out"
log "wrote $(wc -c < "$out") bytes"
echo "$out"
