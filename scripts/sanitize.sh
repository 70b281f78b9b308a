#!/usr/bin/env bash
# Checking builds, run by CI after scripts/test.sh:
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/): every test, then every
#         fuzz target over its seed corpus (the fuzzers share this build);
#   tsan  ThreadSanitizer (build-tsan/): the tests of the parallel drivers (tiling in methods,
#         fuse in pipeline, metrics in eval), OpenMP through LLVM's libomp with Archer.
# Usage: scripts/sanitize.sh [asan|tsan]...   (default: both). Builds are lean: clang -O1 -g1,
# no benchmarks; each build's time and each run's time are printed.
# Findings inside LibTorch, GDAL and the OpenMP runtime (not instrumented) are suppressed in
# tests/sanitizers/*.supp, each with its reason; anything in lstfuse's code fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cxx=${LSTFUSE_SANITIZE_CXX:-clang++-14}
jobs=$(nproc)
supp=$root/tests/sanitizers
command -v "$cxx" >/dev/null || { echo "sanitize: $cxx not found (scripts/setup.sh installs clang)"; exit 1; }
# The Python module and the MPI launcher stay out: an instrumented extension needs the sanitizer
# runtime preloaded into python3, and Open MPI's own allocations would drown the leak report.
# Warnings are not errors here (they stay errors in CI's gcc build, which owns them): clang
# warns where gcc does not (-Wpsabi on the 8-float vector lanes, unused private fields), and
# these builds are for the sanitizers' runtime findings.
common=(-DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1"
        -DLSTFUSE_BUILD_BENCHMARKS=OFF -DLSTFUSE_BUILD_PYTHON=OFF -DLSTFUSE_WITH_MPI=OFF ${LSTFUSE_CMAKE_ARGS:-}
        -DLSTFUSE_WERROR=OFF)

stamp() { date +%s; }
took() { echo "sanitize: $1 took $(( $(stamp) - $2 )) s"; }

run_asan() {
  local t0; t0=$(stamp)
  cmake -S . -B build-asan "${common[@]}" -DLSTFUSE_SANITIZE=address,undefined -DLSTFUSE_BUILD_FUZZERS=ON >/dev/null
  cmake --build build-asan -j "$jobs"
  took "the asan build" "$t0"
  # intercept_tls_get_addr=0: LLVM <= 16's __tls_get_addr interceptor takes a dynamic TLS block
  # that happens to start 16 bytes past a page boundary for a pre-2.25 glibc header and records a
  # bogus range; LeakSanitizer's tracer then reads it at exit and dies ("Tracer caught signal 11",
  # seen on every `train --threads 2`: LibTorch's and OpenMP's threads have dynamic TLS). Off, the
  # dynamic TLS blocks are not scanned as roots, which could only add leak reports, not hide them.
  export ASAN_OPTIONS="detect_leaks=1:intercept_tls_get_addr=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:abort_on_error=0"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
  t0=$(stamp)
  (cd build-asan && ctest --output-on-failure -j "$jobs" --timeout 1500)
  took "the asan+ubsan test run" "$t0"
  t0=$(stamp)
  # A failing input is written under a temporary folder, not into the repository.
  local scratch; scratch=$(mktemp -d)
  for target in build-asan/fuzz/fuzz_*; do
    [ -x "$target" ] || continue
    local name=${target##*/fuzz_}
    # Every seed once (-runs=0); a crash or a sanitizer report fails the run, with its whole
    # report. A huge allocation inside a library returns NULL, as scripts/fuzz.sh explains.
    if ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1" "$target" -runs=0 -artifact_prefix="$scratch/" \
        "fuzz/corpus/$name" > "$scratch/log" 2>&1; then
      tail -n 2 "$scratch/log"
    else
      cat "$scratch/log"
      echo "sanitize: fuzz_$name failed on its seed corpus (the report above)"
      rm -rf "$scratch"
      exit 1
    fi
  done
  rm -rf "$scratch"
  took "the fuzz corpora" "$t0"
}

run_tsan() {
  local t0; t0=$(stamp)
  cmake -S . -B build-tsan "${common[@]}" -DLSTFUSE_SANITIZE=thread >/dev/null
  cmake --build build-tsan -j "$jobs" --target lstfuse test_methods test_pipeline test_eval
  took "the tsan build" "$t0"
  # GCC's libgomp synchronises its threads with futexes TSan cannot see, so every OpenMP region
  # would be reported as a race. clang's libomp announces its barriers, tasks and reductions
  # to TSan through Archer (an OMPT tool shipped with it), which removes those false reports
  # and keeps real races visible.
  local archer
  archer=$(ls /usr/lib/llvm-14/lib/libarcher.so 2>/dev/null || true)
  [ -n "$archer" ] || { echo "sanitize: libarcher.so not found (libomp-14-dev)"; exit 1; }
  export OMP_TOOL_LIBRARIES=$archer
  # ignore_noninstrumented_modules: interceptors (malloc, mutexes, memcpy) called from the
  # libraries that are not instrumented (libomp, GDAL, LibTorch) are not checked, as Archer asks
  # (it prints a warning on stdout otherwise, into the CLI's JSON). lstfuse's own accesses are
  # instrumented and checked.
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$supp/tsan.supp"
  # Two threads at least, so that every parallel region really runs in parallel.
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
  t0=$(stamp)
  # The kill-and-resume tests (FuseShared.AKilled*) check files, not threads (a run killed at a
  # set step, then resumed); they run in the plain and ASan builds and are left out here for time.
  (cd build-tsan && ctest --output-on-failure -j "$jobs" --timeout 1500 -L '^(methods|pipeline|eval)$' -E '^FuseShared\.AKilled')
  took "the tsan test run" "$t0"
}

steps=("$@")
((${#steps[@]})) || steps=(asan tsan)
for s in "${steps[@]}"; do
  case $s in
    asan) run_asan ;;
    tsan) run_tsan ;;
    *) echo "sanitize: unknown step '$s' (asan or tsan)"; exit 2 ;;
  esac
done
