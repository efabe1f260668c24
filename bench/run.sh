#!/usr/bin/env bash
# floe against Argus and nfdump, side by side in one run on the same input.
#
#   bench/run.sh [BUILDDIR]       (default: build; the tools must be built)
#
# Inputs (made once, kept in bench/out/):
#   big.pcap   ../shared/bench/make-big-pcap.sh: ~8.5M real packets, many hosts
#   scan.pcap  ../shared/bench/gen-scan.py: 2M SYNs to 2M addresses
# For each input it meters with `floe capture`, `argus -r` and `nfpcapd -r`
# (time, peak memory, flows, bytes on disk per flow, Argus after gzip too),
# then looks up one host with `floe read`, `ra` and `nfdump`.  The machine is
# shared and noisy: read the ratios, not the absolute times.  Results go to
# stdout and bench/out/results.txt.
#
# Needs: argus-server argus-client nfdump wireshark-common tcpreplay gzip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-build}
floe=$root/$build/src/cli/floe
shared=${FLOE_SHARED:-$root/../shared}
out=$here/out
mkdir -p "$out"
[ -x "$floe" ] || { echo "build floe first: meson setup $build && ninja -C $build" >&2; exit 1; }
for t in argus ra nfpcapd nfdump capinfos /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install argus-server argus-client nfdump wireshark-common tcpreplay time)" >&2; exit 1; }
done

[ -s "$out/big.pcap" ] || "$shared/bench/make-big-pcap.sh" "$out/big.pcap"
[ -s "$out/scan.pcap" ] || python3 "$shared/bench/gen-scan.py" "$out/scan.pcap" 2000000

res=$out/results.txt
: > "$res"
say() { echo "$@" | tee -a "$res"; }

# measure NAME CMD...: runs CMD under /usr/bin/time, sets SECS and RSS_MB
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$out/time.$name" "$@" > "$out/stdout.$name" 2> "$out/stderr.$name" || {
    echo "$name failed: $(tail -3 "$out/stderr.$name")" >&2; return 1; }
  read -r SECS RSS_KB < "$out/time.$name"
  RSS_MB=$((RSS_KB / 1024))
}

ratio() { python3 -c "a,b=float('$1'),float('$2'); print(f'{b/a:.2f}x' if a>0 else 'n/a')"; }

meter() {
  local in=$1 tag=$2
  local pk; pk=$(capinfos -c -M "$in" | awk '/Number of packets/ {print $NF}')
  say ""
  say "== metering $tag: $in ($pk packets)"
  rm -rf "$out/$tag.nf"; mkdir -p "$out/$tag.nf"
  rm -f "$out/$tag.floe" "$out/$tag.argus"

  measure floe-$tag "$floe" capture -r "$in" -w "$out/$tag.floe" --stats
  local f_s=$SECS f_m=$RSS_MB
  local f_n; f_n=$("$floe" read -r "$out/$tag.floe" -s trans --no-header | wc -l)
  local f_b; f_b=$(stat -c %s "$out/$tag.floe")

  measure argus-$tag argus -r "$in" -w "$out/$tag.argus"
  local a_s=$SECS a_m=$RSS_MB
  local a_n; a_n=$(ra -r "$out/$tag.argus" -n -s stime | wc -l)
  local a_b; a_b=$(stat -c %s "$out/$tag.argus")
  local a_gz; a_gz=$(gzip -c "$out/$tag.argus" | wc -c)

  measure nfpcapd-$tag nfpcapd -r "$in" -w "$out/$tag.nf" -y
  local n_s=$SECS n_m=$RSS_MB
  local n_files; n_files=$(find "$out/$tag.nf" -type f -name 'nfcapd.*' | sort)
  local n_b=0; for f in $n_files; do n_b=$((n_b + $(stat -c %s "$f"))); done
  local n_n; n_n=$(nfdump -R "$out/$tag.nf" -q -o 'fmt:%ts' | wc -l)

  say "$(printf '%-8s %9s %9s %10s %12s %8s' tool seconds peakMB records bytes B/rec)"
  say "$(printf '%-8s %9s %9s %10s %12s %8.1f' floe "$f_s" "$f_m" "$f_n" "$f_b" "$(python3 -c "print($f_b/max($f_n,1))")")"
  say "$(printf '%-8s %9s %9s %10s %12s %8.1f' argus "$a_s" "$a_m" "$a_n" "$a_b" "$(python3 -c "print($a_b/max($a_n,1))")")"
  say "$(printf '%-8s %9s %9s %10s %12s %8.1f' argus.gz - - "$a_n" "$a_gz" "$(python3 -c "print($a_gz/max($a_n,1))")")"
  say "$(printf '%-8s %9s %9s %10s %12s %8.1f' nfpcapd "$n_s" "$n_m" "$n_n" "$n_b" "$(python3 -c "print($n_b/max($n_n,1))")")"
  say "floe speed vs argus: $(ratio "$f_s" "$a_s")   vs nfpcapd: $(ratio "$f_s" "$n_s")   (>1: floe faster)"
  say "floe memory: ${f_m} MB (argus ${a_m} MB, nfpcapd ${n_m} MB)"
  say "floe bytes/record vs argus+gzip: $(python3 -c "print(f'{($a_gz/max($a_n,1))/($f_b/max($f_n,1)):.2f}x')")   vs nfdump: $(python3 -c "print(f'{($n_b/max($n_n,1))/($f_b/max($f_n,1)):.2f}x')")   (>1: floe smaller)"
}

lookup() {
  local tag=$1 host=$2
  say ""
  say "== host lookup on $tag: host $host"
  measure floe-q-$tag "$floe" read -r "$out/$tag.floe" -s stime saddr daddr bytes --no-header "host $host"
  local f_s=$SECS f_n; f_n=$(wc -l < "$out/stdout.floe-q-$tag")
  measure ra-q-$tag ra -n -r "$out/$tag.argus" -s stime saddr daddr bytes - host "$host"
  local a_s=$SECS a_n; a_n=$(wc -l < "$out/stdout.ra-q-$tag")
  measure nfdump-q-$tag nfdump -R "$out/$tag.nf" -q -o 'fmt:%ts %sa %da %byt' "host $host"
  local n_s=$SECS n_n; n_n=$(wc -l < "$out/stdout.nfdump-q-$tag")
  say "floe $f_s s ($f_n records)   ra $a_s s ($a_n)   nfdump $n_s s ($n_n)"
  say "floe speed vs ra: $(ratio "$f_s" "$a_s")   vs nfdump: $(ratio "$f_s" "$n_s")"
}

meter "$out/big.pcap" big
# a moderately active host: the 200th busiest initiator of TCP flows
host=$("$floe" read -r "$out/big.floe" -s saddr --no-header 'tcp' | sort | uniq -c | sort -rn | awk 'NR==200 {print $2}')
lookup big "$host"
meter "$out/scan.pcap" scan
say ""
say "(floe $("$floe" version | cut -d' ' -f2), $(argus -h 2>&1 | head -1), $(nfdump -V))"
