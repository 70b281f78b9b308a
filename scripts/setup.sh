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
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_type=${LSTFUSE_BUILD_TYPE:-Release}
cmake -S . -B build -DCMAKE_BUILD_TYPE="$build_type" ${LSTFUSE_CMAKE_ARGS:-} >/dev/null
cmake --build build -j "$(nproc)"
