#!/usr/bin/env bash
# Aggregation: floe cluster/sort against racluster|rasort and nfdump -s/-A,
# side by side in one run on the same flows (docs/benchmarks.md).
#
#   bench/aggregate.sh [BUILDDIR]        (default: build)
#
# Inputs, made by bench/run.sh (BENCH_IN, default bench/out):
#   big.floe big.argus big.nf/    the flows of the 8.1M-packet capture
#   scan.floe scan.argus scan.nf/ the 2M-SYN scan flood (2M distinct daddr)
# Results (time and peak RSS of each tool, ratios) go to stdout and to
# $AGG_OUT/aggregate.txt (default bench/out).  The machine is shared and
# noisy: read the ratios, not the absolute times.  NO_ARGUS=1 leaves out
# racluster (minutes) while iterating; a recorded run includes it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-build}
floe=$root/$build/src/cli/floe
in=${BENCH_IN:-$here/out}
out=${AGG_OUT:-$here/out}
mkdir -p "$out"
[ -x "$floe" ] || { echo "build floe first: meson setup $build && ninja -C $build" >&2; exit 1; }
no_argus=${NO_ARGUS:-0}
repeat=${REPEAT:-3}
for t in racluster rasort nfdump /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install argus-client nfdump time)" >&2; exit 1; }
done
for f in big.floe big.argus big.nf scan.floe scan.argus scan.nf; do
  [ -e "$in/$f" ] || { echo "missing $in/$f: run bench/run.sh first" >&2; exit 1; }
done

res=$out/aggregate.txt
: > "$res"
say() { echo "$@" | tee -a "$res"; }

# measure NAME CMD...: runs CMD (a shell pipeline) under /usr/bin/time,
# REPEAT times (default 3; the machine is shared and a half-second run is
# easily disturbed), and keeps the run of median elapsed time; sets SECS
# (elapsed), CPU (user + system), RSS_MB (the largest process of the
# pipeline) and LINES
measure() {
  local name=$1; shift
  local k runs=()
  for k in $(seq 1 "${MEASURE_REPEAT:-$repeat}"); do
    /usr/bin/time -f '%e %M %U %S' -o "$out/agg-time.$name.$k" bash -c "$*" > "$out/agg-stdout.$name" 2> "$out/agg-stderr.$name" || {
      echo "$name failed: $(tail -3 "$out/agg-stderr.$name")" >&2; return 1; }
    runs+=("$(cat "$out/agg-time.$name.$k")")
  done
  local u s
  read -r SECS RSS_KB u s < <(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(( (${#runs[@]} + 1) / 2 ))p")
  CPU=$(python3 -c "print(f'{$u + $s:.2f}')")
  RSS_MB=$((RSS_KB / 1024))
  LINES=$(wc -l < "$out/agg-stdout.$name")
}

# argus NAME CMD...: measure once (minutes a run), unless NO_ARGUS=1
# (then SECS is n/a)
argus() {
  if [ "$no_argus" = 1 ]; then SECS=0 CPU=- RSS_MB=- LINES=-; else MEASURE_REPEAT=1 measure "$@"; fi
}

ratio() { python3 -c "a,b=float('$1'),float('$2'); print(f'{b/a:.1f}x' if a>0 and b>0 else 'n/a')"; }
row() { say "$(printf '%-36s %8s %8s %8s %10s' "$1" "$2" "$3" "$4" "$5")"; }
head_row() { row tool seconds cpu-s peakMB lines; }

say "== top 10 sources by bytes, big ($in/big.*)"
head_row
measure f-top "'$floe' cluster -r '$in/big.floe' -m saddr --top 10 -s saddr trans pkts bytes"
row "floe cluster --top 10 (256M)" "$SECS" "$CPU" "$RSS_MB" "$LINES"; f1=$SECS
measure f-top1g "'$floe' cluster -r '$in/big.floe' -m saddr --top 10 -s saddr trans pkts bytes --memory 1G"
row "floe cluster --top 10 (1G)" "$SECS" "$CPU" "$RSS_MB" "$LINES"; f1g=$SECS
argus r-top "racluster -r '$in/big.argus' -m saddr -w - | rasort -r - -m bytes -s saddr trans pkts bytes | head -11"
row "racluster -m saddr | rasort -m bytes" "$SECS" "$CPU" "$RSS_MB" "$LINES"; r1=$SECS
measure n-top "nfdump -R '$in/big.nf' -s srcip/bytes -n 10 -q"
row "nfdump -s srcip/bytes -n 10" "$SECS" "$CPU" "$RSS_MB" "$LINES"; n1=$SECS
say "floe (256M) vs racluster|rasort: $(ratio "$f1" "$r1")  vs nfdump: $(ratio "$f1" "$n1")   (>1: floe faster)"
say "floe (1G)   vs racluster|rasort: $(ratio "$f1g" "$r1")  vs nfdump: $(ratio "$f1g" "$n1")"

say ""
say "== every source (-m saddr), big"
head_row
measure f-all "'$floe' cluster -r '$in/big.floe' -m saddr -s saddr trans pkts bytes -n --no-header"
row "floe cluster -m saddr (256M)" "$SECS" "$CPU" "$RSS_MB" "$LINES"; f2=$SECS
measure f-all1g "'$floe' cluster -r '$in/big.floe' -m saddr -s saddr trans pkts bytes -n --no-header --memory 1G"
row "floe cluster -m saddr (1G)" "$SECS" "$CPU" "$RSS_MB" "$LINES"; f2g=$SECS
argus r-all "racluster -r '$in/big.argus' -m saddr -n -s saddr trans pkts bytes"
row "racluster -m saddr" "$SECS" "$CPU" "$RSS_MB" "$LINES"; r2=$SECS
measure n-all "nfdump -R '$in/big.nf' -A srcip -q -o 'fmt:%sa %fl %pkt %byt'"
row "nfdump -A srcip" "$SECS" "$CPU" "$RSS_MB" "$LINES"; n2=$SECS
say "floe (256M) vs racluster: $(ratio "$f2" "$r2")  vs nfdump: $(ratio "$f2" "$n2")"
say "floe (1G)   vs racluster: $(ratio "$f2g" "$r2")  vs nfdump: $(ratio "$f2g" "$n2")"

say ""
say "== -m saddr daddr on the scan flood (2M groups)"
head_row
measure f-scan "'$floe' cluster -r '$in/scan.floe' -m saddr daddr -s saddr daddr trans pkts bytes -n --no-header --memory 256M --stats"
row "floe cluster (--memory 256M)" "$SECS" "$CPU" "$RSS_MB" "$LINES"; f3=$SECS; f3m=$RSS_MB
argus r-scan "racluster -r '$in/scan.argus' -m saddr daddr -n -s saddr daddr trans pkts bytes"
row "racluster -m saddr daddr" "$SECS" "$CPU" "$RSS_MB" "$LINES"; r3=$SECS
measure n-scan "nfdump -R '$in/scan.nf' -A srcip,dstip -q -o 'fmt:%sa %da %fl %pkt %byt'"
row "nfdump -A srcip,dstip" "$SECS" "$CPU" "$RSS_MB" "$LINES"; n3=$SECS
say "floe vs racluster: $(ratio "$f3" "$r3")  vs nfdump: $(ratio "$f3" "$n3");  floe peak RSS ${f3m} MB (budget 256 MB)"
say "floe: $(cat "$out/agg-stderr.f-scan")"
say ""
say "(floe $("$floe" version | cut -d' ' -f2), $(racluster -h 2>&1 | head -1), $(nfdump -V))"
