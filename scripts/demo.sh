#!/usr/bin/env bash
# The README's main command: set up, build, and run the built-in demo (a simulated scene).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/lstfuse demo "$@"
