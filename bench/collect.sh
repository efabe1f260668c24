#!/usr/bin/env bash
# Collection: floe collect against nfcapd (nfdump) on the same NetFlow
# stream on loopback, one after the other in one run (docs/benchmarks.md).
#
#   bench/collect.sh [BUILDDIR]           (default: build)
#
# bench/nfsend (built with floe) sends N records (COLLECT_N, default 10M)
# of NetFlow v9 (COLLECT_VERSION: 5, 9 or 10) paced at each rate of
# COLLECT_RATES (records/s; 0 = as fast as it can) to floe collect writing
# an archive (--archive, 1h files) and to nfcapd writing its files.  Each
# collector gets 2 s after the last datagram, then SIGTERM; the records it
# stored are counted (floe --stats, nfdump -I) against the records sent.  A rate
# holds when nothing is lost.  Both get the same socket buffer
# (COLLECT_RCVBUF, default 4 MiB = this machine's net.core.rmem_max).
# A larger buffer needs net.core.rmem_max raised first: it caps nfcapd's -B.
# COLLECT_FLOE_ARGS adds options to floe collect (e.g. --encoders 2);
# NFCAPD_ARGS to nfcapd (e.g. -y: LZ4-compressed files, as floe's are
# compressed).
# disk_MB is what the collector stored.  Results go to stdout and $COLLECT_OUT/collect.txt (default bench/out).
# The machine is shared and noisy: read the ratios within one run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-build}
floe=$root/$build/src/cli/floe
nfsend=$root/$build/bench/nfsend
out=${COLLECT_OUT:-$here/out}
n=${COLLECT_N:-10000000}
ver=${COLLECT_VERSION:-9}
rates=${COLLECT_RATES:-"500000 1000000 1500000 2000000 3000000 0"}
rcvbuf=${COLLECT_RCVBUF:-4194304}
port=${COLLECT_PORT:-39811}
# extra options for floe collect, e.g. COLLECT_FLOE_ARGS="--encoders 2"
extra=${COLLECT_FLOE_ARGS:-}
nfextra=${NFCAPD_ARGS:-}
mkdir -p "$out"
[ -x "$floe" ] && [ -x "$nfsend" ] || { echo "build floe first: meson setup $build && ninja -C $build" >&2; exit 1; }
for t in nfcapd nfdump; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install nfdump)" >&2; exit 1; }
done
res=$out/collect.txt
: > "$res"
say() { echo "$*" | tee -a "$res"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# CPU seconds (user + system) of a running process, from /proc.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# nfcapd sets its buffer with SO_RCVBUF, which the kernel caps at
# net.core.rmem_max; floe, as root, uses SO_RCVBUFFORCE.  Past the cap the
# two would not get the same buffer: raise the cap for the run instead.
rmem_max=$(cat /proc/sys/net/core/rmem_max)
if [ "$rcvbuf" -gt "$rmem_max" ]; then
  echo "COLLECT_RCVBUF $rcvbuf is above net.core.rmem_max $rmem_max, which caps nfcapd's -B:" \
    "sysctl -w net.core.rmem_max=$rcvbuf first" >&2
  exit 1
fi
say "# collect.sh $(date -u +%FT%TZ) $(nproc) cores, NetFlow v$ver, $n records per run, rcvbuf $rcvbuf${extra:+, floe $extra}${nfextra:+, nfcapd $nfextra}"
say "# collector  rate_asked  rate_sent  received  lost  loss%  cpu_s  disk_MB"
for rate in $rates; do
  for who in floe nfcapd; do
    rm -rf "$tmp/d"; mkdir -p "$tmp/d"
    if [ $who = floe ]; then
      # shellcheck disable=SC2086
      "$floe" collect --listen "udp://127.0.0.1:$port" --archive "$tmp/d" --instance bench \
        --rcvbuf "$rcvbuf" --stats $extra 2> "$tmp/err" &
    else
      # shellcheck disable=SC2086
      nfcapd -w "$tmp/d" -p "$port" -b 127.0.0.1 -B "$rcvbuf" -t 3600 $nfextra > "$tmp/err" 2>&1 &
    fi
    pid=$!
    sleep 1
    sent=$("$nfsend" -p "$port" -v "$ver" -n "$n" -r "$rate" 2>&1)
    rsent=$(echo "$sent" | sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p')
    # both get 2 s to finish what is queued, then SIGTERM (both write out
    # and close their files on it)
    sleep 2
    cpu=$(cpu_of $pid)
    kill -TERM $pid
    wait $pid || true
    if [ $who = floe ]; then
      got=$(sed -n 's/^records \([0-9]*\),.*/\1/p' "$tmp/err")
    else
      got=$(nfdump -R "$tmp/d" -I | sed -n 's/^Flows: //p')
    fi
    lost=$((n - ${got:-0}))
    mb=$(du -sb "$tmp/d" | awk '{printf "%.1f", $1 / 1e6}')
    say "$(printf '%-10s %11s %10s %9s %9s %6s %6s %8s' $who "$rate" "$rsent" "${got:-0}" "$lost" \
      "$(awk -v l=$lost -v n=$n 'BEGIN{printf "%.2f", 100*l/n}')" "$cpu" "$mb")"
  done
done
