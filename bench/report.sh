#!/usr/bin/env bash
# The daily report: `floe report daily` over an archive holding the flows
# of the big capture and of the scan flood, its time and peak RSS with the
# default memory budget (and a small one), beside Argus answering the first
# part of the same question (docs/benchmarks.md "Reports").
#
#   bench/report.sh [BUILDDIR]        (default: build)
#
# Inputs (BENCH_IN, default bench/out; made by bench/run.sh):
#   big.floe big.argus       the flows of the 8.1M-packet capture
#   scan.floe scan.argus     the 2M-SYN scan flood (2M distinct addresses)
#   big.nf/ scan.nf/         the same captures through nfpcapd (nfdump)
# The archive (REPORT_OUT/report-archive, default bench/out) is written
# once from the two .floe files with `floe read --archive` (hourly files).
#
# The Argus side: the report needs per-host totals counting both ends of
# each flow (racluster -m saddr and -m daddr), then per (host, peer) and per
# (host, peer, proto, port) aggregates.  racluster takes minutes and GBs
# for each of these on these inputs, so only the first, `racluster -m saddr
# | rasort -m bytes` for the top 30 sources, is timed: a lower bound of
# what Argus spends on the question.  NO_ARGUS=1 leaves it out.
# The nfdump side: `nfdump -s ip/bytes -n 30`, the top addresses counting
# both ends of each flow (the report's first pass; nfdump has no per-host
# peers and ports).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-build}
floe=$root/$build/src/cli/floe
in=${BENCH_IN:-$here/out}
out=${REPORT_OUT:-$here/out}
no_argus=${NO_ARGUS:-0}
mkdir -p "$out"
[ -x "$floe" ] || { echo "build floe first: meson setup $build && ninja -C $build" >&2; exit 1; }
for t in racluster rasort /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install argus-client time)" >&2; exit 1; }
done
for f in big.floe big.argus scan.floe scan.argus; do
  [ -e "$in/$f" ] || { echo "missing $in/$f: run bench/run.sh first" >&2; exit 1; }
done

res=$out/report-results.txt
: > "$res"
say() { echo "$@" | tee -a "$res"; }

ar=$out/report-archive
if [ ! -s "$out/report-archive.ok" ]; then
  rm -rf "$ar"
  "$floe" read -r "$in/big.floe" --archive "$ar" --instance big --rotate 1h
  "$floe" read -r "$in/scan.floe" --archive "$ar" --instance scan --rotate 1h
  echo ok > "$out/report-archive.ok"
fi
nrec=$("$floe" archive ls --dir "$ar" | tail -1)

# measure NAME CMD: runs CMD (a shell pipeline) once under /usr/bin/time;
# sets SECS, CPU (user + system), RSS_MB (largest process), LINES
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M %U %S' -o "$out/rep-time.$name" bash -c "$*" > "$out/rep-stdout.$name" \
    2> "$out/rep-stderr.$name" || { echo "$name failed: $(tail -3 "$out/rep-stderr.$name")" >&2; return 1; }
  local u s
  read -r SECS RSS_KB u s < "$out/rep-time.$name"
  CPU=$(python3 -c "print(f'{$u + $s:.2f}')")
  RSS_MB=$((RSS_KB / 1024))
  LINES=$(wc -l < "$out/rep-stdout.$name")
}
ratio() { python3 -c "a,b=float('$1'),float('$2'); print(f'{b/a:.1f}x' if a>0 and b>0 else 'n/a')"; }
row() { say "$(printf '%-52s %8s %8s %8s %8s' "$1" "$2" "$3" "$4" "$5")"; }

say "== daily report over $ar ($nrec)"
row tool seconds cpu-s peakMB lines
local_nets="10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
measure f-daily "'$floe' report daily -R '$ar' --local $local_nets --stats"
row "floe report daily (default --memory 256M)" "$SECS" "$CPU" "$RSS_MB" "$LINES"; f1=$SECS; c1=$CPU; m1=$RSS_MB
say "  $(cat "$out/rep-stderr.f-daily")"
measure f-daily-2 "'$floe' report daily -R '$ar' --local $local_nets"
row "floe report daily (again, warm)" "$SECS" "$CPU" "$RSS_MB" "$LINES"
measure f-daily-html "'$floe' report daily -R '$ar' --local $local_nets -o html"
row "floe report daily -o html (256M)" "$SECS" "$CPU" "$RSS_MB" "$LINES"
measure f-daily-64 "'$floe' report daily -R '$ar' --local $local_nets --memory 64M --stats"
row "floe report daily --memory 64M" "$SECS" "$CPU" "$RSS_MB" "$LINES"; m64=$RSS_MB
say "  $(cat "$out/rep-stderr.f-daily-64")"
if cmp -s "$out/rep-stdout.f-daily" "$out/rep-stdout.f-daily-64"; then
  say "  64M and 256M reports identical"
else
  say "  64M and 256M reports DIFFER"
fi
measure f-top "'$floe' cluster -R '$ar' -m saddr --top 30 -s saddr trans pkts bytes"
row "floe cluster -m saddr --top 30 (the Argus question)" "$SECS" "$CPU" "$RSS_MB" "$LINES"; f2=$SECS; c2=$CPU
if [ -d "$in/big.nf" ] && [ -d "$in/scan.nf" ] && command -v nfdump >/dev/null; then
  # nfdump's nearest question: the top 30 addresses by bytes, each flow
  # counted for both ends (the report's first pass, without peers/ports)
  measure n-top "nfdump -M '$in/big.nf:scan.nf' -R . -s ip/bytes -n 30 -q"
  row "nfdump -s ip/bytes -n 30 (the report's first pass)" "$SECS" "$CPU" "$RSS_MB" "$LINES"; n1=$SECS; nc1=$CPU; nm1=$RSS_MB
  say "floe whole report vs nfdump's top addresses: $(ratio "$f1" "$n1") ($(ratio "$c1" "$nc1") in CPU), peak RSS $m1 MB vs $nm1 MB"
fi
if [ "$no_argus" != 1 ]; then
  measure r-top "racluster -r '$in/big.argus' '$in/scan.argus' -m saddr -w - | rasort -r - -m bytes -s saddr trans pkts bytes | head -31"
  row "racluster -m saddr | rasort -m bytes | head -31" "$SECS" "$CPU" "$RSS_MB" "$LINES"; r1=$SECS; rc1=$CPU; rm1=$RSS_MB
  say "floe whole report vs racluster's first step: $(ratio "$f1" "$r1") faster ($(ratio "$c1" "$rc1") in CPU), peak RSS $m1 MB vs $rm1 MB"
  say "floe cluster -m saddr --top 30 vs racluster|rasort: $(ratio "$f2" "$r1") ($(ratio "$c2" "$rc1") in CPU)"
fi
say ""
say "(floe $("$floe" version | cut -d' ' -f2), $(racluster -h 2>&1 | head -1), load $(cut -d' ' -f1-3 /proc/loadavg))"
