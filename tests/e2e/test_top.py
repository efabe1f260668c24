"""floe top driven in tmux like an operator would: the screen shows the
flows of a real capture grouped by a key switched at run time, sorted by a
column cycled with keys, filtered by a filter typed in, paused; rows and
totals equal `floe cluster` on the same records; it fits 80x24 and uses a
200x50 terminal, and follows a resize."""
import csv
import io
import os
import re
import socket
import subprocess
import time
import uuid

import pytest

from conftest import FLOE, SHARED, free_port, run

P = SHARED / "pcaps"
WECHAT = P / "ntop_nDPI__tests_cfgs_default_pcap_wechat.pcap"   # 157 records over 66 min
UTC = dict(os.environ, TZ="UTC0")


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    d = tmp_path_factory.mktemp("top")
    f = d / "wechat.floe"
    run("capture", "-r", WECHAT, "-w", f)
    return f


class Screen:
    """A tmux server of its own on a private socket, one window running a
    command; stopped at the end."""

    def __init__(self, cmd, width, height):
        self.sock = "floe-top-" + uuid.uuid4().hex[:8]
        self.height = height
        # no status bar: the pane is the whole window
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                  "sleep 600")
        self.tmux("set-option", "-g", "status", "off")
        self.tmux("respawn-pane", "-k", "-t", "t", "sh -c '" + cmd + "; echo EXIT=$?; sleep 600'")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], check=True, capture_output=True,
                              text=True, env=dict(UTC, TERM="xterm")).stdout

    def lines(self):
        ls = self.tmux("capture-pane", "-p", "-t", "t").split("\n")
        return (ls + [""] * self.height)[:self.height]

    def resize(self, width, height):
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))
        self.height = height

    def keys(self, *k):
        self.tmux("send-keys", "-t", "t", *k)

    def wait(self, pred, what, timeout=15):
        """The screen once pred holds and it stays the same for a moment
        (not caught in the middle of a redraw)."""
        end = time.time() + timeout
        while time.time() < end:
            ls = self.lines()
            if pred(ls):
                time.sleep(0.15)
                if self.lines() == ls:
                    return ls
            time.sleep(0.2)
        raise AssertionError(f"screen never showed {what}:\n" + "\n".join(self.lines()))

    def close(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


@pytest.fixture
def screen():
    made = []

    def start(cmd, width=80, height=24):
        s = Screen(cmd, width, height)
        made.append(s)
        return s
    yield start
    for s in made:
        s.close()


def top_cmd(path, *args):
    """The command line of floe top reading path (None: no -r)."""
    return " ".join([FLOE, "top", *(["-r", str(path)] if path else []), *args])


def header(ls):
    return ls[2].split()


def table(ls):
    """The rows under the header, as lists of cells, above the status and help lines."""
    return [line.split() for line in ls[3:-2] if line.strip()]


def totals(ls):
    """The totals line: pkts, bytes, rows always; flows, recs, evicted if they fit."""
    assert ls[1].startswith("Total "), ls[1]
    t = {k: int(v) for k, v in re.findall(r"  (pkts|bytes|rows|flows|recs|evicted) (\d+)", ls[1])}
    assert {"pkts", "bytes", "rows"} <= set(t), ls[1]
    return t


def cluster(path, keys, cols, *filt):
    p = run("cluster", "-r", path, "-m", *keys, "-s", *cols, "-o", "csv", *filt, env=UTC)
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def drawn(ls):
    return ls[1].startswith("Total ")


def done(ls):
    return drawn(ls) and "[end of input]" in ls[0]


def test_totals_and_flows_equal_cluster(flows, screen):
    s = screen(top_cmd(flows, "--speed", "0"), 80, 24)
    ls = s.wait(done, "the end of input")
    assert ls[0].startswith("floe top  key flow  sort Bytes desc")
    whole = cluster(flows, [""], ["trans", "pkts", "bytes"])[0]
    t = totals(ls)
    assert (t["pkts"], t["bytes"]) == (int(whole["pkts"]), int(whole["bytes"]))
    # one row per flow: racluster's merge of the records of each flow
    merged = cluster(flows, ["proto", "saddr", "sport", "daddr", "dport"],
                     ["proto", "saddr", "daddr", "dport", "pkts", "bytes"])
    assert t["rows"] == len(merged)
    h = header(ls)
    assert h == ["Proto", "SrcAddr", "DstAddr", "Dport", "Pkts", "Bytes", "bit/s"]
    rows = table(ls)
    assert len(rows) == 24 - 5
    want = {(r["proto"], r["saddr"], r["daddr"], r["dport"], r["pkts"], r["bytes"]) for r in merged}
    assert all(tuple(r[:6]) in want for r in rows)
    by_bytes = sorted((int(r["bytes"]) for r in merged), reverse=True)
    assert [int(r[5]) for r in rows] == by_bytes[:len(rows)]
    assert all(len(line) <= 80 for line in ls)
    assert ls[-1].startswith("q:quit") and "f:filter p:pause" in ls[-1]
    s.keys("q")
    s.wait(lambda ls: any(line == "EXIT=0" for line in ls), "floe top leaving with status 0")


def test_keys_sort_filter(flows, screen):
    s = screen(top_cmd(flows, "--speed", "0"), 80, 24)
    s.wait(done, "the end of input")
    # group by source address: rows equal cluster -m saddr
    s.keys("2")
    ls = s.wait(lambda ls: "key saddr" in ls[0] and header(ls)[0] == "SrcAddr", "key saddr")
    want = {r["saddr"]: r for r in cluster(flows, ["saddr"], ["saddr", "trans", "pkts", "bytes"])}
    rows = table(ls)
    assert header(ls)[:5] == ["SrcAddr", "Flows", "Recs", "Pkts", "Bytes"]
    assert len(rows) == len(want) == totals(ls)["rows"]
    for r in rows:
        w = want[r[0]]
        assert (r[2], r[3], r[4]) == (w["trans"], w["pkts"], w["bytes"])
    assert [int(r[4]) for r in rows] == sorted((int(w["bytes"]) for w in want.values()), reverse=True)
    # cycle the sort column back to packets, then reverse it
    s.keys("S")
    ls = s.wait(lambda ls: "sort Pkts desc" in ls[0], "sort by packets")
    assert [int(r[3]) for r in table(ls)] == sorted((int(r[3]) for r in table(ls)), reverse=True)
    s.keys("r")
    ls = s.wait(lambda ls: "sort Pkts asc" in ls[0], "ascending packets")
    assert [int(r[3]) for r in table(ls)] == sorted(int(w["pkts"]) for w in want.values())
    # by destination port, key k from saddr -> daddr -> dport
    s.keys("k", "k")
    ls = s.wait(lambda ls: "key dport" in ls[0], "key dport")
    want = {r["dport"]: r for r in cluster(flows, ["dport"], ["dport", "pkts", "bytes"])}
    assert {r[0]: (r[3], r[4]) for r in table(ls)} == {k: (w["pkts"], w["bytes"]) for k, w in want.items()}
    # a filter typed in: totals and rows of udp only
    s.keys("f")
    s.wait(lambda ls: ls[-2].startswith("filter:"), "the filter prompt")
    s.keys("udp", "Enter")
    ls = s.wait(lambda ls: "filter: udp" in ls[0] and "filter applied" in ls[-2], "the udp filter")
    w = cluster(flows, [""], ["pkts", "bytes"], "udp")[0]
    assert (totals(ls)["pkts"], totals(ls)["bytes"]) == (int(w["pkts"]), int(w["bytes"]))
    want = {r["dport"]: r for r in cluster(flows, ["dport"], ["dport", "pkts", "bytes"], "udp")}
    assert {r[0]: (r[3], r[4]) for r in table(ls)} == {k: (w["pkts"], w["bytes"]) for k, w in want.items()}
    # a bad filter is refused in the status line; the last good one stays
    s.keys("f", "C-u", "host", "Enter")
    ls = s.wait(lambda ls: ls[-2].startswith("bad filter 'host'"), "the filter error")
    assert "filter: udp" in ls[0]
    # Esc leaves the filter as it was
    s.keys("f", "C-u", "tcp")
    s.wait(lambda ls: ls[-2].startswith("filter: tcp"), "the typed filter")
    s.keys("Escape")
    ls = s.wait(lambda ls: "filter unchanged" in ls[-2], "the filter unchanged")
    assert "filter: udp" in ls[0]
    # an empty filter clears it
    s.keys("f", "C-u", "Enter")
    ls = s.wait(lambda ls: "filter cleared" in ls[-2], "the filter cleared")
    assert totals(ls)["bytes"] == int(cluster(flows, [""], ["bytes"])[0]["bytes"])


def test_pause_stops_the_replay(flows, screen):
    # 66 minutes of records at 600 x: about 7 s to play
    s = screen(top_cmd(flows, "--speed", "600"), 120, 24)
    s.wait(lambda ls: drawn(ls) and totals(ls)["recs"] > 0, "some records")
    s.keys("p")
    ls = s.wait(lambda ls: "[paused]" in ls[0], "the pause")
    before = totals(ls)
    time.sleep(2.5)
    ls = s.lines()
    assert totals(ls) == before and "[paused]" in ls[0]
    s.keys("p")
    ls = s.wait(lambda ls: totals(ls)["recs"] > before["recs"], "the replay going on")
    assert "[paused]" not in ls[0]
    ls = s.wait(done, "the end of input", timeout=30)
    assert totals(ls)["recs"] == int(cluster(flows, [""], ["trans"])[0]["trans"])


def test_large_terminal_and_resize(flows, screen):
    s = screen(top_cmd(flows, "--speed", "0", "-m", "saddr"), 200, 50)
    ls = s.wait(done, "the end of input")
    t = totals(ls)
    whole = cluster(flows, [""], ["trans", "pkts", "bytes"])[0]
    assert (t["pkts"], t["bytes"], t["recs"], t["evicted"]) == \
        (int(whole["pkts"]), int(whole["bytes"]), int(whole["trans"]), 0)
    assert t["flows"] == len(cluster(flows, ["proto", "saddr", "sport", "daddr", "dport"], ["pkts"]))
    assert header(ls) == ["SrcAddr", "Flows", "Recs", "Pkts", "Bytes", "bit/s", "pkt/s", "Last"]
    assert re.match(r"\d\d:\d\d:\d\d$", table(ls)[0][-1])
    assert ls[-1].startswith("q quit  k/K key") and ls[-1].rstrip().endswith("p pause")
    s.keys("1")
    ls = s.wait(lambda ls: "key flow" in ls[0], "key flow")
    assert header(ls) == ["Proto", "SrcAddr", "Sport", "DstAddr", "Dport", "Recs", "Pkts", "Bytes",
                          "bit/s", "pkt/s", "Last"]
    assert len(table(ls)) == 50 - 5
    # smaller: columns are dropped to fit, the key columns stay
    s.resize(80, 24)
    ls = s.wait(lambda ls: drawn(ls) and len(table(ls)) == 19 and len(ls[0]) <= 80, "the 80x24 layout")
    assert header(ls) == ["Proto", "SrcAddr", "DstAddr", "Dport", "Pkts", "Bytes", "bit/s"]
    s.resize(60, 12)
    ls = s.wait(lambda ls: drawn(ls) and len(table(ls)) == 7 and len(ls[0]) <= 60, "the 60x12 layout")
    assert header(ls)[:3] == ["SrcAddr", "DstAddr", "Dport"] and all(len(x) <= 60 for x in ls)


def test_flow_table_is_bounded(flows, screen):
    s = screen(top_cmd(flows, "--speed", "0", "--max-flows", "10"), 120, 30)
    ls = s.wait(done, "the end of input")
    t = totals(ls)
    assert t["flows"] == 10 and re.search(r"evicted (\d+)", ls[1]).group(1) != "0"


def test_not_a_terminal(flows):
    p = run("top", "-r", flows, check=False)
    assert p.returncode == 2 and "terminal" in p.stderr


@pytest.mark.parametrize("args,msg", [
    (["-m", "sport"], "unknown key"),
    (["--speed", "-1"], "bad --speed"),
    (["--max-flows", "0"], "bad --max-flows"),
    (["-b", "5m"], "not for top"),
    (["tcp", "and"], "bad filter"),
    (["--count", "10"], "not for top"),
])
def test_bad_command_lines(flows, args, msg):
    p = run("top", "-r", flows, *args, check=False)
    assert p.returncode == 2 and msg in p.stderr


def test_idle_stretches_are_skipped(tmp_path, screen):
    """A capture spliced from records years apart replays at record pace
    in seconds: the stretches without records are jumped over."""
    f = tmp_path / "insta.floe"
    run("capture", "-r", P / "ntop_nDPI__tests_cfgs_default_pcap_instagram.pcap", "-w", f)
    s = screen(top_cmd(f, "--speed", "1"), 100, 30)
    ls = s.wait(done, "the end of input", timeout=30)
    assert re.match(r"skipped [\d.]+ d without records", ls[-2]), ls[-2]
    whole = cluster(f, [""], ["trans", "pkts", "bytes"])[0]
    t = totals(ls)
    assert (t["pkts"], t["bytes"], t["recs"]) == (int(whole["pkts"]), int(whole["bytes"]),
                                                  int(whole["trans"]))


def test_live_stream_source(flows, screen, tmp_path):
    """-S: the records of a stream server on loopback (floe read --listen),
    live; the server's filter is the command line's; the totals equal
    floe cluster of the file."""
    port = free_port()
    log = open(tmp_path / "srv.log", "w")
    srv = subprocess.Popen([FLOE, "read", "-r", str(flows), "--listen", f"127.0.0.1:{port}",
                            "--subscribers", "1"], stdout=log, stderr=log)
    try:
        s = screen(top_cmd(None, "-S", f"127.0.0.1:{port}", "-m", "saddr", "udp"), 120, 30)
        ls = s.wait(done, "the end of the stream", timeout=30)
        assert "-S 127.0.0.1:%d" % port in ls[0] and "lost 0" in ls[0]
        want = {r["saddr"]: r for r in cluster(flows, ["saddr"], ["saddr", "trans", "pkts", "bytes"],
                                                "udp")}
        rows = table(ls)
        assert {r[0]: (r[2], r[3], r[4]) for r in rows} == \
            {k: (w["trans"], w["pkts"], w["bytes"]) for k, w in want.items()}
        whole = cluster(flows, [""], ["pkts", "bytes"], "udp")[0]
        assert (totals(ls)["pkts"], totals(ls)["bytes"]) == (int(whole["pkts"]), int(whole["bytes"]))
        s.keys("q")
        s.wait(lambda ls: any(line == "EXIT=0" for line in ls), "floe top leaving with status 0")
        assert srv.wait(timeout=30) == 0
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
        log.close()


def test_unreachable_server_is_retried(screen):
    """A server that is not there: the status line says so and floe top
    keeps trying until q."""
    port = free_port()
    s = screen(top_cmd(None, "-S", f"127.0.0.1:{port}"), 120, 24)
    ls = s.wait(lambda ls: drawn(ls) and "cannot connect" in ls[-2], "the connection error")
    assert "live 0" in ls[0] and "[end of input]" not in ls[0]
    s.keys("q")
    s.wait(lambda ls: any(line == "EXIT=0" for line in ls), "floe top leaving with status 0")
