#!/usr/bin/env bash
# The archive benchmark: one host over 30 days of flows, floe against
# nfdump and Argus, side by side in one run (docs/benchmarks.md).
#
#   bench/archive.sh [BUILDDIR]     (default: build)
#
# Input: bench/out/big.floe, big.nf/, big.argus (bench/run.sh makes them from
# big.pcap).  bench/mkarchive turns big.floe into an archive of COPIES
# copies (default 29: 102M flows) spread over 30 days, hourly files, with a
# marker host present in 3 hours only.  nfpcapd and argus are far too slow
# to meter 100M flows here, so their own conversions of big.pcap are
# replicated as copies (hard links) to about the same record count: a full
# scan costs the same for copies, and hard links only help them (one copy
# in the page cache).  All runs are with a warm cache (each command runs
# once before it is timed); the machine is shared and noisy: read ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-build}
floe=$root/$build/src/cli/floe
mk=$root/$build/bench/mkarchive
out=${FLOE_BENCH_OUT:-$here/out}
copies=${COPIES:-29}
marker=198.51.100.77
for t in nfdump ra /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done
[ -x "$floe" ] && [ -x "$mk" ] || { echo "build first: ninja -C $build" >&2; exit 1; }
for f in big.floe big.nf big.argus; do
  [ -e "$out/$f" ] || { echo "missing $out/$f: run bench/run.sh first" >&2; exit 1; }
done

res=$out/archive-results.txt
: > "$res"
say() { echo "$@" | tee -a "$res"; }

if [ ! -s "$out/archive.log" ] || [ ! -d "$out/archive" ]; then
  rm -rf "$out/archive"
  /usr/bin/time -f '%e %M' -o "$out/time.mkarchive" \
    "$mk" "$out/big.floe" "$out/archive" "$copies" 30 "$marker" 400 3 > "$out/archive.log"
fi
frecs=$(awk '{print $2}' "$out/archive.log"); files=$(awk '{print $4}' "$out/archive.log")
win=$(awk '{print $14}' "$out/archive.log"); w0=${win%..*}; w1=${win#*..}
fbytes=$(du -sb "$out/archive" | cut -f1)

# peers: copies of their own conversions of big.pcap, to about frecs records
nf1=$(nfdump -R "$out/big.nf" -q -o 'fmt:%ts' | wc -l)
ar1=$(ra -r "$out/big.argus" -n -s stime | wc -l)
nfc=$(( (frecs + nf1 / 2) / nf1 )); arc=$(( (frecs + ar1 / 2) / ar1 ))
if [ ! -d "$out/archive.nf/c$(printf %02d $((nfc - 1)))" ]; then
  rm -rf "$out/archive.nf"; mkdir -p "$out/archive.nf"
  for k in $(seq -w 0 $((nfc - 1))); do
    mkdir -p "$out/archive.nf/c$k"; ln "$out"/big.nf/nfcapd.* "$out/archive.nf/c$k/"
  done
fi
if [ ! -e "$out/archive.argus/c$(printf %02d $((arc - 1))).argus" ]; then
  rm -rf "$out/archive.argus"; mkdir -p "$out/archive.argus"
  for k in $(seq -w 0 $((arc - 1))); do ln "$out/big.argus" "$out/archive.argus/c$k.argus"; done
fi

# timed NAME CMD...: runs CMD once to warm the cache, then under time;
# sets SECS, RSS_MB and LINES (records printed).
timed() {
  local name=$1; shift
  "$@" > /dev/null 2>&1 || true
  /usr/bin/time -f '%e %M' -o "$out/time.$name" "$@" > "$out/stdout.$name" 2> "$out/stderr.$name" || {
    echo "$name failed: $(tail -3 "$out/stderr.$name")" >&2; return 1; }
  read -r SECS RSS_KB < "$out/time.$name"
  RSS_MB=$((RSS_KB / 1024))
  LINES=$(grep -cv -e '^ *StartTime' -e '^ *Date first seen' -e '^No matching flows' -e '^$' "$out/stdout.$name" || true)
}
ratio() { python3 -c "a,b=float('$1'),float('$2'); print(f'{b/a:.0f}x' if a>0 else 'n/a')"; }

say "== archive: $frecs floe records in $files hourly files, 30 days, $((fbytes / 1048576)) MB"
say "   peers: nfdump $nfc x big.nf = $((nfc * nf1)) records, ra $arc x big.argus = $((arc * ar1)) records"
say "   marker host $marker: $(awk '{print $12}' "$out/archive.log") records, $(date -u -d @"$w0" +%FT%H:%MZ) .. $(date -u -d @"$w1" +%FT%H:%MZ)"
say ""
say "-- one host (present in 3 hours of 720)"
timed f-host "$floe" read -R "$out/archive" --stats "host $marker"
fh=$SECS fhn=$LINES; say "floe -R archive 'host X'                 $SECS s  $LINES records  ${RSS_MB} MB"
say "   $(tr '\n' ';' < "$out/stderr.f-host")"
day=$(date -u -d @"$w0" +%F)
timed f-host-t "$floe" read -R "$out/archive" -t "${day}Z" --stats "host $marker"
say "floe -R archive -t ${day}Z 'host X'    $SECS s  $LINES records  ${RSS_MB} MB"
say "   $(tr '\n' ';' < "$out/stderr.f-host-t")"
timed f-scan "$floe" read -R "$out/archive" --no-index --stats "host $marker"
fs=$SECS; say "floe -R archive --no-index 'host X'      $SECS s  $LINES records  ${RSS_MB} MB"
timed n-host nfdump -R "$out/archive.nf" -q "host $marker"
ns=$SECS; say "nfdump -R (copies) 'host X'              $SECS s  $LINES records  ${RSS_MB} MB"
timed a-host ra -R "$out/archive.argus" -n - host "$marker"
as=$SECS; say "ra -R (copies) - host X                  $SECS s  $LINES records  ${RSS_MB} MB"
say "indexed floe vs: floe full scan $(ratio "$fh" "$fs"), nfdump $(ratio "$fh" "$ns"), ra $(ratio "$fh" "$as")"
say ""
say "-- non-selective filters (no index can help): full scans, output to a file"
for flt in "tcp and dst port 80" "udp and not port 53" "net 10.0.0.0/8"; do
  case $flt in
    "tcp and dst port 80") nflt="proto tcp and dst port 80";;
    "udp and not port 53") nflt="proto udp and not port 53";;
    *) nflt=$flt;;
  esac
  tag=$(echo "$flt" | tr -c 'a-z0-9' '_')
  timed f-$tag "$floe" read -R "$out/archive" "$flt"; f=$SECS fl=$LINES
  timed n-$tag nfdump -R "$out/archive.nf" -q "$nflt"; n=$SECS nl=$LINES
  timed a-$tag ra -R "$out/archive.argus" -n - $flt; a=$SECS al=$LINES
  say "'$flt': floe $f s ($fl)  nfdump $n s ($nl)  ra $a s ($al)   floe vs nfdump $(python3 -c "print(f'{$n/$f:.2f}x')")"
done
say ""
say "($("$floe" --version 2>/dev/null || echo floe), $(ra -h 2>&1 | grep -m1 -o 'Version [0-9.]*' || true), nfdump $(nfdump -V 2>&1 | head -1))"
