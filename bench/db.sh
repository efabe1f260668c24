#!/usr/bin/env bash
# The database load benchmark: rows per second into PostgreSQL and
# ClickHouse, floe's own loaders against the CSV way, side by side in one
# run (docs/benchmarks.md, docs/db.md).
#
#   bench/db.sh [BUILDDIR]          (default: build)
#
#   JOBS="1 2 4"   also load with floe export --jobs N for each N (pg, clickhouse)
#   CSV=0          leave out the CSV ways
#   PG_WAL=minimal run PostgreSQL with wal_level=minimal (default replica)
#   BASE_FLOE=PATH another floe binary (e.g. an older build) to compare
#                  with on ClickHouse
#   SERVER_ALONE=1 also load the rows with no client work (the servers' own
#                  ceiling on this machine: COPY FROM a file, a prepared body)
#
# With JOBS it also loads one file into a fresh table (its day partition
# made in the load's own transaction: with wal_level=minimal the server
# writes no WAL for it) and the next file of the same day into the
# existing partition, to show what the WAL costs per row.
#
# Input: FILES hourly files (default 6, about 1.2M flows) of the archive
# bench/archive.sh builds from the large capture (bench/out/archive).  The
# script starts its own PostgreSQL 15 cluster and ClickHouse server on
# loopback in a temporary directory (both stopped at the end) and times:
#
#   floe export pg          binary COPY into the day partition (no indexes)
#   floe read -o csv | psql \copy          the same columns as CSV
#   floe export clickhouse  Native blocks over HTTP (and --format rowbinary)
#   floe read -o csv | clickhouse-client INSERT FORMAT CSVWithNames
#
# PostgreSQL runs with fsync=off for both ways alike (the disk here is
# shared and its flushes would dominate), and without autovacuum (its
# workers, children of the postmaster, would count in the server's CPU).
# Each load goes into a fresh table; times are wall-clock of the whole
# command (connect, schema, load).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-build}
floe=$root/$build/src/cli/floe
out=${FLOE_BENCH_OUT:-$here/out}
nfiles=${FILES:-6}
jobs=${JOBS:-}
docsv=${CSV:-1}
pgwal=${PG_WAL:-replica}
basefloe=${BASE_FLOE:-}
alone=${SERVER_ALONE:-0}
pgbin=/usr/lib/postgresql/15/bin
[ -x "$floe" ] || { echo "build first: ninja -C $build" >&2; exit 1; }
[ -d "$out/archive" ] || { echo "missing $out/archive: run bench/archive.sh first" >&2; exit 1; }
for t in "$pgbin/initdb" psql clickhouse-server clickhouse-client curl; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/floe-bench-db.XXXXXX)
chmod 755 "$tmp"
chpid=
cleanup() {
  [ -n "$chpid" ] && kill "$chpid" 2>/dev/null && wait "$chpid" 2>/dev/null
  [ -d "$tmp/pg" ] && su postgres -s /bin/sh -c "$pgbin/pg_ctl -D $tmp/pg -m immediate stop" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgport=$(port); chhttp=$(port); chtcp=$(port)

# The files: the first FILES hours of the archive, copied into one directory.
mkdir "$tmp/in"
find "$out/archive" -name '*.floe' | sort | awk -v n="$nfiles" 'NR <= n' | while read -r f; do
  cp "$f" "$tmp/in/"
done
rows=$("$floe" cluster -R "$tmp/in" -m proto -s trans -o csv | awk -F, 'NR > 1 { n += $1 } END { print n }')
# trans is 1 per record here (the archive holds metered records).
echo "input: $nfiles files, $rows rows"

# PostgreSQL
mkdir "$tmp/pg" && chown postgres "$tmp/pg"
su postgres -s /bin/sh -c "$pgbin/initdb -D $tmp/pg -U postgres --auth=trust -E UTF8" >/dev/null
su postgres -s /bin/sh -c "$pgbin/pg_ctl -D $tmp/pg -l $tmp/pg/server.log -w -o \"-p $pgport -k $tmp/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_wal_size=4GB -c shared_buffers=256MB -c autovacuum=off -c wal_level=$pgwal $([ "$pgwal" = minimal ] && echo -c max_wal_senders=0)\" start" >/dev/null
dsn="host=127.0.0.1 port=$pgport user=postgres dbname=postgres"
psqlc() { psql -X -q -At -h 127.0.0.1 -p "$pgport" -U postgres -d postgres "$@"; }

# ClickHouse
mkdir -p "$tmp/ch"
cat > "$tmp/ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$tmp/ch/server.log</log><errorlog>$tmp/ch/error.log</errorlog><console>0</console></logger>
  <http_port>$chhttp</http_port><tcp_port>$chtcp</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>$tmp/ch/data/</path><tmp_path>$tmp/ch/tmp/</tmp_path>
  <user_files_path>$tmp/ch/uf/</user_files_path><format_schema_path>$tmp/ch/fs/</format_schema_path>
  <users_config>$tmp/ch/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size><timezone>UTC</timezone>
</yandex>
EOF
cat > "$tmp/ch/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
EOF
clickhouse-server --config-file="$tmp/ch/config.xml" >/dev/null 2>&1 &
chpid=$!
churl=http://127.0.0.1:$chhttp/
for _ in $(seq 300); do curl -sf "${churl}ping" >/dev/null && break; sleep 0.2; done
chq() { curl -sfS "$churl" --data-binary "$1"; }

# The CSV columns: the stored fields (synack/ackdat in seconds, as CSV has them).
cols="stime ltime proto saddr sport daddr dport spkts dpkts sbytes dbytes sappbytes dappbytes
state trans flgs smac dmac vlan etype ipver stcpflags dtcpflags sttl dttl sttlmax dttlmax stos dtos
sretrans dretrans sooo dooo sid inif outif exporter nexthop sas das sampling synack ackdat"
csv() { "$floe" read -R "$tmp/in" -o csv -n -u -p 6 -s $cols; }
pgcsv_ddl="CREATE TABLE csvflows (stime double precision, ltime double precision, proto text,
 saddr inet, sport integer, daddr inet, dport integer, spkts bigint, dpkts bigint, sbytes bigint,
 dbytes bigint, sappbytes bigint, dappbytes bigint, state text, trans bigint, flgs text,
 smac macaddr, dmac macaddr, vlan integer, etype text, ipver smallint, stcpflags text,
 dtcpflags text, sttl smallint, dttl smallint, sttlmax smallint, dttlmax smallint, stos smallint,
 dtos smallint, sretrans bigint, dretrans bigint, sooo bigint, dooo bigint, sid bigint,
 inif bigint, outif bigint, exporter inet, nexthop inet, sas bigint, das bigint, sampling bigint,
 synack double precision, ackdat double precision)"
chcsv_ddl="CREATE TABLE csvflows (stime Float64, ltime Float64, proto String, saddr String,
 sport UInt16, daddr String, dport UInt16, spkts UInt64, dpkts UInt64, sbytes UInt64,
 dbytes UInt64, sappbytes UInt64, dappbytes UInt64, state String, trans UInt32, flgs String,
 smac String, dmac String, vlan UInt16, etype String, ipver UInt8, stcpflags String,
 dtcpflags String, sttl UInt8, dttl UInt8, sttlmax UInt8, dttlmax UInt8, stos UInt8, dtos UInt8,
 sretrans UInt32, dretrans UInt32, sooo UInt32, dooo UInt32, sid UInt32, inif UInt32,
 outif UInt32, exporter String, nexthop String, sas UInt32, das UInt32, sampling UInt32,
 synack Float64, ackdat Float64) ENGINE = MergeTree PARTITION BY toDate(toDateTime(stime))
 ORDER BY (toStartOfHour(toDateTime(stime)), saddr, daddr)"

t() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc; }
# The CPU seconds (user + sys) of a command and its children, for floe's own
# share: "wall cpu".
tcli() {
  local s e c0 c1 me=$BASHPID
  c0=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$me/stat")
  s=$(date +%s.%N); "$@"; e=$(date +%s.%N)
  c1=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$me/stat")
  echo "$(echo "$e - $s" | bc) $(echo "scale=2; ($c1 - $c0) / $(getconf CLK_TCK)" | bc)"
}
# CPU seconds a server has used (itself and its reaped children: the
# PostgreSQL backends), from /proc: the machine is shared, so wall-clock
# rates vary with the load and the CPU cost per row says more.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat"; }
# Each load starts on idle servers: no merge of an earlier load's parts
# running in ClickHouse, no checkpoint due in PostgreSQL.
quiet() {
  psqlc -c CHECKPOINT > /dev/null
  for _ in $(seq 240); do
    [ "$(chq 'SELECT count() FROM system.merges')" = 0 ] && break
    sleep 0.5
  done
  sleep 1
}
# Runs a load; prints "wall-seconds server-cpu-seconds".
tc() {
  local pid=$1 c0 c1 w; shift
  quiet
  c0=$(cpu "$pid"); w=$(t "$@"); sleep 1; c1=$(cpu "$pid")
  echo "$w $(echo "$c1 - $c0" | bc)"
}
# rows/s of a load of ${2:-$rows} rows that took $1 seconds
rate() { echo "scale=0; ${2:-$rows} / $1" | bc; }

res=${FLOE_BENCH_RES:-$out/db-results.txt}
: > "$res"
say() { echo "$@" | tee -a "$res"; }
say "input: $nfiles hourly files of bench/out/archive, $rows rows"

# Warm the page cache and the binaries once.
csv > /dev/null

pgpid=$(head -n 1 "$tmp/pg/postmaster.pid")
read -r s_pg c_pg < <(tc "$pgpid" "$floe" export pg --dsn "$dsn" --table flows -R "$tmp/in")
n=$(psqlc -c "SELECT count(*) FROM flows")
[ "$n" = "$rows" ] || { echo "pg: $n rows, want $rows" >&2; exit 1; }
if [ "$docsv" = 1 ]; then
psqlc -c "$pgcsv_ddl"
pgcsv() { csv | psqlc -c '\copy csvflows FROM STDIN WITH (FORMAT csv, HEADER true)'; }
read -r s_pgcsv c_pgcsv < <(tc "$pgpid" pgcsv)
n=$(psqlc -c "SELECT count(*) FROM csvflows")
[ "$n" = "$rows" ] || { echo "pg csv: $n rows, want $rows" >&2; exit 1; }
fi

read -r s_ch c_ch < <(tc "$chpid" "$floe" export clickhouse --url "$churl" --table flows -R "$tmp/in")
n=$(chq "SELECT count() FROM flows")
[ "$n" = "$rows" ] || { echo "clickhouse: $n rows, want $rows" >&2; exit 1; }
read -r s_chrb c_chrb < <(tc "$chpid" "$floe" export clickhouse --url "$churl" --table flowsrb \
  --format rowbinary -R "$tmp/in")
n=$(chq "SELECT count() FROM flowsrb")
[ "$n" = "$rows" ] || { echo "clickhouse rowbinary: $n rows, want $rows" >&2; exit 1; }
if [ "$docsv" = 1 ]; then
chq "$chcsv_ddl"
chcsv() { csv | clickhouse-client --port "$chtcp" --query 'INSERT INTO csvflows FORMAT CSVWithNames'; }
read -r s_chcsv c_chcsv < <(tc "$chpid" chcsv)
n=$(chq "SELECT count() FROM csvflows")
[ "$n" = "$rows" ] || { echo "clickhouse csv: $n rows, want $rows" >&2; exit 1; }
fi

row() { say "$(printf '%-44s %8.2f %10s %8.2f %12s' "$1" "$2" "$(rate "$2")" "$3" "$(rate "$3")")"; }
say "$(printf '%-44s %8s %10s %8s %12s' 'load' 'seconds' 'rows/s' 'srv-cpu' 'rows/cpu-s')"
row 'floe export pg (binary COPY)' "$s_pg" "$c_pg"
[ "$docsv" = 1 ] && row 'floe read -o csv | psql \copy (CSV)' "$s_pgcsv" "$c_pgcsv"
row 'floe export clickhouse (Native)' "$s_ch" "$c_ch"
row 'floe export clickhouse --format rowbinary' "$s_chrb" "$c_chrb"
[ "$docsv" = 1 ] && row 'floe read -o csv | clickhouse-client (CSV)' "$s_chcsv" "$c_chcsv"
if [ "$docsv" = 1 ]; then
say "pg: csv/floe time ratio $(echo "scale=2; $s_pgcsv / $s_pg" | bc), server cpu ratio $(echo "scale=2; $c_pgcsv / $c_pg" | bc)"
say "clickhouse: csv/floe time ratio $(echo "scale=2; $s_chcsv / $s_ch" | bc), server cpu ratio $(echo "scale=2; $c_chcsv / $c_ch" | bc)"
fi

# Parallel loads: N connections, N files at once; server CPU per million
# rows alongside (the figure that does not depend on what else runs).
# label, seconds, server CPU seconds[, rows loaded: default $rows]
mrow() { local r=${4:-$rows}; say "$(printf '%-44s %8.2f %10s %8.2f %12s %10.2f' "$1" "$2" \
  "$(rate "$2" "$r")" "$3" "$(rate "$3" "$r")" "$(echo "scale=4; $3 * 1000000 / $r" | bc)")"; }
if [ -n "$jobs" ] || [ -n "$basefloe" ]; then
  say "$(printf '%-44s %8s %10s %8s %12s %10s' 'load (wal_level='"$pgwal"')' 'seconds' 'rows/s' 'srv-cpu' 'rows/cpu-s' 'cpu-s/Mrow')"
fi
for j in $jobs; do
  read -r s c < <(tc "$pgpid" "$floe" export pg --dsn "$dsn" --table pj$j --jobs "$j" -R "$tmp/in")
  n=$(psqlc -c "SELECT count(*) FROM pj$j")
  [ "$n" = "$rows" ] || { echo "pg --jobs $j: $n rows, want $rows" >&2; exit 1; }
  mrow "floe export pg --jobs $j" "$s" "$c"
done
for j in $jobs; do
  read -r s c < <(tc "$chpid" "$floe" export clickhouse --url "$churl" --table cj$j --jobs "$j" \
    -R "$tmp/in")
  n=$(chq "SELECT count() FROM cj$j")
  [ "$n" = "$rows" ] || { echo "clickhouse --jobs $j: $n rows, want $rows" >&2; exit 1; }
  mrow "floe export clickhouse --jobs $j (sorted)" "$s" "$c"
done
if [ -n "$basefloe" ]; then
  read -r s c < <(tc "$chpid" "$basefloe" export clickhouse --url "$churl" --table cbase \
    -R "$tmp/in")
  mrow "BASE_FLOE export clickhouse (unsorted)" "$s" "$c"
  read -r s c < <(tc "$pgpid" "$basefloe" export pg --dsn "$dsn" --table pbase -R "$tmp/in")
  mrow "BASE_FLOE export pg (COPY via parent)" "$s" "$c"
  read -r w cc < <(tcli "$basefloe" export clickhouse --url "$churl" --table cbcli -R "$tmp/in")
  say "BASE_FLOE's own CPU, export clickhouse: $cc s ($(echo "scale=2; $cc * 1000000 / $rows" | bc) s/Mrow)"
fi
ev() { chq "SELECT value FROM system.events WHERE event = 'MergeTreeDataWriterBlocksAlreadySorted'"; }
[ -n "$jobs" ] && say "clickhouse: blocks found already sorted by the server: $(ev)"
if [ -n "$jobs" ]; then
  # floe's own CPU for a whole load (reading, checksum, encoding, sorting)
  read -r w cc < <(tcli "$floe" export clickhouse --url "$churl" --table ccli -R "$tmp/in")
  say "floe's own CPU, export clickhouse: $cc s ($(echo "scale=2; $cc * 1000000 / $rows" | bc) s/Mrow)"
  read -r w cc < <(tcli "$floe" export pg --dsn "$dsn" --table pcli -R "$tmp/in")
  say "floe's own CPU, export pg: $cc s ($(echo "scale=2; $cc * 1000000 / $rows" | bc) s/Mrow)"
  # One file into a fresh table (partition made in the same transaction),
  # then the next file of the same day (partition exists).
  f1=$(ls "$tmp/in" | sed -n 1p); f2=$(ls "$tmp/in" | sed -n 2p)
  r1=$("$floe" cluster -r "$tmp/in/$f1" -m proto -s trans -o csv | awk -F, 'NR > 1 { n += $1 } END { print n }')
  r2=$("$floe" cluster -r "$tmp/in/$f2" -m proto -s trans -o csv | awk -F, 'NR > 1 { n += $1 } END { print n }')
  read -r s c < <(tc "$pgpid" "$floe" export pg --dsn "$dsn" --table wal -r "$tmp/in/$f1")
  say "$(printf 'pg, wal_level=%s, new partition (same tx):      %8d rows %6.2f cpu-s %8.2f cpu-s/Mrow' "$pgwal" "$r1" "$c" "$(echo "scale=4; $c * 1000000 / $r1" | bc)")"
  read -r s c < <(tc "$pgpid" "$floe" export pg --dsn "$dsn" --table wal -r "$tmp/in/$f2")
  say "$(printf 'pg, wal_level=%s, existing partition:           %8d rows %6.2f cpu-s %8.2f cpu-s/Mrow' "$pgwal" "$r2" "$c" "$(echo "scale=4; $c * 1000000 / $r2" | bc)")"
fi
# The servers alone: the same rows loaded with no client work at all,
# from a file the server reads itself (PostgreSQL's COPY FROM a file,
# binary) or from a body prepared beforehand that curl only sends
# (ClickHouse Native, 262,144-row blocks) -- one load, then two at once.
# What a loader can reach on this machine is below these.
if [ "$alone" = 1 ]; then
  psqlc -c "COPY (SELECT * FROM flows) TO '$tmp/pg/rows.bin' (FORMAT binary)" > /dev/null
  for i in 1 2 3; do psqlc -c "CREATE TABLE alone$i (LIKE flows)"; done
  pgcopy() { psqlc -c "COPY alone$1 FROM '$tmp/pg/rows.bin' (FORMAT binary)" > /dev/null; }
  pgtwo() { pgcopy 2 & pgcopy 3; wait; }
  read -r s c < <(tc "$pgpid" pgcopy 1)
  mrow "pg alone: COPY FROM file (binary)" "$s" "$c"
  read -r s c < <(tc "$pgpid" pgtwo)
  mrow "pg alone: two COPY FROM file at once" "$s" "$c" $((2 * rows))
  curl -sfS "${churl}?max_block_size=262144" --data-binary \
    "SELECT * FROM flows ORDER BY toStartOfHour(stime), saddr, daddr FORMAT Native" > "$tmp/rows.native"
  for i in 1 2 3; do chq "CREATE TABLE alone$i AS flows"; done
  chins() { curl -sfS "${churl}?min_insert_block_size_rows=262144&query=INSERT%20INTO%20alone$1%20FORMAT%20Native" \
    --data-binary @"$tmp/rows.native"; }
  chtwo() { chins 2 & chins 3; wait; }
  read -r s c < <(tc "$chpid" chins 1)
  mrow "clickhouse alone: curl of a Native body" "$s" "$c"
  read -r s c < <(tc "$chpid" chtwo)
  mrow "clickhouse alone: two at once" "$s" "$c" $((2 * rows))
  rm -f "$tmp/pg/rows.bin" "$tmp/rows.native"
fi
say "(srv-cpu: CPU seconds of the server processes during the load; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
