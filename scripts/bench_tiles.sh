#!/usr/bin/env bash
# Cost of spatial tiles as items (fuse --work-tile): one simulated catalog fused whole and in
# tiles of each given size, one process of one thread each. Prints CPU seconds (user + system) per
# date and per (tile, date), the tiled run's CPU over the whole run's, and checks that every run
# wrote the whole run's rasters. Usage: scripts/bench_tiles.sh [SIZE] [DAYS] [METHOD] [TILE...]
set -euo pipefail
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 1; }
size=${1:-1200}; days=${2:-24}; method=${3:-starfm}; shift $(( $# < 3 ? $# : 3 ))
tiles=("$@"); [ ${#tiles[@]} -gt 0 ] || tiles=(600 400)
L=$(cd "$(dirname "$0")/.." && pwd)/build/lstfuse
work=$(mktemp -d /tmp/lstfuse-tiles.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$L" simulate -o "$work/sim" --size "$size" --days "$days" --seed 5 --cloud-cover 0 --modis-cloud-cover 0.3 >/dev/null
"$L" ingest "$work/sim" -o "$work/cat" >/dev/null
args=(fuse --catalog "$work/cat" --method "$method" --no-uncertainty --rank-threads 1 -q)
cpu() {  # name, command...: prints CPU seconds
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$work/$name.time" "$@" >"$work/$name.log" 2>&1 ||
    { echo "$name failed:" >&2; tail -3 "$work/$name.log" >&2; exit 1; }
  read -r wall user sys <"$work/$name.time"
  awk -v u="$user" -v s="$sys" 'BEGIN{print u + s}'
}
whole=$(cpu whole "$L" "${args[@]}" -o "$work/whole")
n=$(grep -c '"status": "done"' "$work/whole/index.json" || true)
echo "catalog ${size} x ${size} px, ${days} days, ${method}: ${n} dates fused; load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v c="$whole" -v n="$n" 'BEGIN{printf "whole scene      CPU %7.1f s  %6.2f s a date\n", c, c / n}'
for t in "${tiles[@]}"; do
  c=$(cpu "t$t" "$L" "${args[@]}" --work-tile "$t" -o "$work/t$t")
  k=$(( (size + t - 1) / t )); k=$(( k * k ))
  awk -v c="$c" -v n="$n" -v k="$k" -v t="$t" -v w="$whole" \
    'BEGIN{printf "tiles of %4d (%2d) CPU %7.1f s  %6.2f s a (tile, date)  %.2f x the whole run\n", t, k, c, c / (n * k), c / w}'
  for f in "$work"/whole/*.tif; do cmp -s "$f" "$work/t$t/$(basename "$f")" || { echo "DIFFERS: t$t/$(basename "$f")"; exit 1; }; done
done
echo "every run wrote the same rasters"
