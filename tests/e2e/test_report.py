"""floe report end to end (docs/report.md), on an archive of real captures.

- daily: every host's Tot/Out/In/Flows equals what `floe cluster -m saddr`
  and `-m daddr` say of it; each host's peers equal `floe cluster -m saddr
  daddr` (both orientations) and are its top M; each peer's ports follow
  the documented service-port rule (from `floe read`); out + in + internal
  + transit = total and each matches a Python sum over `floe read`;
  --top/--peers/--ports bound the output; --notes labels the most specific
  prefix; a tiny --memory spills and gives the same report; HTML parses
  and references nothing outside the file; JSON loads;
- accounting: per customer and UTC day against a Python apportioning of
  `floe read` rows; CSV and JSON agree with text;
- ports, talkers, broadcast: against Python sums over `floe read`.
"""
import collections
import csv
import html.parser
import io
import ipaddress
import json
import os
import pathlib
import subprocess

import pytest

from conftest import FLOE, SHARED, run

P = SHARED / "pcaps"
CAPTURES = [P / n for n in (
    "chrissanders_packets__http_espn.pcap",
    "ntop_nDPI__tests_cfgs_default_pcap_dropbox.pcap",
    "ntop_nDPI__tests_cfgs_default_pcap_wechat.pcap",
    "markofu_pcaps__CounterHack_HackChallenge_Cmas2011.pcap",
    "zeek_zeek__testing_btest_Traces_dhcp_dhcp_flood.pcap",
    "zeek_zeek__testing_btest_Traces_dns_mdns.pcap",
    "arkime_arkime__tests_pcap_v6-http.pcap",
    "StopDDoS_packet-captures__pkt.TCP.synflood.spoofed.pcap",
    "zeek_zeek__testing_btest_Traces_smb_smb2.pcap",
)]
LOCAL = "192.168.0.0/16,10.0.0.0/8,172.16.0.0/12,fe80::/10"
LOCAL_NETS = [ipaddress.ip_network(n) for n in LOCAL.split(",")]
DATA = pathlib.Path(os.environ.get("FLOE_TEST_DATA", pathlib.Path(__file__).resolve().parents[1] / "data"))
UTC = dict(os.environ, TZ="UTC0")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    ar = d / "ar"
    for pc in CAPTURES:
        run("capture", "-r", pc, "--archive", ar, "--instance", "lnk", "--rotate", "1h",
            "--block-records", "50")
    return ar


def key(a):
    """Sort key of an address as floe orders them (16 bytes, IPv4 v4-mapped)."""
    ip = ipaddress.ip_address(a)
    if ip.version == 4:
        ip = ipaddress.IPv6Address("::ffff:" + a)
    return ip.packed


def is_local(a):
    ip = ipaddress.ip_address(a)
    return any(ip.version == n.version and ip in n for n in LOCAL_NETS)


def cluster(ar, keys, cols):
    p = run("cluster", "-R", ar, "-m", *keys, "-s", *cols, "-o", "csv", "--memory", "64M")
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def read(ar):
    p = run("read", "-R", ar, "-o", "csv", "-u", "-p", "9", "-s",
            "stime,ltime,saddr,daddr,sport,dport,proto,dir,spkts,dpkts,sbytes,dbytes", env=UTC)
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def daily(ar, *args, fmt="json", check=True):
    p = run("report", "daily", "-R", ar, "--local", LOCAL, "-o", fmt, *args, check=check)
    return json.loads(p.stdout) if fmt == "json" and check else p


def host_totals(ar):
    """Per host [out, in, flows] from floe cluster -m saddr and -m daddr."""
    t = collections.defaultdict(lambda: [0, 0, 0])
    for r in cluster(ar, ["saddr"], ["saddr", "sbytes", "dbytes", "trans"]):
        h = t[r["saddr"]]
        h[0] += int(r["sbytes"])
        h[1] += int(r["dbytes"])
        h[2] += int(r["trans"])
    for r in cluster(ar, ["daddr"], ["daddr", "sbytes", "dbytes", "trans"]):
        h = t[r["daddr"]]
        h[0] += int(r["dbytes"])
        h[1] += int(r["sbytes"])
        h[2] += int(r["trans"])
    return t


def test_hosts_equal_cluster(archive):
    """With --top larger than the number of hosts every host is listed, each
    with the totals floe cluster gives, ranked by total then address."""
    t = host_totals(archive)
    rep = daily(archive, "--top", "100000", "--peers", "1", "--ports", "1")
    assert rep["hosts_seen"] == len(t) == len(rep["hosts"])
    for h in rep["hosts"]:
        out, inn, flows = t[h["addr"]]
        assert (h["bytes"]["out"], h["bytes"]["in"], h["flows"]) == (out, inn, flows), h["addr"]
        assert h["bytes"]["total"] == out + inn
        assert h["local"] == is_local(h["addr"])
    ranked = sorted(t, key=lambda a: (-(t[a][0] + t[a][1]), key(a)))
    assert [h["addr"] for h in rep["hosts"]] == ranked


def test_header_totals(archive):
    """out + in + internal + transit = total, each as the documented rule
    sums floe read's records."""
    rows = read(archive)
    want = collections.Counter()
    for r in rows:
        sb, db = int(r["sbytes"]), int(r["dbytes"])
        ls, ld = is_local(r["saddr"]), is_local(r["daddr"])
        want["total"] += sb + db
        if ls and ld:
            want["internal"] += sb + db
        elif ls:
            want["out"] += sb
            want["in"] += db
        elif ld:
            want["out"] += db
            want["in"] += sb
        else:
            want["transit"] += sb + db
    rep = daily(archive, "--top", "3")
    b = rep["bytes"]
    assert b["out"] + b["in"] + b["internal"] + b["transit"] == b["total"]
    assert {k: b[k] for k in ("total", "out", "in", "internal", "transit")} == \
        {k: want[k] for k in ("total", "out", "in", "internal", "transit")}
    assert rep["records"] == len(rows)
    assert all(want[k] for k in ("out", "in", "internal", "transit")), "every class is exercised"


def service_port(r):
    proto, sp, dp = r["proto"], int(r["sport"] or 0), int(r["dport"] or 0)
    if proto in ("icmp", "ipv6-icmp"):
        return proto, sp
    if proto in ("tcp", "udp", "sctp"):
        return proto, sp if "?" in r["dir"] and sp < dp else dp
    return proto, 0


def test_peers_and_ports(archive):
    """Each top host's peers are its top M by total (floe cluster -m saddr
    daddr, both orientations); ports per peer follow the service-port rule;
    shown ports plus other_ports give the peer's totals."""
    pairs = collections.defaultdict(lambda: [0, 0, 0])
    for r in cluster(archive, ["saddr", "daddr"], ["saddr", "daddr", "sbytes", "dbytes", "trans"]):
        s, d, sb, db, n = r["saddr"], r["daddr"], int(r["sbytes"]), int(r["dbytes"]), int(r["trans"])
        for k, (h, p, o, i) in enumerate(((s, d, sb, db), (d, s, db, sb))):
            if k and s == d:
                continue
            x = pairs[h, p]
            x[0] += o
            x[1] += i
            x[2] += n
    ports = collections.defaultdict(lambda: [0, 0])
    for r in read(archive):
        sb, db = int(r["sbytes"]), int(r["dbytes"])
        pp = service_port(r)
        ports[r["saddr"], r["daddr"], pp][0] += sb
        ports[r["saddr"], r["daddr"], pp][1] += db
        if r["saddr"] != r["daddr"]:
            ports[r["daddr"], r["saddr"], pp][0] += db
            ports[r["daddr"], r["saddr"], pp][1] += sb
    rep = daily(archive, "--top", "8", "--peers", "4", "--ports", "2")
    assert len(rep["hosts"]) == 8
    for h in rep["hosts"]:
        a = h["addr"]
        mine = {p: v for (x, p), v in pairs.items() if x == a}
        ranked = sorted(mine, key=lambda p: (-(mine[p][0] + mine[p][1]), key(p)))[:4]
        assert [p["addr"] for p in h["peers"]] == ranked, a
        for p in h["peers"]:
            o, i, n = mine[p["addr"]]
            assert (p["bytes"]["out"], p["bytes"]["in"], p["flows"]) == (o, i, n)
            want = {pp: v for (x, y, pp), v in ports.items() if x == a and y == p["addr"]}
            top = sorted(want, key=lambda pp: (-sum(want[pp]), pp[1]))[:2]
            got = [(q["name"].split("/")[0], q["port"]) for q in p["ports"]]
            assert len(got) == len(top)
            for q in p["ports"]:
                pn = ("ipv6-icmp" if q["name"].startswith("icmp6") else q["name"].split("/")[0], q["port"])
                assert [q["bytes"]["out"], q["bytes"]["in"]] == want[pn], (a, p["addr"], pn)
            assert sorted(sum(want[x]) for x in top) == sorted(q["bytes"]["total"] for q in p["ports"])
            shown = [sum(q["bytes"][k] for q in p["ports"]) for k in ("out", "in")]
            assert shown[0] + p["other_ports"]["bytes"]["out"] == o
            assert shown[1] + p["other_ports"]["bytes"]["in"] == i


def test_limits_bound_the_output(archive):
    rep = daily(archive, "--top", "2", "--peers", "1", "--ports", "1")
    assert rep["limits"] == {"top": 2, "peers": 1, "ports": 1}
    assert len(rep["hosts"]) == 2
    assert all(len(h["peers"]) == 1 and len(h["peers"][0]["ports"]) <= 1 for h in rep["hosts"])
    text = daily(archive, "--top", "2", "--peers", "1", "--ports", "1", fmt="text").stdout.decode()
    ranks = [ln for ln in text.splitlines() if ln[:4].strip().isdigit()]
    assert [ln.split()[0] for ln in ranks] == ["1", "2"]


def test_text_layout(archive):
    """Thousands separators, human sizes, the header lines, a note under its host."""
    notes = DATA / "report" / "notes.txt"
    text = daily(archive, "--top", "5", "--notes", notes, fmt="text").stdout.decode()
    lines = text.splitlines()
    for name in ("Total", "Out", "In", "Internal", "Transit"):
        assert any(ln.split()[:1] == [name] for ln in lines), name
    assert "," in text and " kB" in text
    rep = daily(archive, "--top", "5", "--notes", notes)
    for h in rep["hosts"]:
        if h["note"]:
            i = next(k for k, ln in enumerate(lines) if ln.split()[1:2] == [h["addr"]])
            assert lines[i + 1].strip() == "= " + h["note"]


def test_notes_most_specific(archive, tmp_path):
    rep = daily(archive, "--top", "3")
    top = rep["hosts"][0]["addr"]
    net = ipaddress.ip_network(top + ("/24" if ":" not in top else "/64"), strict=False)
    n = tmp_path / "notes"
    n.write_text(f"# site notes\n{net}  the whole subnet\n{top}   campus web server \n"
                 f"{net.supernet(8)} wider\n")
    rep = daily(archive, "--top", "3", "--notes", n)
    assert rep["hosts"][0]["note"] == "campus web server"
    for h in rep["hosts"][1:]:
        ip = ipaddress.ip_address(h["addr"])
        want = "the whole subnet" if ip.version == net.version and ip in net else \
            "wider" if ip.version == net.version and ip in net.supernet(8) else None
        assert h["note"] == want
    n.write_text(f"{top} a\n{top} b\n")
    p = daily(archive, "--notes", n, check=False)
    assert p.returncode == 2 and "line 2" in p.stderr


def test_tiny_memory_same_report(tmp_path):
    """A scan of 150k addresses: with --memory 16M the per-host and
    per-peer aggregates spill, and the report is the one of 1G."""
    scan = tmp_path / "scan.pcap"
    subprocess.run(["python3", str(SHARED.parent / "bench" / "gen-scan.py"), scan, "150000"], check=True)
    f = tmp_path / "scan.floe"
    run("capture", "-r", scan, "-w", f)
    spill = tmp_path / "spill"
    spill.mkdir()
    env = dict(os.environ, TMPDIR=str(spill))
    outs = []
    for mem in ("16M", "1G"):
        p = run("report", "daily", "-r", f, "--local", "10.0.0.0/8", "-o", "json", "--memory", mem, "--stats",
                env=env)
        spills = int(p.stderr.split("spills ")[1].split(",")[0])
        assert (spills > 0) == (mem == "16M"), p.stderr
        outs.append(p.stdout)
    assert outs[0] == outs[1]
    assert not list(spill.iterdir()), "spill files left behind"
    rep = json.loads(outs[0])
    assert rep["hosts_seen"] == 150001 and rep["hosts"][0]["addr"] == "192.0.2.66"
    assert rep["hosts"][0]["flows"] == 150000


class Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.refs, self.tags = [], [], collections.Counter()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        for k, v in attrs:
            if k in ("href", "src", "action", "xmlns", "data") and v and not v.startswith("#"):
                self.refs.append(v)
        if tag not in ("meta", "br", "polyline", "link", "img", "input"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] += 1

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def test_html_self_contained(archive, tmp_path):
    out = tmp_path / "r.html"
    notes = DATA / "report" / "notes.txt"
    run("report", "daily", "-R", archive, "--local", LOCAL, "--top", "6", "--notes", notes, "-o", "html",
        "-w", out)
    text = out.read_text()
    c = Checker()
    c.feed(text)
    c.close()
    assert not c.stack and not c.refs
    assert c.tags["svg"] == 6 and c.tags["script"] == 1 and c.tags["style"] == 1
    assert "http:" not in text and "https:" not in text and "@import" not in text and "url(" not in text
    assert "&lt;" in text or "<" not in open(notes).read()


def test_write_replaces_whole(archive, tmp_path):
    out = tmp_path / "r.txt"
    out.write_text("old")
    run("report", "daily", "-R", archive, "--local", LOCAL, "-w", out)
    assert out.read_text().startswith("floe daily traffic report")
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_period_and_time_range(archive):
    rows = read(archive)
    first = min(int(r["stime"].replace(".", "")) for r in rows)
    rep = daily(archive)
    assert rep["period"]["start_ns"] == first
    p = run("report", "daily", "-R", archive, "--local", LOCAL, "-t", "2011-12-25/+1d", "-o", "json")
    r2 = json.loads(p.stdout)
    assert r2["period"]["start"] == "2011-12-25T00:00:00Z" and r2["period"]["end"] == "2011-12-26T00:00:00Z"
    assert 0 < r2["records"] < rep["records"]
    assert sum(r2["hosts"][0]["bins"]) <= r2["hosts"][0]["bytes"]["total"]


def apportion(v, st, lt, day):
    """The report's rule: v spread over UTC days by time, cumulative rounding."""
    D = 86400 * 10**9
    if lt <= st:
        return {st // D: v}
    out, dur = {}, lt - st
    for d in range(st // D, (lt - 1) // D + 1):
        c0, c1 = max(d * D, st) - st, min((d + 1) * D, lt) - st
        out[d] = v * c1 // dur - v * c0 // dur
    return out


def test_accounting(archive, tmp_path):
    cust = tmp_path / "customers"
    cust.write_text("# name  prefixes\nlan 192.168.0.0/16 fe80::/10\nwebsrv 192.168.1.10  # most specific\n"
                    "corp 172.16.0.0/12 10.0.0.0/8\n")
    nets = [("lan", ipaddress.ip_network("192.168.0.0/16")), ("lan", ipaddress.ip_network("fe80::/10")),
            ("websrv", ipaddress.ip_network("192.168.1.10/32")), ("corp", ipaddress.ip_network("172.16.0.0/12")),
            ("corp", ipaddress.ip_network("10.0.0.0/8"))]

    def who(a):
        ip = ipaddress.ip_address(a)
        best = None
        for name, n in nets:
            if ip.version == n.version and ip in n and (best is None or n.prefixlen > best[1]):
                best = (name, n.prefixlen)
        return best and best[0]

    want = collections.defaultdict(lambda: [0, 0])
    for r in read(archive):
        cs, cd = who(r["saddr"]), who(r["daddr"])
        if cs == cd:
            continue
        st, lt = (int(r[k].replace(".", "")) for k in ("stime", "ltime"))
        for c, o, i in ((cs, int(r["sbytes"]), int(r["dbytes"])), (cd, int(r["dbytes"]), int(r["sbytes"]))):
            if c:
                for d, v in apportion(o, st, lt, None).items():
                    want[d, c][0] += v
                for d, v in apportion(i, st, lt, None).items():
                    want[d, c][1] += v
    p = run("report", "accounting", "-R", archive, "--customers", cust, "-o", "csv")
    got = {}
    import datetime
    for r in csv.DictReader(io.StringIO(p.stdout.decode())):
        d = (datetime.date.fromisoformat(r["day"]) - datetime.date(1970, 1, 1)).days
        got[d, r["customer"]] = [int(r["out"]), int(r["in"])]
        assert int(r["total"]) == int(r["out"]) + int(r["in"])
    want = {k: v for k, v in want.items() if v != [0, 0] or k in got}
    assert got == want
    assert {c for _, c in got} == {"lan", "websrv", "corp"}
    j = json.loads(run("report", "accounting", "-R", archive, "--customers", cust, "-o", "json").stdout)
    assert len(j["rows"]) == len(got)
    # -t: only the days of the range, each with the same numbers
    day = max(got)[0]
    iso = (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()
    p = run("report", "accounting", "-R", archive, "--customers", cust, "-o", "csv", "-t", f"{iso}/+1d")
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    assert rows and {r["day"] for r in rows} == {iso}
    assert {r["customer"]: [int(r["out"]), int(r["in"])] for r in rows} == \
        {c: v for (d, c), v in got.items() if d == day}
    bad = tmp_path / "bad"
    bad.write_text("a 10.0.0.0/8\nb 10.0.0.0/8\n")
    p = run("report", "accounting", "-R", archive, "--customers", bad, check=False)
    assert p.returncode == 2 and "line 2" in p.stderr


def test_ports(archive):
    want = collections.Counter()
    for r in read(archive):
        want[service_port(r)] += int(r["sbytes"]) + int(r["dbytes"])
    j = json.loads(run("report", "ports", "-R", archive, "--top", "5", "-o", "json").stdout)
    top = sorted(want.values(), reverse=True)[:5]
    assert [p["bytes"] for p in j["by_bytes"]] == top
    assert len(j["by_rate"]) == 5
    assert [p["rate_bps"] for p in j["by_rate"]] == sorted((p["rate_bps"] for p in j["by_rate"]), reverse=True)


def test_talkers(archive):
    per = collections.defaultdict(collections.Counter)
    for r in read(archive):
        ip = ipaddress.ip_address(r["saddr"])
        net = ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False)
        per[str(net)][r["saddr"]] += int(r["sbytes"]) + int(r["dbytes"])
    j = json.loads(run("report", "talkers", "-R", archive, "--top", "3", "--ports", "2", "-o", "json").stdout)
    nets = sorted(per, key=lambda n: -sum(per[n].values()))[:3]
    assert [s["subnet"] for s in j["subnets"]] == nets
    for s in j["subnets"]:
        assert s["bytes"] == sum(per[s["subnet"]].values())
        assert [x["bytes"] for x in s["sources"]] == sorted(per[s["subnet"]].values(), reverse=True)[:2]


def test_broadcast(archive):
    want = collections.Counter()
    for r in read(archive):
        ip = ipaddress.ip_address(r["daddr"])
        if ip.is_multicast or r["daddr"] == "255.255.255.255":
            want[r["saddr"]] += int(r["sbytes"]) + int(r["dbytes"])
    j = json.loads(run("report", "broadcast", "-R", archive, "--top", "50", "-o", "json").stdout)
    got = {s["saddr"]: s["bytes"] for s in j["senders"]}
    # by address at least these; MAC broadcasts (directed) may add more
    for a, v in want.items():
        if a in got:
            assert got[a] >= v
    top = sorted(want.values(), reverse=True)[:3]
    assert all(v in got.values() or v <= max(got.values()) for v in top)
    assert len(j["senders"]) <= 50


def test_usage_errors(archive):
    for args in (["daily", "-r", "-"], ["nosuch", "-R", archive], ["daily", "-R", archive, "-o", "csv"],
                 ["accounting", "-R", archive], ["ports", "-R", archive, "--peers", "3"],
                 ["daily", "-R", archive, "-m", "saddr"], ["talkers", "-R", archive, "--subnet", "40"]):
        p = run("report", *args, check=False)
        assert p.returncode == 2, args
        assert p.stderr.startswith("floe report"), p.stderr
