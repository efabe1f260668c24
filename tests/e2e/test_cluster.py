"""floe cluster, sort and bins end to end (docs/aggregate.md).

- exactness: floe cluster against a Python aggregation of floe read's own
  CSV output, for every kind of key and value, on real captures;
- Argus: per-key totals of `floe cluster -m saddr` against `racluster -m
  saddr` on the same captures (skipped without argus); the tools' flows
  differ slightly (test_fidelity.py), so most keys must agree exactly and
  the grand totals closely;
- pipes, sort and top-N, time bins (totals preserved), distinct counts;
- bounded memory: 10M distinct (saddr, daddr) groups under a 64 MB budget
  give the answer of an unlimited run, with peak RSS inside the budget,
  and leave no spill file behind (1M groups under the sanitizers).
"""
import collections
import csv
import io
import ipaddress
import os
import resource
import shutil
import subprocess
import tempfile

import pytest

from conftest import FLOE, PCAPS, run

CAPTURES = [p for p in PCAPS if any(k in p.name for k in (
    "synflood.spoofed", "smb2", "netflix", "ratinfected", "dns_isp_hijack", "v6-http",
    "gnutella", "dhcp_flood"))]
SANITIZED = os.environ.get("FLOE_SANITIZE", "none") not in ("", "none")
GEN = os.environ.get("FLOE_GEN_FLOWS", os.path.join(os.path.dirname(FLOE), "../../bench/gen-flows"))


@pytest.fixture(scope="module")
def floes(tmp_path_factory):
    d = tmp_path_factory.mktemp("cl")
    out = {}
    for p in CAPTURES:
        f = d / (p.stem + ".floe")
        run("capture", "-r", p, "-w", f)
        out[p.name] = f
    return out


def csv_rows(data):
    return list(csv.DictReader(io.StringIO(data.decode())))


def mask(addr, bits):
    a = ipaddress.ip_address(addr)
    if a.version == 4:
        n = ipaddress.ip_network(f"{addr}/{min(bits, 32)}", strict=False)
    else:
        n = ipaddress.ip_network(f"{addr}/{min(bits, 128)}", strict=False)
    return str(n.network_address)


COUNTERS = ["spkts", "dpkts", "sbytes", "dbytes", "trans"]

# (keys as given to -m, python key function over a floe read CSV row)
KEYSETS = [
    ("saddr", lambda r: (r["saddr"],)),
    ("saddr/24", lambda r: (mask(r["saddr"], 24) if r["saddr"] else "",)),
    ("daddr/64", lambda r: (mask(r["daddr"], 64) if r["daddr"] else "",)),
    ("saddr daddr", lambda r: (r["saddr"], r["daddr"])),
    ("proto dport", lambda r: (r["proto"], r["dport"])),
    ("sport", lambda r: (r["sport"],)),
    ("state", lambda r: (r["state"],)),
    ("smac", lambda r: (r["smac"],)),
    ("vlan", lambda r: (r["vlan"],)),
]


@pytest.mark.parametrize("keys,keyfn", KEYSETS, ids=[k for k, _ in KEYSETS])
def test_cluster_equals_python_aggregation(floes, keys, keyfn):
    names = [k.split("/")[0] for k in keys.split()]
    for name, f in floes.items():
        rows = csv_rows(run("read", "-r", f, "-o", "csv", "-n", "-u", "-p", "9", "-s",
                            "saddr,daddr,proto,sport,dport,state,smac,vlan,stime,ltime," + ",".join(COUNTERS)).stdout)
        want = collections.defaultdict(lambda: [0] * len(COUNTERS) + [None, None])
        for r in rows:
            acc = want[keyfn(r)]
            for i, c in enumerate(COUNTERS):
                acc[i] += int(r[c])
            st, lt = float(r["stime"]), float(r["ltime"])
            acc[5] = st if acc[5] is None else min(acc[5], st)
            acc[6] = lt if acc[6] is None else max(acc[6], lt)
        got_rows = csv_rows(run("cluster", "-r", f, "-m", *keys.split(), "-o", "csv", "-n", "-u", "-p", "9",
                                "-s", ",".join(names + COUNTERS + ["stime", "ltime"])).stdout)
        got = {}
        for r in got_rows:
            k = tuple(r[n] for n in names)
            assert k not in got, f"{name}: group {k} printed twice"
            got[k] = [int(r[c]) for c in COUNTERS] + [float(r["stime"]), float(r["ltime"])]
        assert got == {k: v for k, v in want.items()}, f"{name} -m {keys}"


def test_pct_and_dcount(floes):
    f = floes[next(n for n in floes if "smb2" in n)]
    rows = csv_rows(run("read", "-r", f, "-o", "csv", "-n", "-s", "saddr,daddr,dport,bytes").stdout)
    total = sum(int(r["bytes"]) for r in rows)
    peers = collections.defaultdict(set)
    ports = collections.defaultdict(set)
    by = collections.Counter()
    for r in rows:
        peers[r["saddr"]].add(r["daddr"])
        ports[r["saddr"]].add(r["dport"])
        by[r["saddr"]] += int(r["bytes"])
    got = csv_rows(run("cluster", "-r", f, "-m", "saddr", "-o", "csv", "-n", "-s", "saddr", "bytes", "%bytes",
                       "dcount(daddr)", "dcount(dport)").stdout)
    assert len(got) == len(peers)
    for r in got:
        s = r["saddr"]
        assert int(r["dcount(daddr)"]) == len(peers[s])
        assert int(r["dcount(dport)"]) == len(ports[s])
        assert abs(float(r["pct(bytes)"]) - 100.0 * by[s] / total) < 0.006
    assert abs(sum(float(r["pct(bytes)"]) for r in got) - 100) < 0.01 * len(got) + 0.01


def test_dcount_estimate_on_many_values(tmp_path):
    """One source, 300000 distinct destinations: HyperLogLog within 2 %."""
    g = tmp_path / "g.floe"
    subprocess.run([GEN, g, "300000"], check=True)
    # gen-flows: saddr = g / 1000, daddr = g % 1000: count distinct (saddr, daddr) via saddr/8
    out = csv_rows(run("cluster", "-r", g, "-m", "saddr/8", "-o", "csv", "-s", "trans", "dcount(saddr)",
                       "dcount(daddr)", "dcount(sport)").stdout)
    assert len(out) == 1
    r = out[0]
    assert int(r["trans"]) == 300000
    assert int(r["dcount(daddr)"]) == 1000           # exact while small
    assert abs(int(r["dcount(saddr)"]) - 300) == 0   # exact
    assert abs(int(r["dcount(sport)"]) - 50000) / 50000 < 0.02


def test_flow_merge_like_racluster(floes):
    """No -m: the records of one flow (status intervals) become one."""
    for name, f in floes.items():
        rows = csv_rows(run("read", "-r", f, "-o", "csv", "-n", "-s",
                            "proto,saddr,sport,daddr,dport,vlan,pkts,bytes").stdout)
        want = collections.Counter()
        for r in rows:
            want[(r["proto"], r["saddr"], r["sport"], r["daddr"], r["dport"], r["vlan"])] += int(r["bytes"])
        got = csv_rows(run("cluster", "-r", f, "-o", "csv", "-n", "-s",
                           "proto,saddr,sport,daddr,dport,vlan,bytes").stdout)
        assert len(got) == len(want), name
        assert {(r["proto"], r["saddr"], r["sport"], r["daddr"], r["dport"], r["vlan"]): int(r["bytes"])
                for r in got} == dict(want), name


@pytest.mark.skipif(not shutil.which("argus") or not shutil.which("racluster"), reason="argus not installed")
def test_cluster_against_racluster(floes, tmp_path):
    """Per-source totals as racluster -m saddr prints them."""
    agree = total = 0
    for p in CAPTURES:
        if "dhcp_flood" in p.name:
            continue  # floe does not meter the non-IP frames in it (test_fidelity.py)
        a = tmp_path / (p.stem + ".argus")
        subprocess.run(["argus", "-r", p, "-w", a], check=True, capture_output=True)
        rc = subprocess.run(["racluster", "-r", a, "-m", "saddr", "-n", "-c", ",", "-s", "saddr", "spkts",
                             "dpkts", "sbytes", "dbytes"], check=True, capture_output=True)
        theirs = {r["SrcAddr"]: tuple(int(r[k]) for k in ("SrcPkts", "DstPkts", "SrcBytes", "DstBytes"))
                  for r in csv_rows(rc.stdout) if r["SrcAddr"]}
        ours = {r["saddr"]: tuple(int(r[k]) for k in ("spkts", "dpkts", "sbytes", "dbytes"))
                for r in csv_rows(run("cluster", "-r", floes[p.name], "-m", "saddr", "-o", "csv", "-n",
                                      "-s", "saddr", "spkts", "dpkts", "sbytes", "dbytes").stdout)}
        keys = set(theirs) | set(ours)
        total += len(keys)
        agree += sum(1 for k in keys if theirs.get(k) == ours.get(k))
        # grand totals: the same packets, give or take the flows the tools
        # cut or orient differently
        tp = sum(v[0] + v[1] for v in theirs.values())
        op = sum(v[0] + v[1] for v in ours.values())
        assert abs(tp - op) <= max(10, 0.02 * tp), f"{p.name}: packets {op} vs racluster {tp}"
    assert agree / total >= 0.97, f"{agree} of {total} sources agree with racluster"


def test_pipe_cluster_sort_top(floes):
    f = floes[next(n for n in floes if "synflood" in n)]
    piped = run("cluster", "-r", f, "-m", "saddr", "-w", "-").stdout
    top = run("sort", "-r", "-", "--top", "10", "-s", "saddr", "bytes", "-o", "csv", stdin=piped).stdout
    direct = run("cluster", "-r", f, "-m", "saddr", "--top", "10", "-s", "saddr", "bytes", "-o", "csv").stdout
    full = run("cluster", "-r", f, "-m", "saddr", "--sort", "bytes", "-s", "saddr", "bytes", "-o", "csv").stdout
    # the same byte counts; which of the groups that tie is the piped
    # sort's input order, cluster's is by key (saddr ascending)
    assert [r["bytes"] for r in csv_rows(top)] == [r["bytes"] for r in csv_rows(direct)]
    assert csv_rows(direct) == csv_rows(full)[:10]
    assert sorted(csv_rows(direct), key=lambda r: (-int(r["bytes"]), ipaddress.ip_address(r["saddr"]))) == \
        csv_rows(direct)
    vals = [int(r["bytes"]) for r in csv_rows(full)]
    assert vals == sorted(vals, reverse=True)


def test_sort_keys_and_directions(floes):
    f = floes[next(n for n in floes if "smb2" in n)]
    for spec, keyfn, rev in [
        (["bytes"], lambda r: int(r["bytes"]), True),
        (["bytes:asc"], lambda r: int(r["bytes"]), False),
        (["dport", "sport:desc"], lambda r: (int(r["dport"]), -int(r["sport"])), False),
    ]:
        rows = csv_rows(run("sort", "-r", f, "-m", *spec, "-o", "csv", "-n", "-s", "sport,dport,bytes").stdout)
        keys = [keyfn(r) for r in rows]
        assert keys == sorted(keys, reverse=rev), spec
        top = csv_rows(run("sort", "-r", f, "-m", *spec, "--top", "5", "-o", "csv", "-n",
                           "-s", "sport,dport,bytes").stdout)
        assert top == rows[:5]


def test_bins_preserve_totals(floes):
    for name, f in floes.items():
        rows = csv_rows(run("read", "-r", f, "-o", "csv", "-s", "pkts,bytes,trans").stdout)
        for b in ("1s", "7s", "1m"):
            got = csv_rows(run("bins", "-r", f, "-b", b, "-o", "csv", "-u", "-s", "stime,trans,pkts,bytes").stdout)
            for k in ("pkts", "bytes", "trans"):
                assert sum(int(r[k]) for r in got) == sum(int(r[k]) for r in rows), (name, b, k)
            times = [float(r["stime"]) for r in got]
            assert times == sorted(times) and len(set(times)) == len(times)


def test_default_columns(floes):
    """Every command prints something sensible with no -s."""
    f = next(iter(floes.values()))
    heads = {
        ("cluster",): "StartTime Dur Proto SrcAddr Sport Dir DstAddr Dport SrcPkts DstPkts SrcBytes DstBytes State Trans",
        ("cluster", "-m", "saddr/24", "dport"): "StartTime Dur SrcAddr Dport Trans TotPkts TotBytes",
        ("bins", "-b", "10s"): "StartTime Trans TotPkts TotBytes Load",
        ("bins", "-b", "1m", "-m", "proto"): "StartTime Proto Trans TotPkts TotBytes Load",
        ("sort", "-m", "bytes"): "StartTime Dur Proto SrcAddr Sport Dir DstAddr Dport SrcPkts DstPkts SrcBytes DstBytes State",
    }
    for args, head in heads.items():
        out = run(args[0], "-r", f, *args[1:]).stdout.decode().splitlines()
        assert out and out[0].split() == head.split(), args
        assert len(out) > 1, args


def test_bad_usage():
    assert run("cluster", "-r", "/dev/null", "-m", "nosuch", check=False).returncode == 2
    assert run("cluster", "-r", "/dev/null", "-m", "saddr/200", check=False).returncode == 2
    assert run("cluster", "-r", "/dev/null", "-s", "pct(saddr)", check=False).returncode == 2
    assert run("cluster", "-r", "/dev/null", "--memory", "1k", check=False).returncode == 2
    assert run("sort", "-r", "/dev/null", check=False).returncode == 2
    assert run("bins", "-r", "/dev/null", check=False).returncode == 2


def checksum(cmd, env=None):
    """Runs cmd, returns (lines, order-independent checksum of its output)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    n = s = 0
    for line in p.stdout:
        n += 1
        s = (s + hash(line)) & 0xFFFFFFFFFFFFFFFF
    assert p.wait() == 0
    return n, s


def test_ten_million_groups_in_64mb(tmp_path):
    groups = 1_000_000 if SANITIZED else 10_000_000
    g = tmp_path / "g.floe"
    subprocess.run([GEN, g, str(groups), str(groups + groups // 5)], check=True)
    spill = tmp_path / "spill"
    spill.mkdir()
    env = dict(os.environ, TMPDIR=str(spill))
    cmd = [FLOE, "cluster", "-r", str(g), "-m", "saddr", "daddr", "-s", "saddr", "daddr", "trans", "bytes",
           "-o", "csv", "--no-header"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    n1, s1 = checksum(cmd + ["--memory", "64M"], env)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert not list(spill.iterdir()), "spill files left behind"
    n2, s2 = checksum(cmd + ["--memory", "16G"])
    assert n1 == n2 == groups
    assert s1 == s2
    # 64 MB for everything: the operator's budget is 32 MB, the rest is the
    # reader and the binary.  ASan's shadow memory does not count.
    if not SANITIZED and peak_kb > before:
        assert peak_kb <= 64 * 1024 + 8 * 1024, f"peak RSS {peak_kb} KB over 64 MB + 8 MB"


def test_external_sort_in_16mb(tmp_path):
    """A full sort larger than --memory writes sorted runs and merges them:
    the same output as in memory, stable (ties in input order), bounded."""
    records = 200_000 if SANITIZED else 1_500_000
    g = tmp_path / "g.floe"
    subprocess.run([GEN, g, str(records // 3), str(records)], check=True)
    spill = tmp_path / "spill"
    spill.mkdir()
    env = dict(os.environ, TMPDIR=str(spill))
    cmd = [FLOE, "sort", "-r", str(g), "-m", "bytes", "daddr:asc", "-s", "stime", "saddr", "daddr", "bytes",
           "-o", "csv", "--no-header"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    small = subprocess.run(cmd + ["--memory", "16M"], env=env, capture_output=True, check=True).stdout
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert not list(spill.iterdir()), "run files left behind"
    big = subprocess.run(cmd + ["--memory", "8G"], capture_output=True, check=True).stdout
    assert small.count(b"\n") == records
    assert small == big
    if not SANITIZED and peak_kb > before:
        assert peak_kb <= 16 * 1024 + 24 * 1024, f"peak RSS {peak_kb} KB over 16 MB + 24 MB"


def test_spill_files_cleaned_on_error(tmp_path):
    """A failing run (unwritable output) leaves no spill file either."""
    g = tmp_path / "g.floe"
    subprocess.run([GEN, g, "300000"], check=True)
    spill = tmp_path / "spill"
    spill.mkdir()
    env = dict(os.environ, TMPDIR=str(spill))
    p = subprocess.run([FLOE, "cluster", "-r", str(g), "-m", "saddr", "daddr", "--memory", "16M",
                        "-w", str(tmp_path / "no" / "such" / "dir.floe")], env=env, capture_output=True)
    assert p.returncode == 1
    p = subprocess.run([FLOE, "cluster", "-r", str(g), "-m", "saddr", "daddr", "--memory", "16M",
                        "--stats"], env=env, capture_output=True)
    assert p.returncode == 0 and b"spills 0" not in p.stderr
    assert not list(spill.iterdir())


def is_local(addr, nets):
    return bool(addr) and any(ipaddress.ip_address(addr) in n for n in nets)


def test_local_in_out(floes):
    """Per local host in/out accounting, whoever initiated."""
    spec = "172.16.0.0/12,192.168.0.0/16,10.0.0.0/8"
    nets = [ipaddress.ip_network(n) for n in spec.split(",")]
    for name, f in floes.items():
        want = collections.defaultdict(lambda: [0, 0, 0, 0])
        for r in csv_rows(run("read", "-r", f, "-o", "csv", "-n", "-s",
                              "saddr,daddr,spkts,dpkts,sbytes,dbytes").stdout):
            flip = is_local(r["daddr"], nets) and not is_local(r["saddr"], nets)
            loc = r["daddr"] if flip else r["saddr"]
            out_b, in_b = (int(r["dbytes"]), int(r["sbytes"])) if flip else (int(r["sbytes"]), int(r["dbytes"]))
            out_p, in_p = (int(r["dpkts"]), int(r["spkts"])) if flip else (int(r["spkts"]), int(r["dpkts"]))
            acc = want[loc]
            acc[0] += in_b
            acc[1] += out_b
            acc[2] += in_p
            acc[3] += out_p
        got = {r["laddr"]: [int(r[k]) for k in ("inbytes", "outbytes", "inpkts", "outpkts")]
               for r in csv_rows(run("cluster", "-r", f, "--local", spec, "-m", "laddr", "-o", "csv", "-n", "-s",
                                     "laddr", "inbytes", "outbytes", "inpkts", "outpkts").stdout)}
        assert got == dict(want), name
    assert run("cluster", "-r", f, "-m", "laddr", check=False).returncode == 2  # needs --local
    assert run("read", "-r", f, "inbytes > 10", check=False).returncode != 0    # not a filter field


def split_pcap(src, a, b, src_addr):
    """Writes the IPv4 frames from src_addr to a, all others to b (two taps)."""
    import struct
    data = src.read_bytes()
    end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    prefix = ipaddress.ip_address(src_addr).packed
    with open(a, "wb") as fa, open(b, "wb") as fb:
        fa.write(data[:24])
        fb.write(data[:24])
        off = 24
        while off + 16 <= len(data):
            caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
            pkt = data[off:off + 16 + caplen]
            frame = pkt[16:]
            mine = len(frame) >= 30 and frame[12:14] == b"\x08\x00" and frame[26:30] == prefix
            (fa if mine else fb).write(pkt)
            off += 16 + caplen


@pytest.mark.parametrize("capture,client", [("http_espn.pcap", "172.16.0.122"), ("smb2.pcap", "10.0.0.11")])
def test_merge_two_taps(tmp_path, capture, client):
    """Each direction captured apart, metered apart, merged: the flows of the
    whole capture come back."""
    src = next((p for p in PCAPS if p.name.endswith(capture)), None)
    if src is None:
        pytest.skip(f"{capture} not in the shared data")
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    split_pcap(src, a, b, client)
    for x in (a, b):
        run("capture", "-r", x, "-w", x.with_suffix(".floe"))
    cols = "proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes"
    merged = csv_rows(run("merge", a.with_suffix(".floe"), b.with_suffix(".floe"), "-o", "csv", "-n",
                          "-s", cols).stdout)
    metered = run("capture", "-r", src, "-w", "-").stdout
    whole = csv_rows(run("cluster", "-r", "-", "-o", "csv", "-n", "-s", cols, stdin=metered).stdout)
    key = lambda r: (r["proto"], r["saddr"], r["sport"], r["daddr"], r["dport"])
    val = lambda r: tuple(int(r[k]) for k in ("spkts", "dpkts", "sbytes", "dbytes"))
    m = collections.Counter()
    w = collections.Counter()
    for r in merged:
        m[key(r)] = tuple(x + y for x, y in zip(m.get(key(r), (0, 0, 0, 0)), val(r)))
    for r in whole:
        w[key(r)] = tuple(x + y for x, y in zip(w.get(key(r), (0, 0, 0, 0)), val(r)))
    same = sum(1 for k in w if m.get(k) == w[k])
    assert same >= 0.95 * len(w), f"{same} of {len(w)} flows rebuilt"
    assert sum(sum(v[:2]) for v in m.values()) == sum(sum(v[:2]) for v in w.values())
