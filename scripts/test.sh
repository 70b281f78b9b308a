#!/usr/bin/env bash
# The README's test command: set up, build, and run every test through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
