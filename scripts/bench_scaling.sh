#!/usr/bin/env bash
# Times one fuse run shared in different ways on one simulated catalog: 1 process with 1 thread,
# mpirun -n 1 and -n 2 (1 thread per rank), 2 shards of 1 thread run at once, and 1 process with
# 2 threads. Prints wall seconds and the speed-up over 1 process; checks that every run wrote
# the same rasters. Usage: scripts/bench_scaling.sh [SIZE] [DAYS] [METHOD]
set -euo pipefail
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 1; }
size=${1:-300}; days=${2:-60}; method=${3:-estarfm}
L=$(cd "$(dirname "$0")/.." && pwd)/build/lstfuse
work=$(mktemp -d /tmp/lstfuse-scaling.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$L" simulate -o "$work/sim" --size "$size" --days "$days" --seed 5 --cloud-cover 0 --modis-cloud-cover 0.3 >/dev/null
"$L" ingest "$work/sim" -o "$work/cat" >/dev/null
args=(fuse --catalog "$work/cat" --method "$method" --no-uncertainty -q)
run() {  # name, command...
  local name=$1; shift
  # Wall and CPU seconds (user + system, the processes it waited for included).
  /usr/bin/time -f "%e %U %S" -o "$work/$name.time" "$@" >"$work/$name.log" 2>&1 ||
    { echo "$name failed:" >&2; tail -3 "$work/$name.log" >&2; exit 1; }
  read -r wall user sys <"$work/$name.time"
  echo "$name $wall $(awk -v u="$user" -v s="$sys" 'BEGIN{print u + s}')"
}
{
  run plain-1t "$L" "${args[@]}" --rank-threads 1 -o "$work/plain1"
  run mpi-n1 mpirun -n 1 "$L" "${args[@]}" -o "$work/mpi1"
  run mpi-n2 mpirun -n 2 --oversubscribe "$L" "${args[@]}" -o "$work/mpi2"
  run shards-2 bash -c "\"$L\" ${args[*]} --rank-threads 1 -o \"$work/shard\" --shard 1/2 & \"$L\" ${args[*]} --rank-threads 1 -o \"$work/shard\" --shard 2/2 & wait; \"$L\" ${args[*]} -o \"$work/shard\" --assemble"
  run plain-2t "$L" "${args[@]}" --rank-threads 2 -o "$work/plain2"
} | tee "$work/times"
base=$(awk '$1=="plain-1t"{print $2}' "$work/times")
n=$(grep -c '"status": "done"' "$work/plain1/index.json" || true)
echo "catalog ${size} x ${size} px, ${days} days, ${method}: ${n} dates fused; load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v b="$base" '{printf "%-9s wall %7.2f s  speed-up %.2f  CPU %7.2f s\n", $1, $2, b / $2, $3}' "$work/times"
for d in mpi1 mpi2 shard plain2; do
  for f in "$work"/plain1/*.tif; do cmp -s "$f" "$work/$d/$(basename "$f")" || { echo "DIFFERS: $d/$(basename "$f")"; exit 1; }; done
done
echo "every run wrote the same rasters"
