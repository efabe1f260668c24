"""floe capture -i: live capture on real traffic in network namespaces the
tests create (root needed, as in CI).

Each test builds two namespaces, a client and a server, joined by a veth
pair (names unique to the test process; deleted even when a test fails),
with IPv6 off and static neighbours, so the only packets on the link are
the ones the test makes: HTTP fetches (python3 -m http.server, curl) and a
short iperf3 transfer.  floe captures on the server's end of the link, and
tcpdump captures the same interface into a pcap that `floe capture -r`
meters: the live flows must be the file's flows, packet for packet and
byte for byte.  Timestamps may differ by microseconds: each capture socket
stamps a transmitted packet itself (the first ones differ by about 1 us).
"""
import csv
import io
import itertools
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import FLOE, run

COLS = ["proto", "saddr", "sport", "daddr", "dport", "spkts", "dpkts", "sbytes", "dbytes",
        "sappbytes", "dappbytes", "state", "stime", "ltime"]
IFSTATS = re.compile(r"interface (\S+): received (\d+), dropped by the kernel (\d+), "
                     r"dropped by the interface (\d+)")
CLIENT, SERVER = "10.199.0.1", "10.199.0.2"
_seq = itertools.count()


def sh(*args, check=True):
    return subprocess.run(list(map(str, args)), capture_output=True, text=True, check=check)


class Link:
    """Two namespaces (client, server) joined by a veth pair.  With taps,
    the server's end also mirrors what it receives to tap "a" and what it
    sends to tap "b" (tc mirred onto veth pairs whose other ends, a1 and
    b1, are where a sensor of two half-duplex taps listens)."""

    def __init__(self, taps=False):
        n = next(_seq)
        tag = f"{os.getpid() % 100000}{n}"
        self.cns, self.sns = f"floelive-{tag}-c", f"floelive-{tag}-s"
        self.cif, self.sif = f"flc{tag}", f"fls{tag}"
        self.tapa, self.tapb = f"fla{tag}", f"flb{tag}"
        self.procs = []
        try:
            self._build(taps)
        except BaseException:
            self.close()
            raise

    def _build(self, taps):
        for ns in (self.cns, self.sns):
            sh("ip", "netns", "add", ns)
            for conf in ("all", "default"):   # no IPv6 neighbour discovery on the link
                f = f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"
                sh("ip", "netns", "exec", ns, "sh", "-c", f"[ ! -e {f} ] || echo 1 > {f}")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.cif, "netns", self.cns, "type", "veth", "peer", "name",
           self.sif, "netns", self.sns)
        sh("ip", "-n", self.cns, "addr", "add", f"{CLIENT}/24", "dev", self.cif)
        sh("ip", "-n", self.sns, "addr", "add", f"{SERVER}/24", "dev", self.sif)
        if taps:
            for t in (self.tapa, self.tapb):
                sh("ip", "-n", self.sns, "link", "add", t, "type", "veth", "peer", "name", t + "1")
                sh("ip", "-n", self.sns, "link", "set", t, "up")
                sh("ip", "-n", self.sns, "link", "set", t + "1", "up")
            sh("ip", "netns", "exec", self.sns, "tc", "qdisc", "add", "dev", self.sif, "clsact")
            for way, tap in (("ingress", self.tapa), ("egress", self.tapb)):
                sh("ip", "netns", "exec", self.sns, "tc", "filter", "add", "dev", self.sif, way,
                   "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror",
                   "dev", tap)
        sh("ip", "-n", self.cns, "link", "set", self.cif, "up")
        sh("ip", "-n", self.sns, "link", "set", self.sif, "up")
        # static neighbours: no ARP on the link while the captures run
        cmac = self.mac(self.cns, self.cif)
        smac = self.mac(self.sns, self.sif)
        sh("ip", "-n", self.cns, "neigh", "replace", SERVER, "lladdr", smac, "dev", self.cif,
           "nud", "permanent")
        sh("ip", "-n", self.sns, "neigh", "replace", CLIENT, "lladdr", cmac, "dev", self.sif,
           "nud", "permanent")

    @staticmethod
    def mac(ns, ifc):
        out = sh("ip", "-n", ns, "-o", "link", "show", ifc).stdout
        return re.search(r"link/ether (\S+)", out).group(1)

    def popen(self, ns, *args, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns, *map(str, args)], **kw)
        self.procs.append(p)
        return p

    def servers(self):
        """The HTTP and iperf3 servers, once they answer."""
        self.popen(self.sns, "python3", "-m", "http.server", "8080", "--bind", SERVER,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.popen(self.sns, "iperf3", "-s", "-B", SERVER, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
        for _ in range(100):
            if self.curl(check=False) == 0 and self.port_open(5201):
                return
            time.sleep(0.1)
        raise AssertionError("the test servers did not start")

    def port_open(self, port):
        """The server listens (asked of the kernel: a probe connection
        would be taken by iperf3 for a test and upset the next one)."""
        out = sh("ip", "netns", "exec", self.sns, "ss", "-Hltn", f"sport = :{port}", check=False)
        return f":{port}" in out.stdout

    def curl(self, path="/", check=True):
        r = sh("ip", "netns", "exec", self.cns, "curl", "-s", "-o", "/dev/null", "--max-time", "5",
               f"http://{SERVER}:8080{path}", check=False)
        assert not check or r.returncode == 0, r.stderr
        return r.returncode

    def iperf(self):
        r = sh("ip", "netns", "exec", self.cns, "iperf3", "-c", SERVER, "-n", "1M", check=False)
        assert r.returncode == 0, r.stdout + r.stderr

    def traffic(self, fetches=20):
        for i in range(fetches):
            self.curl(f"/?{i}" if i % 2 else "/")
        self.iperf()

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for ns in (self.cns, self.sns):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def link():
    lk = Link()
    yield lk
    lk.close()


def wait_for(path, pattern, proc, timeout=20):
    """Waits until the file (a process's stderr) holds pattern."""
    end = time.time() + timeout
    while time.time() < end:
        text = pathlib.Path(path).read_text(errors="replace")
        if pattern in text:
            return text
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before '{pattern}': {text}")
        time.sleep(0.05)
    raise AssertionError(f"no '{pattern}' in {path}")


def start_floe(lk, ns, tmp, name, *args):
    err = tmp / f"{name}.err"
    with open(err, "w") as f:
        p = lk.popen(ns, FLOE, "capture", *args, stdout=subprocess.PIPE, stderr=f)
    wait_for(err, "capturing on", p)
    return p, err


def finish(p, err, timeout=60):
    out, _ = p.communicate(timeout=timeout)
    text = pathlib.Path(err).read_text()
    assert p.returncode == 0, text
    return out, text


def flows(path, *extra):
    """The flows of a file by 5-tuple, the records of one flow merged (as
    racluster does): a flow written in two records on one side and one on
    the other (a status record, a timeout on a loaded machine) still
    compares by its totals."""
    p = run("cluster", "-r", path, "-o", "csv", "-n", "-u", "-p", "9", "-s", ",".join(COLS),
            *extra)
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    return {(r["proto"], r["saddr"], r["sport"], r["daddr"], r["dport"]): r for r in rows}


def same_flows(a, b):
    """Equal 5-tuples and counters; times within 50 ms (see the top)."""
    assert sorted(a) == sorted(b)
    for k in a:
        for c in COLS[:-2]:
            assert a[k][c] == b[k][c], (k, c, a[k], b[k])   # both records in full
        for c in COLS[-2:]:
            assert abs(float(a[k][c]) - float(b[k][c])) < 0.05, (k, c, a[k][c], b[k][c])


def ifstats(stderr):
    return {m.group(1): tuple(map(int, m.groups()[1:])) for m in IFSTATS.finditer(stderr)}


# ---- one run on one link: floe with one thread, with two, and tcpdump ------------------

@pytest.fixture(scope="module")
def together(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    lk = Link()
    try:
        lk.servers()
        terr = tmp / "tcpdump.err"
        with open(terr, "w") as f:
            # a ring as large as floe's, so the reference loses nothing
            # to a burst on a loaded machine either
            td = lk.popen(lk.sns, "tcpdump", "-n", "-i", lk.sif, "-w", tmp / "trace.pcap",
                          "-B", "65536", "--time-stamp-precision=nano",
                          stdout=subprocess.DEVNULL, stderr=f)
        wait_for(terr, "listening on", td)
        # Stopped by SIGINT once the traffic is over (its time varies with
        # the machine's load); --duration only guards against a hang.
        one = start_floe(lk, lk.sns, tmp, "one", "-i", lk.sif, "--duration", "40", "--stats",
                         "-w", tmp / "one.floe")
        two = start_floe(lk, lk.sns, tmp, "two", "-i", lk.sif, "--duration", "40", "--stats",
                         "--threads", "2", "-w", tmp / "two.floe")
        lk.traffic()
        time.sleep(0.5)
        for p, _ in (one, two):
            assert p.poll() is None, "a capture ended before the traffic did"
            p.send_signal(signal.SIGINT)
        _, one_err = finish(*one)
        _, two_err = finish(*two)
        td.send_signal(signal.SIGINT)
        td.wait(timeout=10)
        run("capture", "-r", tmp / "trace.pcap", "-w", tmp / "file.floe")
        yield {"one": flows(tmp / "one.floe"), "two": flows(tmp / "two.floe"),
               "file": flows(tmp / "file.floe"), "one_err": one_err, "two_err": two_err,
               "tcpdump_err": terr.read_text(), "link": lk}
    finally:
        lk.close()


def test_live_equals_file(together):
    """Live flows = the flows of tcpdump's capture of the same interface."""
    live, f = together["one"], together["file"]
    # the reference itself must be whole
    assert "\n0 packets dropped by kernel" in together["tcpdump_err"], together["tcpdump_err"]
    assert len(live) >= 22  # 20 fetches, iperf3's control and data connections
    http = [k for k in live if k[0] == "6" and k[4] == "8080"]
    assert len(http) >= 20 and all(live[k]["state"] == "FIN" for k in http)
    iperf = {k: (live[k]["sbytes"], live[k]["dbytes"], live[k]["state"])
             for k in live if "5201" in (k[2], k[4])}
    # in full (pytest shortens a long repr): the iperf3 flows both ways, and
    # what floe said of its capture
    why = "live %s\nfile %s\nfloe: %s" % (
        iperf, {k: (f[k]["sbytes"], f[k]["dbytes"], f[k]["state"])
                for k in f if "5201" in (k[2], k[4])}, together["one_err"])
    # 1 MiB was sent; a slow server may end the test with a reset while the
    # client's last writes are still in its socket buffer, and those never
    # reach the wire (978,013 bytes were seen once under ASan)
    assert any(int(s) + int(d) > 500000 for s, d, _ in iperf.values()), why
    same_flows(live, f)


def test_threads_equal_one_thread(together):
    """--threads 2: the kernel's fanout keeps each flow on one thread."""
    same_flows(together["two"], together["one"])
    per = [int(n) for n in re.findall(r"thread \d+: packets (\d+)", together["two_err"])]
    assert len(per) == 2 and all(per), together["two_err"]


def test_no_drops(together):
    lk = together["link"]
    for err in (together["one_err"], together["two_err"]):
        recv, drop, ifdrop = ifstats(err)[lk.sif]
        assert recv > 0 and drop == 0 and ifdrop == 0, err
        assert f"packets {recv}: metered {recv}, not metered 0" in err
        assert "dropped by the kernel ring" not in err.split("interface ")[0]
    assert re.search(r"\b0 packets dropped by kernel", together["tcpdump_err"])


def test_drops_counted(link, tmp_path):
    """A sensor that stops reading (SIGSTOP) while a flood goes on: its
    small ring overflows, the kernel's drops are logged at each report and
    at the end and shown by --stats, and every packet the kernel counted
    was either read or dropped."""
    link.servers()
    p, err = start_floe(link, link.sns, tmp_path, "d", "-i", link.sif, "--buffer", "1M",
                        "--status", "1s", "--duration", "9", "--stats", "-w", tmp_path / "d.floe")
    flood = link.popen(link.cns, "iperf3", "-c", SERVER, "-u", "-b", "20M", "-l", "64", "-t", "3",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    p.send_signal(signal.SIGSTOP)
    time.sleep(1.5)
    p.send_signal(signal.SIGCONT)
    assert flood.wait(timeout=30) == 0
    _, text = finish(p, err)
    recv, drop, ifdrop = ifstats(text)[link.sif]
    read = int(re.search(r"packets (\d+): metered", text).group(1))
    assert drop > 0 and recv == read + drop, text
    assert "packets dropped by the kernel ring, 0 by the interface since the last report" in text
    assert re.search(rf"'{link.sif}': {drop} of {recv} packets dropped by the kernel ring", text)
    rows = run("read", "-r", tmp_path / "d.floe", "-o", "csv", "-s", "spkts,dpkts").stdout
    rows = list(csv.DictReader(io.StringIO(rows.decode())))   # status records included
    assert sum(int(r["spkts"]) + int(r["dpkts"]) for r in rows) == read


# ---- two half-duplex taps merged --------------------------------------------------------

def test_two_taps_merge(tmp_path):
    """-i a -i b on two taps each seeing one direction gives the two-way
    flows a sensor on the link itself sees."""
    lk = Link(taps=True)
    try:
        lk.servers()
        # stopped by SIGINT after the traffic, as in together()
        merged = start_floe(lk, lk.sns, tmp_path, "merged", "-i", lk.tapa + "1", "-i",
                            lk.tapb + "1", "--duration", "40", "--stats",
                            "-w", tmp_path / "m.floe")
        whole = start_floe(lk, lk.sns, tmp_path, "whole", "-i", lk.sif, "--duration", "40",
                           "-w", tmp_path / "w.floe")
        half = start_floe(lk, lk.sns, tmp_path, "half", "-i", lk.tapa + "1", "--duration", "40",
                          "-w", tmp_path / "a.floe")
        threads = start_floe(lk, lk.sns, tmp_path, "threads", "-i", lk.tapa + "1", "-i",
                             lk.tapb + "1", "--threads", "2", "--duration", "40",
                             "-w", tmp_path / "t.floe")
        lk.traffic(fetches=10)
        time.sleep(0.5)
        for p, _ in (merged, whole, half, threads):
            assert p.poll() is None, "a capture ended before the traffic did"
            p.send_signal(signal.SIGINT)
        _, merr = finish(*merged)
        finish(*whole)
        finish(*half)
        finish(*threads)
    finally:
        lk.close()
    m, w, a = flows(tmp_path / "m.floe"), flows(tmp_path / "w.floe"), flows(tmp_path / "a.floe")
    # with threads, a flow's packets on both taps reach the same thread
    same_flows(flows(tmp_path / "t.floe"), m)
    st = ifstats(merr)
    assert st[lk.tapa + "1"][0] > 0 and st[lk.tapb + "1"][0] > 0, merr
    assert len(m) >= 12
    same_flows(m, w)
    for k, r in m.items():   # two-way, oriented from the client
        assert r["saddr"] == CLIENT and int(r["spkts"]) > 0 and int(r["dpkts"]) > 0, r
        # iperf3 may end its connections with a reset; HTTP's end with FINs
        assert r["state"] == "FIN" or (r["dport"] == "5201" and r["state"] == "RST"), r
    # one tap alone sees the client's half only
    assert all(int(r["dpkts"]) == 0 for r in a.values()) and sorted(a) == sorted(m)


# ---- privileges, filters, errors ---------------------------------------------------------

def test_user_nobody(link, tmp_path):
    """-u nobody: the sensor runs as nobody once the interface is open, and
    writes its file as nobody (the directory must let it)."""
    link.servers()
    out = pathlib.Path(tempfile.mkdtemp(prefix="floe-live-"))
    try:
        out.chmod(0o777)
        env = None
        if os.environ.get("FLOE_SANITIZE", "none") not in ("", "none"):
            # LeakSanitizer stops the process with ptrace, which a process
            # that gave up root may not do to itself.
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")
        err = tmp_path / "u.err"
        with open(err, "w") as f:
            p = link.popen(link.sns, FLOE, "capture", "-i", link.sif, "-u", "nobody",
                           "--duration", "4", "-w", out / "u.floe", stderr=f, env=env)
        wait_for(err, "capturing on", p)
        link.curl()
        status = pathlib.Path(f"/proc/{p.pid}/status").read_text()
        finish(p, err)
        uid = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gid = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
        nobody = int(sh("id", "-u", "nobody").stdout)
        assert uid == [str(nobody)] * 4 and "0" not in gid and "0" not in groups, status
        assert (out / "u.floe").stat().st_uid == nobody
        assert any(k[4] == "8080" for k in flows(out / "u.floe"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    p = run("capture", "-i", "lo", "-u", "no-such-user-floe", "--duration", "1", check=False)
    assert p.returncode == 1 and "no-such-user-floe" in p.stderr and "not capturing" in p.stderr


def test_bpf_filter(link, tmp_path):
    """The BPF filter keeps only the HTTP flows, not iperf3's."""
    link.servers()
    p = start_floe(link, link.sns, tmp_path, "f", "-i", link.sif, "--duration", "8",
                   "-w", tmp_path / "f.floe", "tcp port 8080")
    link.traffic(fetches=5)
    finish(*p)
    got = flows(tmp_path / "f.floe")
    assert len(got) == 5 and all(k[0] == "6" and k[4] == "8080" for k in got), got


def test_errors():
    p = run("capture", "-i", "floe-nosuch0", "--duration", "1", check=False)
    assert p.returncode == 1 and p.stdout == b""
    assert "cannot capture on 'floe-nosuch0': no such interface" in p.stderr
    p = run("capture", "-i", "lo", "--duration", "1", "tcp port and", check=False)
    assert p.returncode == 2 and "bad filter 'tcp port and'" in p.stderr
    for args in (["-i", "lo", "-r", "x.pcap"], ["-i", "lo", "--threads", "0"],
                 ["-i", "a", "-i", "b", "-i", "c"], ["-r", "x.pcap", "--threads", "2"],
                 ["-i", "lo", "--snaplen", "10"], ["-i", "lo", "--buffer", "1k"]):
        p = run("capture", *args, check=False)
        assert p.returncode == 2 and p.stderr.startswith("floe capture: "), (args, p.stderr)


# ---- stopping and time ---------------------------------------------------------------------

def test_sigint_closes_archive(link, tmp_path):
    """SIGINT: every flow is written and the archive file is closed (no .part)."""
    link.servers()
    p, err = start_floe(link, link.sns, tmp_path, "s", "-i", link.sif, "--archive",
                        tmp_path / "ar", "--instance", "link1")
    link.traffic(fetches=3)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    finish(p, err, timeout=20)
    files = list((tmp_path / "ar").rglob("*"))
    assert not [f for f in files if f.name.endswith(".part")], files
    rows = run("read", "-R", tmp_path / "ar", "-o", "csv", "-s", "dport,state").stdout.decode()
    assert rows.count("8080,FIN") == 3 and "5201" in rows


def test_count_stops(link, tmp_path):
    link.servers()
    p, err = start_floe(link, link.sns, tmp_path, "c", "-i", link.sif, "--count", "7",
                        "--stats", "-w", tmp_path / "c.floe")
    link.traffic(fetches=3)
    _, text = finish(p, err, timeout=20)
    assert "packets 7: metered 7" in text
    got = flows(tmp_path / "c.floe")
    assert sum(int(r["spkts"]) + int(r["dpkts"]) for r in got.values()) == 7


def test_quiet_link_expires_flows(link, tmp_path):
    """A closed TCP flow is written 5 s after its last packet although no
    other packet comes: the wall clock drives the meter on a quiet link."""
    link.servers()
    p, err = start_floe(link, link.sns, tmp_path, "q", "-i", link.sif, "--duration", "11",
                        "-o", "csv", "-s", "dport,state")
    arrivals = []

    def reader():
        for line in p.stdout:
            arrivals.append((time.monotonic(), line.decode().strip()))

    th = threading.Thread(target=reader)
    th.start()
    link.curl()
    sent = time.monotonic()
    th.join(timeout=30)
    assert p.wait(timeout=10) == 0, err.read_text()
    done = time.monotonic()
    rec = [t for t, line in arrivals if line == "8080,FIN"]
    assert len(rec) == 1, arrivals
    # closed timeout 5 s, the 1 s lag behind the wall clock, a wheel slot
    assert 4.5 < rec[0] - sent < 8.5 and done - rec[0] > 1.5, (rec[0] - sent, done - rec[0])
