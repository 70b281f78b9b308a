#!/usr/bin/env bash
# Fuzzes each libFuzzer target for a given time, one after the other, one process each.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, every target in fuzz/)
# Targets: date catalog_manifest simulation_manifest model_file products method_options.
# Builds them in build-asan/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer, as
# scripts/sanitize.sh does). New inputs go to out/fuzz/NAME/ (the seeds in fuzz/corpus/NAME/
# are read, never written); a crash is written to out/fuzz/crash-NAME-* and stops that target.
# A crash becomes a seed (copy it into fuzz/corpus/NAME/) together with its fix and a test.
# The last libFuzzer status line of each target (execs, cov, ft) is printed and kept in
# out/fuzz/NAME.log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in fuzz/fuzz_*.cpp; do
    n=${f##*/fuzz_}
    n=${n%.cpp}
    [ "$n" = support ] || targets+=("$n")
  done
fi
cxx=${LSTFUSE_SANITIZE_CXX:-clang++-14}
if [ ! -f build-asan/CMakeCache.txt ]; then
  cmake -S . -B build-asan -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" \
    -DLSTFUSE_BUILD_BENCHMARKS=OFF -DLSTFUSE_SANITIZE=address,undefined -DLSTFUSE_BUILD_FUZZERS=ON \
    ${LSTFUSE_CMAKE_ARGS:-} >/dev/null
fi
cmake --build build-asan -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")
# A huge allocation inside a library (HDF4 reads sizes from the file) returns NULL as malloc
# would, which the library handles; one in lstfuse then shows as std::bad_alloc, still a finding.
# intercept_tls_get_addr=0: see scripts/sanitize.sh (LeakSanitizer's tracer crash at exit).
export ASAN_OPTIONS="detect_leaks=1:intercept_tls_get_addr=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/sanitizers/ubsan.supp"
mkdir -p out/fuzz
status=0
for t in "${targets[@]}"; do
  mkdir -p "out/fuzz/$t"
  echo "fuzz: $t for $seconds s"
  if ! build-asan/fuzz/"fuzz_$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="out/fuzz/crash-$t-" "out/fuzz/$t" "fuzz/corpus/$t" \
      >"out/fuzz/$t.log" 2>&1; then
    echo "fuzz: $t FOUND A PROBLEM (out/fuzz/$t.log):"
    grep -E "ERROR|invariant|exception|SUMMARY|Test unit written" "out/fuzz/$t.log" | head -n 8
    status=1
  fi
  grep -E "^#[0-9]+" "out/fuzz/$t.log" | tail -n 1
  grep -E "stat::number_of_executed_units" "out/fuzz/$t.log" || true
done
exit $status
