"""floe export pg / clickhouse against real servers on loopback.

The test starts a throwaway PostgreSQL 15 cluster (initdb + pg_ctl as the
postgres user, data and socket directory in a temporary directory, a free
loopback port, password authentication) and two ClickHouse servers (own
config XML, data directories and loopback ports, one cluster of two shards
in remote_servers), and stops them afterwards, also when a test fails.

Flows are the real captures of ../shared/data, one floe file per capture.
What the databases hold is compared with `floe cluster -m saddr` and
`floe read` of the same files.
"""
import csv
import decimal
import io
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import FLOE, PCAPS, run

GEN = os.environ.get("FLOE_GEN_FLOWS", os.path.join(os.path.dirname(FLOE), "../../bench/gen-flows"))
PGBIN = pathlib.Path("/usr/lib/postgresql/15/bin")
PASSWORD = "floe-test-pw"
V6_PCAP = "arkime_arkime__tests_pcap_v6-http.pcap"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=60, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# ---- flows ----

@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    """One floe file per capture, the big generated file, and an archive."""
    d = tmp_path_factory.mktemp("dbflows")
    files = []
    for p in PCAPS:
        out = d / (p.stem + ".floe")
        run("capture", "-r", p, "-w", out)
        files.append(str(out))
    assert len(files) >= 40
    big = d / "big.floe"
    subprocess.run([GEN, str(big), "400000", "600000"], check=True, capture_output=True)
    return {"dir": d, "files": files, "big": str(big),
            "v6": str(d / (pathlib.Path(V6_PCAP).stem + ".floe"))}


def cluster_totals(files):
    """{saddr: (bytes, pkts, trans)} from floe cluster -m saddr."""
    p = run("cluster", "-r", *files, "-m", "saddr", "-s", "saddr", "bytes", "pkts", "trans",
            "-o", "csv")
    rows = list(csv.reader(io.StringIO(p.stdout.decode())))
    out = {}
    for r in rows[1:]:
        out[r[0]] = (int(r[1]), int(r[2]), int(r[3]))
    assert out
    return out


def read_rows(path, fields):
    p = run("read", "-r", path, "-o", "csv", "-u", "-p", "9", "-n", "-s", ",".join(fields))
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def ns_of(text):
    return int(decimal.Decimal(text) * 1000000000)


# ---- PostgreSQL ----

class Pg:
    def __init__(self, root):
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.dsn = (f"host=127.0.0.1 port={self.port} user=postgres password={PASSWORD} "
                    f"dbname=postgres connect_timeout=5")

    def su(self, cmd):
        return subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", cmd],
                              capture_output=True, text=True, timeout=120)

    def init(self):
        (self.root / "pw").write_text(PASSWORD + "\n")
        shutil.chown(self.root, "postgres")
        shutil.chown(self.root / "pw", "postgres")
        r = self.su(f"{PGBIN}/initdb -D {self.data} -U postgres --auth=scram-sha-256 "
                    f"--pwfile={self.root}/pw -E UTF8")
        assert r.returncode == 0, r.stderr

    def start(self):
        r = self.su(f"{PGBIN}/pg_ctl -D {self.data} -l {self.root}/log -w -t 60 "
                    f"-o \"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                    f"-c fsync=off\" start")
        assert r.returncode == 0, r.stderr + r.stdout

    def stop(self, mode="fast"):
        self.su(f"{PGBIN}/pg_ctl -D {self.data} -m {mode} -w -t 60 stop")

    def sql(self, q, check=True):
        env = dict(os.environ, PGPASSWORD=PASSWORD)
        r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "|", "-h", "127.0.0.1", "-p",
                            str(self.port), "-U", "postgres", "-d", "postgres", "-c", q],
                           capture_output=True, text=True, env=env, timeout=120)
        if not check and r.returncode != 0:
            return None  # e.g. the table is not there yet
        assert r.returncode == 0, r.stderr
        return [line.split("|") for line in r.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def pg():
    root = pathlib.Path(tempfile.mkdtemp(prefix="floe-pg-"))
    os.chmod(root, 0o755)
    srv = Pg(root)
    try:
        srv.init()
        srv.start()
        yield srv
    finally:
        srv.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def pg_load(pg, *args, check=True):
    return run("export", "pg", "--dsn", pg.dsn, *args, check=check)


def pg_totals(pg, table):
    rows = pg.sql(f"SELECT host(saddr), sum(sbytes + dbytes), sum(spkts + dpkts), sum(trans) "
                  f"FROM {table} GROUP BY 1")
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def test_pg_schema():
    ddl = run("export", "pg", "--schema").stdout.decode()
    assert "PARTITION BY RANGE (stime)" in ddl
    assert "\tsaddr inet,\n" in ddl and "\tstime timestamptz,\n" in ddl
    assert "stime_ns smallint" in ddl and "flows_files" in ddl
    ddl2 = run("export", "pg", "--schema", "--table", "x2").stdout.decode()
    assert "CREATE TABLE IF NOT EXISTS x2 (" in ddl2


def test_pg_totals_equal_cluster(pg, flows):
    p = pg_load(pg, "-r", *flows["files"], "--stats")
    assert f"files loaded {len(flows['files'])}," in p.stderr
    assert pg_totals(pg, "flows") == cluster_totals(flows["files"])
    # Loading again adds nothing: every file is in the ledger.
    p = pg_load(pg, "-r", *flows["files"], "--stats")
    assert f"files loaded 0, already loaded {len(flows['files'])}, rows 0" in p.stderr
    assert pg_totals(pg, "flows") == cluster_totals(flows["files"])
    n = int(pg.sql("SELECT count(*) FROM flows_files")[0][0])
    assert n == len(flows["files"])


def test_pg_partitions_and_indexes(pg, flows):
    pg_load(pg, "-r", *flows["files"])
    days = sorted(r[0] for r in pg.sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'flows'::regclass"))
    assert len(days) > 3
    # Each row is in the partition of its day.
    bad = pg.sql("SELECT count(*) FROM flows WHERE to_char(stime AT TIME ZONE 'UTC', "
                 "'YYYYMMDD') <> substr(tableoid::regclass::text, 7)")
    assert bad == [["0"]]
    idx = {}
    for t, i in pg.sql("SELECT tablename, indexname FROM pg_indexes WHERE tablename LIKE 'flows_2%'"
                       " OR tablename LIKE 'flows_1%'"):
        idx.setdefault(t, set()).add(i)
    # Every day but the last is complete, and has its three indexes.
    for d in days[:-1]:
        assert idx.get(d) == {f"{d}_saddr", f"{d}_daddr", f"{d}_dport"}, d
    assert days[-1] not in idx


def test_pg_ipv6_rows(pg, flows):
    fields = ["stime", "ltime", "saddr", "daddr", "sport", "dport", "proto", "sbytes", "dbytes",
              "state"]
    want = sorted((ns_of(r["stime"]), ns_of(r["ltime"]), r["saddr"], r["daddr"], int(r["sport"]),
                   int(r["dport"]), int(r["proto"]), int(r["sbytes"]), int(r["dbytes"]),
                   r["state"]) for r in read_rows(flows["v6"], fields))
    assert any(":" in w[2] for w in want)
    pg_load(pg, "--table", "v6", "-r", flows["v6"])
    got = sorted((
        (int(r[0]) * 1000 + int(r[1])), (int(r[2]) * 1000 + int(r[3])), r[4], r[5], int(r[6]),
        int(r[7]), int(r[8]), int(r[9]), int(r[10]), r[11]) for r in pg.sql(
        "SELECT (extract(epoch FROM stime) * 1000000)::bigint, stime_ns, "
        "(extract(epoch FROM ltime) * 1000000)::bigint, ltime_ns, host(saddr), host(daddr), "
        "sport, dport, proto, sbytes, dbytes, state FROM v6"))
    assert got == want
    assert pg.sql("SELECT count(*) FROM v6 WHERE family(saddr) = 6") != [["0"]]


def test_pg_time_range(pg, flows):
    f = flows["files"][:10]
    pg_load(pg, "--table", "ranged", "-r", *f, "-t", "2010-01-01T00:00Z/2030-01-01T00:00Z")
    n = int(pg.sql("SELECT count(*) FROM ranged")[0][0])
    want = len(run("read", "-r", *f, "-t", "2010-01-01T00:00Z/2030-01-01T00:00Z", "-o", "csv",
                   "-s", "stime").stdout.decode().splitlines()) - 1
    assert n == want


def test_pg_stop_between_files(pg, flows):
    files = flows["files"]
    half = len(files) // 2
    pg_load(pg, "--table", "resume", "-r", *files[:half])
    pg.stop("immediate")
    try:
        p = pg_load(pg, "--table", "resume", "-r", *files, check=False)
        assert p.returncode == 1
        assert "PostgreSQL" in p.stderr and "Connection refused" in p.stderr
    finally:
        pg.start()
    p = pg_load(pg, "--table", "resume", "-r", *files, "--stats")
    assert f"files loaded {len(files) - half}, already loaded {half}," in p.stderr
    assert pg_totals(pg, "resume") == cluster_totals(files)


def test_pg_stop_mid_load(pg, flows):
    """The server stops while a file of 600000 records is being copied:
    nothing of it stays, and loading again loads it whole, once."""
    proc = subprocess.Popen([FLOE, "export", "pg", "--dsn", pg.dsn, "--table", "big",
                             "-r", flows["big"]], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity "
                                "WHERE query LIKE 'COPY big%'") != [["0"]] or
                 proc.poll() is not None, what="the COPY")
        assert proc.poll() is None, "the load ended before the server could be stopped"
        pg.stop("immediate")
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 1, err
        assert "PostgreSQL" in err
    finally:
        if proc.poll() is None:
            proc.kill()
        pg.start()
    assert pg.sql("SELECT count(*) FROM big") == [["0"]]
    assert pg.sql("SELECT count(*) FROM big_files") == [["0"]]
    pg_load(pg, "--table", "big", "-r", flows["big"])
    pg_load(pg, "--table", "big", "-r", flows["big"])
    assert pg.sql("SELECT count(*), sum(spkts), sum(sbytes) FROM big")[0] == \
        pg_sum_of(flows["big"])


def pg_sum_of(path):
    p = run("cluster", "-r", path, "-m", "proto", "-s", "trans", "spkts", "sbytes", "-o", "csv")
    r = list(csv.reader(io.StringIO(p.stdout.decode())))[1]
    return [r[0], r[1], r[2]]


def test_pg_errors(pg, flows):
    bad = pg.dsn.replace(PASSWORD, "wrong")
    p = run("export", "pg", "--dsn", bad, "-r", flows["v6"], check=False)
    assert p.returncode == 1
    assert "password authentication failed" in p.stderr
    p = run("export", "pg", "--dsn", f"host=127.0.0.1 port={free_port()} user=postgres "
            "dbname=postgres connect_timeout=5", "-r", flows["v6"], check=False)
    assert p.returncode == 1
    assert "cannot connect" in p.stderr and "Connection refused" in p.stderr
    # A user who may not create tables (PostgreSQL 15: no CREATE on public).
    pg.sql("DROP ROLE IF EXISTS floe_ro; CREATE ROLE floe_ro LOGIN PASSWORD 'ro'")
    ro = pg.dsn.replace("user=postgres", "user=floe_ro").replace(PASSWORD, "ro")
    p = run("export", "pg", "--dsn", ro, "-r", flows["v6"], check=False)
    assert p.returncode == 1
    assert "cannot create the tables flows and flows_files: permission denied" in p.stderr
    p = run("export", "pg", "--dsn", pg.dsn, "--table", "bad-name", "-r", flows["v6"],
            check=False)
    assert p.returncode == 2 and "bad table name" in p.stderr
    p = run("export", "pg", "--dsn", pg.dsn, "-r", "-", check=False)
    assert p.returncode == 2


def test_pg_damaged_file_skipped(pg, flows, tmp_path):
    bad = tmp_path / "bad.floe"
    bad.write_bytes(b"not a floe file at all\n" * 10)
    p = pg_load(pg, "--table", "dmg", "-r", flows["files"][0], str(bad), flows["files"][1],
                "--stats", check=False)
    assert p.returncode == 3, p.stderr
    assert "bad.floe" in p.stderr and "files loaded 2," in p.stderr and "damaged 1" in p.stderr
    assert pg_totals(pg, "dmg") == cluster_totals(flows["files"][:2])


def test_pg_follow(pg, flows, tmp_path):
    arch = tmp_path / "arch"
    sub = arch / "link1"
    sub.mkdir(parents=True)
    proc = subprocess.Popen([FLOE, "export", "pg", "--dsn", pg.dsn, "--table", "fol",
                             "--follow", "--interval", "200ms", "-R", str(arch)],
                            stderr=subprocess.PIPE, text=True)
    try:
        files = flows["files"][:6]
        for i, f in enumerate(files[:3]):
            shutil.copy(f, sub / f"f{i}.floe")
        # A file still being written is left alone.
        shutil.copy(files[3], sub / "f3.floe.part")
        wait_for(lambda: pg.sql("SELECT count(*) FROM fol_files", check=False) == [["3"]],
                 what="3 files")
        time.sleep(0.6)
        assert pg.sql("SELECT count(*) FROM fol_files") == [["3"]]
        os.rename(sub / "f3.floe.part", sub / "f3.floe")
        shutil.copy(files[4], sub / "f4.floe")
        wait_for(lambda: pg.sql("SELECT count(*) FROM fol_files") == [["5"]], what="5 files")
        assert pg_totals(pg, "fol") == cluster_totals(files[:5])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_pg_expire(pg, flows):
    pg_load(pg, "--table", "old", "-r", *flows["files"][:10])
    n = len(pg.sql("SELECT 1 FROM pg_inherits WHERE inhparent = 'old'::regclass"))
    assert n > 0
    # The captures are years old: 180 days drops every partition.
    p = run("export", "pg", "--dsn", pg.dsn, "--table", "old", "--expire", "180d", "--stats")
    assert f"day partitions dropped: {n}" in p.stderr
    assert pg.sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'old'::regclass") == [["0"]]
    assert pg.sql("SELECT count(*) FROM old") == [["0"]]
    # The ledger remembers them: expired files do not come back.
    pg_load(pg, "--table", "old", "-r", *flows["files"][:10])
    assert pg.sql("SELECT count(*) FROM old") == [["0"]]


# ---- ClickHouse ----

CH_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog>
        <console>0</console></logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <timezone>UTC</timezone>
    <remote_servers>
        <floe_two_shards>
            <shard><replica><host>127.0.0.1</host><port>{tcp1}</port>
                <user>default</user><password>{pw}</password></replica></shard>
            <shard><replica><host>127.0.0.1</host><port>{tcp2}</port>
                <user>default</user><password>{pw}</password></replica></shard>
        </floe_two_shards>
    </remote_servers>
</yandex>
"""

CH_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users><default><password>{pw}</password><networks><ip>127.0.0.1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
"""


class Ch:
    def __init__(self, root, http, tcp, tcp1, tcp2):
        self.root, self.http, self.tcp = root, http, tcp
        self.url = f"http://127.0.0.1:{http}/"
        root.mkdir(parents=True)
        (root / "config.xml").write_text(CH_CONFIG.format(d=root, http=http, tcp=tcp, tcp1=tcp1,
                                                          tcp2=tcp2, pw=PASSWORD))
        (root / "users.xml").write_text(CH_USERS.format(pw=PASSWORD))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["clickhouse-server", f"--config-file={self.root}/config.xml"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.root)
        wait_for(self.ping, timeout=90, what=f"clickhouse on {self.http}")

    def ping(self):
        assert self.proc.poll() is None, (self.root / "error.log").read_text()
        try:
            return urllib.request.urlopen(self.url + "ping", timeout=2).read() == b"Ok.\n"
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def sql(self, q):
        req = urllib.request.Request(f"{self.url}?user=default&password={PASSWORD}",
                                     data=q.encode())
        try:
            body = urllib.request.urlopen(req, timeout=120).read().decode()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{q}: {e.read().decode()}")
        return [line.split("\t") for line in body.splitlines() if line]


@pytest.fixture(scope="module")
def chs():
    root = pathlib.Path(tempfile.mkdtemp(prefix="floe-ch-"))
    ports = [free_port() for _ in range(4)]
    servers = [Ch(root / "s1", ports[0], ports[1], ports[1], ports[3]),
               Ch(root / "s2", ports[2], ports[3], ports[1], ports[3])]
    try:
        for s in servers:
            s.start()
        yield servers
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ch(chs):
    return chs[0]


def ch_load(ch, *args, check=True):
    return run("export", "clickhouse", "--url", ch.url, "--password", PASSWORD, *args,
               check=check)


# The address as text, IPv4 or IPv6 (docs/db.md).
CH_HOST = ("if(substring(saddr, 1, 12) = unhex('00000000000000000000FFFF'), "
           "IPv4NumToString(saddr_v4), IPv6NumToString(saddr))")


def ch_totals(ch, table):
    rows = ch.sql(f"SELECT {CH_HOST} AS h, sum(sbytes + dbytes), sum(spkts + dpkts), sum(trans) "
                  f"FROM {table} GROUP BY h")
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def test_ch_schema():
    ddl = run("export", "clickhouse", "--schema").stdout.decode()
    assert "PARTITION BY toDate(stime)" in ddl and "saddr FixedString(16)" in ddl
    assert "saddr_v4 UInt32" in ddl and "file_id UInt64" in ddl
    ddl = run("export", "clickhouse", "--schema", "--cluster", "c2").stdout.decode()
    assert "Distributed(c2, currentDatabase(), flows_local" in ddl


def test_ch_totals_equal_cluster(ch, flows):
    p = ch_load(ch, "-r", *flows["files"], "--stats")
    assert f"files loaded {len(flows['files'])}," in p.stderr
    want = cluster_totals(flows["files"])
    assert ch_totals(ch, "flows") == want
    p = ch_load(ch, "-r", *flows["files"], "--stats")
    assert f"files loaded 0, already loaded {len(flows['files'])}, rows 0" in p.stderr
    assert ch_totals(ch, "flows") == want
    # One partition per day.
    parts = ch.sql("SELECT DISTINCT partition FROM system.parts WHERE table = 'flows' AND active")
    days = ch.sql("SELECT DISTINCT toDate(stime) FROM flows")
    assert sorted(parts) == sorted(days)


@pytest.mark.parametrize("fmt", ["native", "rowbinary"])
def test_ch_ipv6_rows(ch, flows, fmt):
    fields = ["stime", "ltime", "saddr", "daddr", "sport", "dport", "proto", "sbytes", "dbytes",
              "state"]
    want = sorted((ns_of(r["stime"]), ns_of(r["ltime"]), r["saddr"], r["daddr"], int(r["sport"]),
                   int(r["dport"]), int(r["proto"]), int(r["sbytes"]), int(r["dbytes"]),
                   r["state"]) for r in read_rows(flows["v6"], fields))
    ch_load(ch, "--table", "v6" + fmt, "--format", fmt, "-r", flows["v6"])
    dh = CH_HOST.replace("saddr", "daddr")
    got = sorted((int(r[0]) * 1000000000 + int(r[1]), int(r[2]) * 1000000000 + int(r[3]),
                  r[4], r[5], int(r[6]), int(r[7]), int(r[8]), int(r[9]), int(r[10]), r[11])
                 for r in ch.sql(f"SELECT toUInt32(stime), stime_ns, toUInt32(ltime), ltime_ns, "
                                 f"{CH_HOST}, {dh}, sport, dport, proto, sbytes, dbytes, state "
                                 f"FROM v6{fmt}"))
    assert got == want
    assert any(":" in g[2] for g in got)


def test_ch_native_equals_rowbinary(ch, flows):
    """Native INSERTs leave out the columns that are zero in every row (the
    server fills in the type's default); every column of every row equals
    what RowBinary, which sends them all, loads."""
    ch_load(ch, "--table", "eqnative", "-r", *flows["files"])
    ch_load(ch, "--table", "eqrowbin", "--format", "rowbinary", "-r", *flows["files"])
    cols = [r[0] for r in ch.sql("SELECT name FROM system.columns WHERE table = 'eqnative'")]
    assert len(cols) > 40
    for t in ("eqnative", "eqrowbin"):
        # some columns are zero in every row of this capture's flows
        assert ch.sql(f"SELECT max(sas), max(inif), max(exporter_v4) FROM {t}") == [["0", "0", "0"]]

    def fingerprint(t):
        return ch.sql(f"SELECT count(), " + ", ".join(f"sum(cityHash64({c}))" for c in cols) +
                      f" FROM {t}")
    assert fingerprint("eqnative") == fingerprint("eqrowbin")


def test_ch_stop_between_files(ch, flows):
    files = flows["files"]
    half = len(files) // 2
    ch_load(ch, "--table", "resume", "-r", *files[:half])
    ch.stop()
    try:
        p = ch_load(ch, "--table", "resume", "-r", *files, check=False)
        assert p.returncode == 1
        assert "ClickHouse at 127.0.0.1" in p.stderr
    finally:
        ch.start()
    p = ch_load(ch, "--table", "resume", "-r", *files, "--stats")
    assert f"files loaded {len(files) - half}, already loaded {half}," in p.stderr
    assert ch_totals(ch, "resume") == cluster_totals(files)


def test_ch_kill_mid_load(ch, flows):
    """The server is killed after the first INSERT of a 600000-record file:
    the rows in without a ledger entry are removed when it is loaded again."""
    proc = subprocess.Popen([FLOE, "export", "clickhouse", "--url", ch.url, "--password",
                             PASSWORD, "--table", "big", "-r", flows["big"]],
                            stderr=subprocess.PIPE, text=True)
    try:
        def some_rows():
            r = ch.sql("SELECT count() FROM system.tables WHERE name = 'big'")
            return (r == [["1"]] and ch.sql("SELECT count() FROM big") != [["0"]]) or \
                proc.poll() is not None
        wait_for(some_rows, what="the first INSERT")
        assert proc.poll() is None, "the load ended before the server could be stopped"
        ch.stop(signal.SIGKILL)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 1, err
    finally:
        if proc.poll() is None:
            proc.kill()
        ch.start()
    partial = int(ch.sql("SELECT count() FROM big")[0][0])
    assert 0 < partial < 600000
    assert ch.sql("SELECT count() FROM big_files WHERE done") == [["0"]]
    assert ch.sql("SELECT count() FROM big_files") == [["1"]]
    p = ch_load(ch, "--table", "big", "-r", flows["big"])
    assert "rows of a load cut short" in p.stderr
    ch_load(ch, "--table", "big", "-r", flows["big"])
    got = ch.sql("SELECT count(), sum(trans), sum(spkts), sum(sbytes) FROM big")[0]
    assert got[1:] == pg_sum_of(flows["big"]) and got[0] == "600000"


def test_ch_errors(ch, flows):
    p = run("export", "clickhouse", "--url", ch.url, "--password", "wrong", "-r", flows["v6"],
            check=False)
    assert p.returncode == 1
    assert "HTTP 401" in p.stderr and "Wrong password for user default" in p.stderr
    port = free_port()
    p = run("export", "clickhouse", "--url", f"http://127.0.0.1:{port}/", "-r", flows["v6"],
            check=False)
    assert p.returncode == 1
    assert f"ClickHouse at 127.0.0.1:{port}" in p.stderr and "connect" in p.stderr


def test_ch_follow(ch, flows, tmp_path):
    arch = tmp_path / "arch"
    sub = arch / "link1"
    sub.mkdir(parents=True)
    proc = subprocess.Popen([FLOE, "export", "clickhouse", "--url", ch.url, "--password",
                             PASSWORD, "--table", "fol", "--follow", "--interval", "200ms",
                             "-R", str(arch)], stderr=subprocess.PIPE, text=True)
    try:
        files = flows["files"][:4]
        shutil.copy(files[0], sub / "a.floe")
        shutil.copy(files[1], sub / "b.floe.part")
        wait_for(lambda: ch.sql("SELECT count() FROM system.tables WHERE name = 'fol_files'")
                 == [["1"]] and ch.sql("SELECT count() FROM fol_files WHERE done") == [["1"]], what="a file")
        os.rename(sub / "b.floe.part", sub / "b.floe")
        shutil.copy(files[2], sub / "c.floe")
        wait_for(lambda: ch.sql("SELECT count() FROM fol_files WHERE done") == [["3"]],
                 what="3 files")
        assert ch_totals(ch, "fol") == cluster_totals(files[:3])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ch_expire(ch, flows):
    ch_load(ch, "--table", "old", "-r", *flows["files"][:10])
    n = len(ch.sql("SELECT DISTINCT partition FROM system.parts WHERE table = 'old' AND active"))
    assert n > 0
    p = run("export", "clickhouse", "--url", ch.url, "--password", PASSWORD, "--table", "old",
            "--expire", "180d", "--stats")
    assert f"day partitions dropped: {n}" in p.stderr
    assert ch.sql("SELECT count() FROM old") == [["0"]]


def test_ch_two_shards(chs, flows):
    """A Distributed table over two servers on loopback: floe inserts
    through it (RowBinary here, Native elsewhere); queries through it equal
    the single-node table's."""
    s1, s2 = chs
    files = flows["files"]
    p = run("export", "clickhouse", "--url", s1.url, "--password", PASSWORD, "--table", "dist",
            "--cluster", "floe_two_shards", "--shard", s1.url, "--shard", s2.url,
            "--format", "rowbinary", "-r", *files, "--stats")
    assert f"files loaded {len(files)}," in p.stderr
    want = cluster_totals(files)
    assert ch_totals(s1, "dist") == want
    # Both shards hold rows, and together all of them.
    n1 = int(s1.sql("SELECT count() FROM dist_local")[0][0])
    n2 = int(s2.sql("SELECT count() FROM dist_local")[0][0])
    assert n1 > 0 and n2 > 0
    assert n1 + n2 == int(s1.sql("SELECT count() FROM dist")[0][0])
    # The same files on one node (test_ch_totals_equal_cluster's table).
    ch_load(s1, "-r", *files)
    q = ("SELECT {h} AS h, dport, count(), sum(sbytes), sum(dpkts) FROM {t} "
         "GROUP BY h, dport ORDER BY h, dport")
    assert s1.sql(q.format(h=CH_HOST, t="dist")) == s1.sql(q.format(h=CH_HOST, t="flows"))
    # Again: nothing added through the Distributed table either.
    p = run("export", "clickhouse", "--url", s1.url, "--password", PASSWORD, "--table", "dist",
            "--cluster", "floe_two_shards", "--shard", s1.url, "--shard", s2.url,
            "-r", *files, "--stats")
    assert f"files loaded 0, already loaded {len(files)}" in p.stderr
    assert ch_totals(s1, "dist") == want


def test_export_help():
    p = run("export", "--help")
    assert b"ipfix" in p.stdout and b"floe export pg --help" in p.stdout
    for fmt in ("pg", "clickhouse"):
        p = run("export", fmt, "--help")
        assert b"--dsn DSN" in p.stdout and b"--follow" in p.stdout
    p = run("export", "pg", "-r", "x.floe", check=False)
    assert p.returncode == 2 and "--dsn" in p.stderr
    p = run("export", "clickhouse", "--url", "http://127.0.0.1:1/", "--format", "tsv", check=False)
    assert p.returncode == 2 and "bad --format" in p.stderr


# ---- loading in parallel (--jobs) ----

def test_pg_jobs(pg, flows):
    files = flows["files"]
    p = pg_load(pg, "--table", "par", "--jobs", "3", "-r", *files, flows["big"], "--stats")
    assert f"files loaded {len(files) + 1}," in p.stderr, p.stderr
    assert pg_totals(pg, "par") == cluster_totals(files + [flows["big"]])
    assert pg.sql("SELECT count(*) FROM par_files") == [[str(len(files) + 1)]]
    # Each row is in the partition of its day (made before the COPYs).
    bad = pg.sql("SELECT count(*) FROM par WHERE to_char(stime AT TIME ZONE 'UTC', "
                 "'YYYYMMDD') <> substr(tableoid::regclass::text, 5)")
    assert bad == [["0"]]
    p = pg_load(pg, "--table", "par", "--jobs", "3", "-r", *files, "--stats")
    assert f"files loaded 0, already loaded {len(files)}, rows 0" in p.stderr
    p = pg_load(pg, "--table", "par", "--jobs", "17", "-r", *files, check=False)
    assert p.returncode == 2 and "--jobs" in p.stderr


def test_ch_jobs_and_sorted_blocks(ch, flows):
    files = flows["files"]
    p = ch_load(ch, "--table", "par", "--jobs", "2", "-r", *files, flows["big"], "--stats")
    assert f"files loaded {len(files) + 1}," in p.stderr, p.stderr
    assert ch_totals(ch, "par") == cluster_totals(files + [flows["big"]])
    assert ch.sql("SELECT count() FROM par_files WHERE done") == [[str(len(files) + 1)]]
    # The big file (600000 rows) in INSERTs of one sorted block each: the
    # server found each block sorted (MergeTreeDataWriter skips its sort).
    ev = "SELECT value FROM system.events WHERE event = 'MergeTreeDataWriterBlocksAlreadySorted'"
    before = int((ch.sql(ev) or [["0"]])[0][0])
    ch_load(ch, "--table", "sorted", "-r", flows["big"])
    after = int((ch.sql(ev) or [["0"]])[0][0])
    assert after - before >= 3
    assert ch.sql("SELECT count() FROM sorted") == [["600000"]]


# ---- the archiver loading as files close ----

@pytest.fixture(scope="module")
def stream_120s(tmp_path_factory):
    """120000 generated records over 120 s (one per ms), as `floe read -w -`
    writes them in blocks of 2000 records: 12 files of 10 s each."""
    d = tmp_path_factory.mktemp("arcdb")
    f = d / "gen.floe"
    subprocess.run([GEN, str(f), "20000", "120000"], check=True, capture_output=True)
    p = subprocess.run([FLOE, "read", "-r", str(f), "-w", "-", "--block-records", "2000"],
                       capture_output=True, check=True)
    return split_stream(p.stdout)


def split_stream(data):
    """A floe stream's bytes as (header, [blocks], footer) (docs/format.md)."""
    import struct
    hdr_len = struct.unpack_from("<I", data, 8)[0]
    off, blocks = hdr_len, []
    while data[off:off + 4] == b"FLBK":
        hl = struct.unpack_from("<H", data, off + 4)[0]
        sl = struct.unpack_from("<I", data, off + 32)[0]
        cl = struct.unpack_from("<I", data, off + 40)[0]
        blocks.append(data[off:off + hl + sl + cl])
        off += hl + sl + cl
    assert data[off:off + 4] == b"FLIX"
    assert len(blocks) == 60
    return data[:hdr_len], blocks, data[off:]


def archiver(arc, *args):
    return subprocess.Popen([FLOE, "archive", "--dir", str(arc), "--instance", "a",
                             "--rotate", "10s", "--block-records", "2000", "--stats", *args],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)


def feed(proc, stream, start, end):
    """Blocks [start, end) of the stream: the header before the first, the
    footer after the last (60)."""
    header, blocks, footer = stream
    data = (header if start == 0 else b"") + b"".join(blocks[start:end]) + \
        (footer if end == len(blocks) else b"")
    proc.stdin.write(data)
    proc.stdin.flush()


def closed_files(arc):
    return sorted(str(f) for f in pathlib.Path(arc).rglob("*.floe"))


def ch_db(ch, name):
    ch.sql(f"CREATE DATABASE IF NOT EXISTS {name}")
    return f"http://default:{PASSWORD}@127.0.0.1:{ch.http}/?database={name}"


def pg_db(pg, name):
    pg.sql(f"DROP DATABASE IF EXISTS {name}")
    pg.sql(f"CREATE DATABASE {name}")
    return pg.dsn.replace("dbname=postgres", f"dbname={name}")


def pg_in(pg, db, q):
    env = dict(os.environ, PGPASSWORD=PASSWORD)
    r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "|", "-h", "127.0.0.1", "-p",
                        str(pg.port), "-U", "postgres", "-d", db, "-c", q],
                       capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        return None
    return [line.split("|") for line in r.stdout.splitlines() if line]


def test_archive_loads_each_closed_file_once(pg, ch, stream_120s, tmp_path):
    """Fed by a pipe, with --pg and --clickhouse: every file is loaded as it
    closes, once, into both; the totals are floe cluster's of the archive."""
    arc = tmp_path / "arc"
    dsn, url = pg_db(pg, "arc1"), ch_db(ch, "arc1")
    a = archiver(arc, "--pg", dsn, "--clickhouse", url)
    data = stream_120s
    try:
        feed(a, data, 0, 30)
        # Files closed while the archiver still runs are in both already.
        wait_for(lambda: len(closed_files(arc)) >= 4, what="4 closed files")
        wait_for(lambda: pg_in(pg, "arc1", "SELECT count(*) FROM flows_files") ==
                 [[str(len(closed_files(arc)))]], what="the closed files in PostgreSQL")
        wait_for(lambda: ch.sql("SELECT count() FROM arc1.flows_files WHERE done") ==
                 [[str(len(closed_files(arc)))]], what="the closed files in ClickHouse")
        feed(a, data, 30, 60)
        a.stdin.close()
        err = a.stderr.read().decode()
        assert a.wait(timeout=120) == 0, err
    finally:
        if a.poll() is None:
            a.kill()
    files = closed_files(arc)
    n = str(len(files))
    assert len(files) >= 12
    assert "PostgreSQL: files loaded" in err and "ClickHouse: files loaded" in err
    want = cluster_totals(files)
    got = pg_in(pg, "arc1", "SELECT host(saddr), sum(sbytes + dbytes), sum(spkts + dpkts), "
                "sum(trans) FROM flows GROUP BY 1")
    assert {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in got} == want
    assert ch_totals(ch, "arc1.flows") == want
    assert pg_in(pg, "arc1", "SELECT count(*), count(DISTINCT path) FROM flows_files") == \
        [[n, n]]
    assert ch.sql("SELECT count(), uniqExact(path) FROM arc1.flows_files WHERE done") == \
        [[n, n]]
    assert pg_in(pg, "arc1", "SELECT count(*) FROM flows") == [["120000"]]
    assert ch.sql("SELECT count() FROM arc1.flows") == [["120000"]]


@pytest.mark.parametrize("db", ["pg", "clickhouse"])
def test_archive_database_away(pg, ch, stream_120s, tmp_path, db):
    """The database stops while files close and comes back: the files
    closed meanwhile are loaded, each once.  An archiver started while the
    database is away archives all the same, and the next one catches up."""
    arc = tmp_path / "arc"
    name = "away" + ("pg" if db == "pg" else "ch")
    if db == "pg":
        target = ["--pg", pg_db(pg, name)]

        def nfiles():
            r = pg_in(pg, name, "SELECT count(*) FROM flows_files")
            return int(r[0][0]) if r else -1
        srv = pg
    else:
        target = ["--clickhouse", ch_db(ch, name)]

        def nfiles():
            try:
                return int(ch.sql(f"SELECT count() FROM {name}.flows_files WHERE done")[0][0])
            except (AssertionError, OSError):
                return -1
        srv = ch
    data = stream_120s
    a = archiver(arc, *target)
    try:
        feed(a, data, 0, 20)
        wait_for(lambda: len(closed_files(arc)) >= 2, what="2 closed files")
        wait_for(lambda: nfiles() == len(closed_files(arc)), what="the first files loaded")
        srv.stop()
        try:
            k = len(closed_files(arc))
            feed(a, data, 20, 40)
            wait_for(lambda: len(closed_files(arc)) >= k + 2, what="files closing meanwhile")
            time.sleep(3)   # a failed pass or two, with backoff
        finally:
            srv.start()
        n = len(closed_files(arc))
        wait_for(lambda: nfiles() == n, timeout=90, what=f"{n} files after the restart")
        # Stopped while the database is away: the archiver still closes its
        # file and exits 0; the loading thread gives up its last pass.
        srv.stop()
        try:
            a.stdin.write(data[2])   # the footer: the stream ends
            a.stdin.close()
            err = a.stderr.read().decode()
            assert a.wait(timeout=120) == 0, err
            assert "retrying in" in err
            # A new archiver while the database is away: archiving goes on.
            b = archiver(arc, *target)
            b.stdin.write(data[0])
            feed(b, data, 40, 60)
            b.stdin.close()
            assert b.wait(timeout=120) == 0
        finally:
            srv.start()
    finally:
        if a.poll() is None:
            a.kill()
    files = closed_files(arc)
    assert len(files) >= 12
    assert nfiles() < len(files)
    # The next start catches up on what the ledger lacks (no input at all).
    c = subprocess.run([FLOE, "archive", "--dir", str(arc), "--instance", "a", "--stats",
                        *target], input=data[0] + data[2], capture_output=True, timeout=120)
    assert c.returncode == 0, c.stderr
    assert nfiles() == len(files)
    want = cluster_totals(files)
    if db == "pg":
        got = pg_in(pg, name, "SELECT host(saddr), sum(sbytes + dbytes), sum(spkts + dpkts), "
                    "sum(trans) FROM flows GROUP BY 1")
        assert {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in got} == want
        assert pg_in(pg, name, "SELECT count(*) FROM flows") == [["120000"]]
    else:
        assert ch_totals(ch, f"{name}.flows") == want
        assert ch.sql(f"SELECT count() FROM {name}.flows") == [["120000"]]


def test_archive_db_expire(pg, ch, stream_120s, tmp_path):
    """--db-expire drops the databases' old day partitions (the generated
    records are of 2023: every day is past 30 days)."""
    arc = tmp_path / "arc"
    dsn, url = pg_db(pg, "exp1"), ch_db(ch, "exp1")
    header, blocks, footer = stream_120s
    p = subprocess.run([FLOE, "archive", "--dir", str(arc), "--instance", "a", "--rotate", "10s",
                        "--pg", dsn, "--clickhouse", url, "--stats"],
                       input=header + b"".join(blocks) + footer,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert pg_in(pg, "exp1", "SELECT count(*) FROM flows") == [["120000"]]
    p = subprocess.run([FLOE, "archive", "--dir", str(arc), "--instance", "a", "--pg", dsn,
                        "--clickhouse", url, "--db-expire", "30d", "--stats"],
                       input=header + footer,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert b"partitions dropped 1" in p.stderr
    assert pg_in(pg, "exp1", "SELECT count(*) FROM flows") == [["0"]]
    assert ch.sql("SELECT count() FROM exp1.flows") == [["0"]]
    # The ledger keeps the files: nothing is loaded again.
    assert pg_in(pg, "exp1", "SELECT count(*) FROM flows_files") == \
        [[str(len(closed_files(arc)))]]


def test_archive_db_options(stream_120s, tmp_path):
    p = run("archive", "--dir", tmp_path, "--db-expire", "soon", check=False)
    assert p.returncode == 2 and "--db-expire" in p.stderr
    conf = tmp_path / "floe.conf"
    conf.write_text(f"[archive]\ndir = {tmp_path / 'arc'}\n"
                    'pg = "host=127.0.0.1 port=1 dbname=x connect_timeout=2"\n')
    header, blocks, footer = stream_120s
    p = subprocess.run([FLOE, "archive", "--config", str(conf), "--rotate", "10s"],
                       input=header + b"".join(blocks) + footer, capture_output=True, timeout=60)
    # Archiving goes on without the database; the loading thread says why
    # it loads nothing.
    assert p.returncode == 0, p.stderr
    assert b"PostgreSQL: cannot connect" in p.stderr and b"port 1 failed" in p.stderr
    assert b"archived 120000 records" in p.stderr
