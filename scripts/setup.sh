#!/usr/bin/env bash
# Installs the Debian packages lstfuse builds against (skipping those already present), then
# configures and builds it in ./build. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config git
          libgdal-dev gdal-bin libtorch-dev
          libcli11-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
          libgtest-dev libgmock-dev libbenchmark-dev libcairo2-dev
          libopenblas0-pthread python3-xarray python3-netcdf4 python3-gdal
          pybind11-dev python3-dev python3-pytest
          libopenmpi-dev openmpi-bin)
# The checking builds (scripts/sanitize.sh, scripts/fuzz.sh) need clang, its sanitizer and
# libFuzzer runtimes and LLVM's OpenMP (whose TSan support, Archer, GCC's libgomp lacks). They
# are optional: the normal build does not use them, and a machine without them still builds.
# python3-torch (the same libtorch_cpu as libtorch-dev) is needed only by
# bench/torch_side_by_side.py, which times STTFN in PyTorch beside LibTorch.
optional=(clang libclang-rt-14-dev libfuzzer-14-dev libomp-14-dev python3-torch)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
missing_optional=()
for p in "${optional[@]}"; do
  installed "$p" || missing_optional+=("$p")
done
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
if ((${#missing[@]} + ${#missing_optional[@]})); then
  "${sudo_cmd[@]}" apt-get update -qq
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ((${#missing_optional[@]})); then
  echo "setup: installing ${missing_optional[*]} (for scripts/sanitize.sh, scripts/fuzz.sh, bench/torch_side_by_side.py)"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" ||
    echo "setup: ${missing_optional[*]} not installed; the normal build does not need them"
fi

build_type=${LSTFUSE_BUILD_TYPE:-Release}
cmake -S . -B build -DCMAKE_BUILD_TYPE="$build_type" ${LSTFUSE_CMAKE_ARGS:-} >/dev/null
cmake --build build -j "$(nproc)"
