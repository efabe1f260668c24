"""The stream server's disk spool (docs/stream.md "Spool") under loss:
real floe processes on loopback, killed with SIGKILL and restarted.  The
archive must hold every seq exactly once and verify, or, when the spool
was smaller than the backlog, lack exactly what the spool removed, counted
as lost by the archiver.
"""
import collections
import json
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import FLOE, SHARED, run

PCAP = SHARED / "pcaps" / "StopDDoS_packet-captures__pkt.TCP.synflood.spoofed.pcap"
PCAP2 = SHARED / "pcaps" / "chrissanders_packets__http_espn.pcap"
WAIT = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(cond, what, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    d = tmp_path_factory.mktemp("flows")
    f = d / "flows.floe"
    run("capture", "-r", PCAP, "-w", f)
    return f


@pytest.fixture(scope="module")
def stream(flows):
    """The flows as a floe file in blocks of 1000 records, to feed slowly."""
    p = subprocess.run([FLOE, "read", "-r", str(flows), "-w", "-", "--block-records", "1000"],
                       capture_output=True, check=True)
    return p.stdout


def nrecords(path):
    return len(run("read", "-r", path, "-s", "seq", "-o", "csv", "--no-header").stdout.split())


def feed(proc, data, start, upto, chunk=4096, pause=0.002):
    off = start
    while off < upto:
        n = min(chunk, upto - off)
        proc.stdin.write(data[off:off + n])
        proc.stdin.flush()
        off += n
        time.sleep(pause)
    return off


def sensor(port, spool, *args, stdin=subprocess.PIPE, log=None):
    p = subprocess.Popen([FLOE, "read", "--listen", f"127.0.0.1:{port}", "--spool", str(spool),
                          "--stats", *map(str, args)], stdin=stdin,
                         stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)
    wait_for(lambda: listening(port) or p.poll() is not None, f"the sensor on {port}")
    assert p.poll() is None, "the sensor did not start"
    return p


def archiver(arc, port, log):
    return subprocess.Popen([FLOE, "archive", "--dir", str(arc), "--instance", "s",
                             "-S", f"127.0.0.1:{port}", "--block-records", "500", "--stats"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)


def part_records(arc):
    """Records in complete blocks of the archive's files, .part or closed."""
    p = run("archive", "ls", "--dir", arc, "-o", "json", check=False)
    if p.returncode != 0:
        return 0
    return sum(json.loads(line)["records"] for line in p.stdout.decode().splitlines())


def kill9(p):
    p.send_signal(signal.SIGKILL)
    p.wait()


def stop(*procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def archived(arc):
    """seq of every record archived, per sensor id."""
    rows = run("read", "-R", arc, "-s", "sid", "seq", "-o", "csv", "--no-header").stdout.decode()
    per = collections.defaultdict(list)
    for line in rows.split():
        sid, seq = line.split(",")
        per[int(sid)].append(int(seq))
    return per


def verify(arc):
    p = run("archive", "verify", "--dir", arc, check=False)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    assert " 0 damaged" in p.stdout.decode()


def exactly_once(arc, n):
    per = archived(arc)
    assert list(per) == [0], per.keys()
    seqs = sorted(per[0])
    dups = [s for s, c in collections.Counter(seqs).items() if c > 1]
    assert not dups, f"seq archived twice: {dups[:10]}"
    assert seqs == list(range(1, n + 1)), (len(seqs), n, seqs[:3], seqs[-3:])


def test_archiver_killed_and_restarted_gets_every_seq_once(flows, stream, tmp_path):
    """(a) The archiver dies mid-stream; restarted, it resumes from the
    sensor's spool: every seq once, every file verifies."""
    arc, port, n = tmp_path / "arc", free_port(), nrecords(flows)
    slog = open(tmp_path / "sensor.log", "wb")
    srv = sensor(port, tmp_path / "spool", "-r", "-", "--linger", "5s", log=slog)
    a = b = None
    try:
        a = archiver(arc, port, open(tmp_path / "a1.log", "wb"))
        off = feed(srv, stream, 0, len(stream) // 2)
        wait_for(lambda: part_records(arc) > 0, "a complete block archived")
        kill9(a)
        off = feed(srv, stream, off, len(stream) * 3 // 4)   # while it is away
        b = archiver(arc, port, open(tmp_path / "a2.log", "wb"))
        feed(srv, stream, off, len(stream))
        srv.stdin.close()
        b.wait(timeout=WAIT)
        srv.wait(timeout=WAIT)
    finally:
        stop(srv, *(p for p in (a, b) if p))
    err = (tmp_path / "a2.log").read_text()
    assert b.returncode == 0, err
    assert "resumed after seq" in err and "lost 0," in err, err
    assert ", 0 dropped as already archived" in err, err
    assert "has read the spool: live" in (tmp_path / "sensor.log").read_text()
    exactly_once(arc, n)
    verify(arc)


def test_relay_killed_and_restarted_gets_every_seq_once(flows, stream, tmp_path):
    """(b) sensor -> relay -> archiver, both servers spooling; the relay is
    killed mid-stream and restarted on its spool: it resumes its source
    after the spool's last seq and keeps its run id, so the archiver
    resumes from it: every seq once."""
    arc, p1, p2, n = tmp_path / "arc", free_port(), free_port(), nrecords(flows)
    srv = sensor(p1, tmp_path / "spool1", "-r", "-", "--linger", "8s")

    def relay(log):
        r = subprocess.Popen([FLOE, "relay", "-S", f"127.0.0.1:{p1}", "--listen",
                              f"127.0.0.1:{p2}", "--spool", str(tmp_path / "spool2"), "--stats"],
                             stdout=subprocess.DEVNULL, stderr=open(tmp_path / log, "wb"))
        wait_for(lambda: listening(p2) or r.poll() is not None, "the relay")
        assert r.poll() is None
        return r

    r1 = relay("r1.log")
    r2 = a = None
    try:
        a = archiver(arc, p2, open(tmp_path / "a.log", "wb"))
        off = feed(srv, stream, 0, len(stream) // 2)
        wait_for(lambda: part_records(arc) > 0, "a complete block archived")
        kill9(r1)
        off = feed(srv, stream, off, len(stream) * 3 // 4)   # while the relay is down
        r2 = relay("r2.log")
        feed(srv, stream, off, len(stream))
        srv.stdin.close()
        a.wait(timeout=WAIT)
        r2.wait(timeout=WAIT)
        srv.wait(timeout=WAIT)
    finally:
        stop(srv, r1, *(p for p in (r2, a) if p))
    err = (tmp_path / "a.log").read_text()
    assert a.returncode == 0, err
    assert "lost 0, restarts 0" in err, err
    rlog = (tmp_path / "r2.log").read_text()
    assert "resuming 1 sensors after their last seq" in rlog, rlog
    exactly_once(arc, n)
    verify(arc)


def test_sensor_restarted_on_its_spool_while_the_archiver_is_down(flows, stream, tmp_path):
    """(c) The archiver goes away, then the sensor is killed and restarted
    on the same spool with more input: it keeps its run id and numbers on
    after the spool's last seq; the archiver, started afterwards, gets
    every seq of both runs once."""
    arc, port = tmp_path / "arc", free_port()
    spool = tmp_path / "spool"
    s1 = sensor(port, spool, "-r", "-")
    a = s2 = b = None
    try:
        a = archiver(arc, port, open(tmp_path / "a1.log", "wb"))
        off = feed(s1, stream, 0, len(stream) // 3)
        wait_for(lambda: part_records(arc) > 0, "a complete block archived")
        kill9(a)
        feed(s1, stream, off, len(stream) * 2 // 3)
        time.sleep(1.5)          # served (and spooled) what was fed
        kill9(s1)
        log2 = open(tmp_path / "sensor2.log", "wb")
        run("capture", "-r", PCAP2, "-w", tmp_path / "second.floe")
        s2 = sensor(port, spool, "-r", tmp_path / "second.floe", "--linger", "5s", log=log2)
        b = archiver(arc, port, open(tmp_path / "a2.log", "wb"))
        b.wait(timeout=WAIT)
        s2.wait(timeout=WAIT)
    finally:
        stop(s1, *(p for p in (a, s2, b) if p))
    err = (tmp_path / "a2.log").read_text()
    assert b.returncode == 0, err
    assert "the server restarted" not in err and "lost 0, restarts 0" in err, err
    slog = (tmp_path / "sensor2.log").read_text()
    m = re.search(r"numbering on after seq (\d+)", slog)
    assert m, slog
    first = int(m.group(1))
    n2 = nrecords(tmp_path / "second.floe")
    assert first >= nrecords(flows) // 3 - 1000
    exactly_once(arc, first + n2)
    verify(arc)


def test_spool_smaller_than_the_backlog_loses_what_it_removed(flows, tmp_path):
    """(d) The sensor serves with nobody listening into a spool of 256 KiB:
    the oldest segments are removed and counted.  Restarted on the spool
    and then subscribed to, the archiver counts as lost exactly the
    records the spool removed, and has every other seq once."""
    arc, port, spool, n = tmp_path / "arc", free_port(), tmp_path / "spool", nrecords(flows)
    p = subprocess.run([FLOE, "read", "-r", str(flows), "--listen", f"127.0.0.1:{port}",
                        "--spool", str(spool), "--spool-max", "256k", "--stats"],
                       capture_output=True, timeout=WAIT)
    err = p.stderr.decode()
    m = re.search(r"spool: records (\d+), removed (\d+),", err)
    assert p.returncode == 0 and m, err
    written, removed = int(m.group(1)), int(m.group(2))
    assert written == n and 0 < removed < n, err
    logged = [int(x) for x in re.findall(r"removed the oldest segment \S+ \(\d+ blocks, (\d+) "
                                         r"records\)", err)]
    assert sum(logged) == removed, err
    assert f"{removed} records removed from the spool" in err
    # the same run again, with nothing new: it serves what the spool kept
    empty = tmp_path / "empty.floe"
    run("read", "-r", flows, "-w", empty, "host 192.0.2.1")
    assert nrecords(empty) == 0
    log = open(tmp_path / "sensor2.log", "wb")
    s2 = sensor(port, spool, "-r", empty, "--linger", "3s", log=log)
    try:
        a = archiver(arc, port, open(tmp_path / "a.log", "wb"))
        a.wait(timeout=WAIT)
        s2.wait(timeout=WAIT)
    finally:
        stop(s2)
    alog = (tmp_path / "a.log").read_text()
    m = re.search(r"stream: records (\d+), lost (\d+),", alog)
    assert m, alog
    assert int(m.group(2)) == removed, alog
    assert int(m.group(1)) == n - removed, alog
    seqs = sorted(archived(arc)[0])
    assert seqs == list(range(removed + 1, n + 1))
    verify(arc)


# ---- drops visible downstream: the sensor's kernel counts in STATUS ----

def test_kernel_drops_reach_the_subscriber(tmp_path):
    """A live sensor whose small ring overflows (it is stopped while a
    flood goes on) serves a stream: the subscriber's --stats shows the
    kernel's drop count the sensor itself reports."""
    from test_live import Link, SERVER, ifstats, start_floe
    lk = Link()
    try:
        lk.servers()
        port = 9555   # the namespace's own loopback
        p, err = start_floe(lk, lk.sns, tmp_path, "d", "-i", lk.sif, "--buffer", "1M",
                            "--status", "1s", "--duration", "9", "--stats",
                            "--listen", f"127.0.0.1:{port}")
        sub_err = tmp_path / "sub.err"
        sub = lk.popen(lk.sns, FLOE, "read", "-S", f"127.0.0.1:{port}", "--stats", "-s", "seq",
                       "-o", "csv", stdout=subprocess.DEVNULL, stderr=open(sub_err, "w"))
        time.sleep(1)
        flood = lk.popen(lk.cns, "iperf3", "-c", SERVER, "-u", "-b", "20M", "-l", "64", "-t", "3",
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        p.send_signal(signal.SIGSTOP)
        time.sleep(1.5)
        p.send_signal(signal.SIGCONT)
        assert flood.wait(timeout=30) == 0
        p.communicate(timeout=60)
        sub.wait(timeout=60)
        text = err.read_text()
        assert p.returncode == 0, text
        recv, drop, ifdrop = ifstats(text)[lk.sif]
        assert drop > 0, text
        stats = sub_err.read_text()
        m = re.search(r"dropped by sensors' kernel (\d+), by their interfaces (\d+)", stats)
        assert m, stats
        assert (int(m.group(1)), int(m.group(2))) == (drop, ifdrop), stats
    finally:
        lk.close()
