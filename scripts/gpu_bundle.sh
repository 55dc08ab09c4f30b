#!/usr/bin/env bash
# Builds gatedlm with the CUDA backend for Hopper (sm_90) on a build machine and packs what a GPU
# machine without this project's libraries needs into build-gpu/bundle.tar.xz: the binary, the
# test binary and the shared libraries they load (yaml-cpp, spdlog, fmt, HDF5, OpenBLAS, ...),
# minus glibc and CUDA's own (cudart is static; cuBLAS comes from the GPU machine's toolkit).
# scripts/gpu_check.sh unpacks and runs it. See docs/cuda.md.
#   scripts/gpu_bundle.sh        then carry build-gpu/bundle.tar.xz to the GPU machine
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-gpu
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache
            -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$build"
# x86-64-v3 rather than native: the GPU host's CPU is not this one.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGATEDLM_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DGATEDLM_MARCH=x86-64-v3 "${launcher[@]}" | tee "$build/configure.log"
grep -q "CUDA backend enabled" "$build/configure.log" || { echo "nvcc not found: no CUDA build" >&2; exit 1; }
cmake --build "$build" --target gatedlm gatedlm_tests --parallel "$(nproc)"

stage="$build/bundle"
rm -rf "$stage"
mkdir -p "$stage/lib"
cp "$build/gatedlm" "$build/tests/gatedlm_tests" "$stage/"
for bin in gatedlm gatedlm_tests; do
  ldd "$stage/$bin" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux* | libresolv.so*) ;;
    libcuda.so* | libcudart.so* | libcublas*.so*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
tar -C "$build" -cf - bundle | xz -T0 -6 > "$build/bundle.tar.xz"
ls -l "$build/bundle.tar.xz"
echo "carry build-gpu/bundle.tar.xz and run: bash scripts/gpu_check.sh"
