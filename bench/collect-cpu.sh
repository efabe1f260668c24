#!/usr/bin/env bash
# The collector's CPU per record without a sender on the other core
# (docs/benchmarks.md): bench/nfsend -w writes N NetFlow v9 records
# (COLLECT_N, default 4M) into a pcap, and `floe collect -r` archives them,
# RUNS times (default 3), alternating with a second build when BASE_FLOE
# names one (e.g. a release build of an older commit).
#
#   bench/collect-cpu.sh [BUILDDIR]       (default: build-bench)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-build-bench}
floe=$root/$build/src/cli/floe
nfsend=$root/$build/bench/nfsend
n=${COLLECT_N:-4000000}
runs=${RUNS:-3}
[ -x "$floe" ] && [ -x "$nfsend" ] || { echo "build first: meson setup $build --buildtype=release && ninja -C $build" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$nfsend" -w "$tmp/v9.pcap" -v 9 -n "$n"
echo "# collect-cpu.sh $(date -u +%FT%TZ) $(nproc) cores, $n records, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %8s %8s %8s %14s\n' build wall_s user_s sys_s cpu_us/record
for i in $(seq "$runs"); do
  for who in ${BASE_FLOE:+base} this; do
    bin=$floe
    [ "$who" = base ] && bin=$BASE_FLOE
    rm -rf "$tmp/a"
    /usr/bin/time -f '%e %U %S' -o "$tmp/t" "$bin" collect -r "$tmp/v9.pcap" --archive "$tmp/a" \
      --instance bench >/dev/null 2>&1
    read -r wall user sys < "$tmp/t"
    printf '%-8s %8s %8s %8s %14s\n' "$who" "$wall" "$user" "$sys" \
      "$(awk -v u="$user" -v s="$sys" -v n="$n" 'BEGIN{printf "%.3f", (u + s) * 1e6 / n}')"
  done
done
