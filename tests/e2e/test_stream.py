"""floe record streams (docs/stream.md) end to end, on loopback only.

A file or a capture is served with --listen and read back with -S by real
floe processes: subscribers get exactly the records the file has, with
contiguous seq; a filter is applied at the server; a subscriber that never
reads is cut off while another gets everything; bad hellos are refused
and counted; TLS with certificates made by the openssl CLI and a token;
a relay merges two sources and survives one being killed and replaced.
"""
import csv
import io
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import FLOE, SHARED, run

PCAPS = SHARED / "pcaps"
SYNFLOOD = PCAPS / "StopDDoS_packet-captures__pkt.TCP.synflood.spoofed.pcap"
SMALL_A = PCAPS / "zeek_zeek__testing_btest_Traces_nmap-vsn.pcap"
SMALL_B = PCAPS / "zeek_zeek__testing_btest_Traces_dhcp_dhcp_flood.pcap"
SMALL_C = PCAPS / "markofu_pcaps__PracticalPacketAnalysis_ppa-capture-files_gnutella.pcap"
FIELDS = "stime,ltime,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes,state,sid,seq"
WAIT = 300   # seconds a process may take (sanitizer builds on a busy machine)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """True if a socket listens on port (from /proc: no connection made)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].split(":")[1], 16) == port:
                return True
    return False


class Floe:
    """A floe process with its output in files."""

    def __init__(self, tmp, name, *args):
        self.out = tmp / f"{name}.out"
        self.err = tmp / f"{name}.err"
        self.args = [FLOE, *map(str, args)]
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.p = subprocess.Popen(self.args, stdout=o, stderr=e)

    def wait_listening(self, port):
        end = time.time() + WAIT
        while time.time() < end:
            if listening(port):
                return
            assert self.p.poll() is None, f"{self.args} exited {self.p.returncode}: {self.stderr()}"
            time.sleep(0.05)
        raise AssertionError(f"nothing listens on {port}")

    def finish(self, timeout=WAIT):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError(f"{self.args} did not end: {self.stderr()}")
        return rc

    def stdout(self):
        return self.out.read_bytes()

    def stderr(self):
        return self.err.read_text(errors="replace")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def rows(data):
    return list(csv.DictReader(io.StringIO(data.decode())))


def file_rows(path, *filt):
    return rows(run("read", "-r", path, "-o", "csv", "-u", "-p", "6", "-s", FIELDS, *filt).stdout)


def without_seq(rs):
    return [{k: v for k, v in r.items() if k != "seq"} for r in rs]


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    """The SYN flood capture's records as a floe file (sensor 7)."""
    d = tmp_path_factory.mktemp("flows")
    run("capture", "-r", SYNFLOOD, "--sensor", "7", "-w", d / "flood.floe")
    return d / "flood.floe"


def test_two_subscribers_get_the_file(tmp_path, flows):
    port = free_port()
    srv = Floe(tmp_path, "srv", "read", "-r", flows, "--listen", f"127.0.0.1:{port}",
               "--subscribers", "2", "--stats")
    try:
        srv.wait_listening(port)
        subs = [Floe(tmp_path, f"sub{i}", "read", "-S", f"127.0.0.1:{port}", "-o", "csv", "-u",
                     "-p", "6", "-s", FIELDS, "--stats") for i in range(2)]
        for s in subs:
            assert s.finish() == 0, s.stderr()
        assert srv.finish() == 0, srv.stderr()
    finally:
        srv.kill()
    want = file_rows(flows)
    assert len(want) == 37669
    for s in subs:
        got = rows(s.stdout())
        assert without_seq(got) == without_seq(want)
        assert [int(r["seq"]) for r in got] == list(range(1, len(want) + 1))
        assert "lost 0" in s.stderr()
    assert "accepted 2, refused 0, cut off 0" in srv.stderr()


def test_filter_at_the_server(tmp_path, flows):
    port = free_port()
    filt = "src net 80.0.0.0/4 and dst port 25565"
    srv = Floe(tmp_path, "srv", "read", "-r", flows, "--listen", f"127.0.0.1:{port}",
               "--subscribers", "1", "--stats")
    try:
        srv.wait_listening(port)
        sub = Floe(tmp_path, "sub", "read", "-S", f"127.0.0.1:{port}", "-o", "csv", "-u", "-p", "6",
                   "-s", FIELDS, "--stats", filt)
        assert sub.finish() == 0, sub.stderr()
        assert srv.finish() == 0, srv.stderr()
    finally:
        srv.kill()
    got = rows(sub.stdout())
    want = file_rows(flows, filt)
    assert 0 < len(want) < 37669
    assert without_seq(got) == without_seq(want)
    # the server numbered every record of the file and sent those that
    # match: each one's seq is its place in the file
    everything = without_seq(file_rows(flows))
    for r in got[:200]:
        assert everything[int(r["seq"]) - 1] == without_seq([r])[0]
    assert f"with filter '{filt}'" in srv.stderr()
    # what the filter rejected is accounted for by the server's SEEN frames
    assert "lost 0" in sub.stderr()
    # filtering at the server: far fewer bytes than the whole stream
    nbytes = int(sub.stderr().split("bytes ")[1].split(",")[0])
    assert nbytes < os.path.getsize(flows) / 2


class CuttingProxy:
    """A TCP proxy on loopback that cuts its first connection after
    `after` bytes from the server: the network going away under a
    subscriber, the server staying up."""

    def __init__(self, port, target, after):
        self.target, self.after, self.conns = target, after, 0
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(8)
        self.stop = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns += 1
            u = socket.create_connection(("127.0.0.1", self.target))
            limit = self.after if self.conns == 1 else None
            threading.Thread(target=self.pump, args=(c, u, limit), daemon=True).start()

    @staticmethod
    def pump(c, u, limit):
        import select
        moved = 0
        try:
            while True:
                r, _, _ = select.select([c, u], [], [], 1)
                for s in r:
                    d = s.recv(65536)
                    if not d:
                        return
                    (u if s is c else c).sendall(d)
                    if s is u:
                        moved += len(d)
                if limit is not None and moved >= limit:
                    return
        except OSError:
            return
        finally:
            c.close()
            u.close()

    def close(self):
        self.stop = True
        self.ls.close()


def test_reconnect_resumes_after_the_last_seq(tmp_path, flows):
    port, pport = free_port(), free_port()
    srv = Floe(tmp_path, "srv", "read", "-r", flows, "--listen", f"127.0.0.1:{port}",
               "--subscribers", "1", "--linger", "600s", "--stats")
    proxy = None
    try:
        srv.wait_listening(port)
        proxy = CuttingProxy(pport, port, after=100_000)
        sub = Floe(tmp_path, "sub", "read", "-S", f"127.0.0.1:{pport}", "--count", "37669", "-o",
                   "csv", "-s", "seq", "--stats")
        assert sub.finish() == 0, sub.stderr()
        srv.p.send_signal(signal.SIGTERM)
        assert srv.finish() == 0, srv.stderr()
    finally:
        srv.kill()
        if proxy:
            proxy.close()
    assert proxy.conns == 2
    # the second connection resumed after the last record of the first:
    # every record once, none lost, no restart
    assert [int(r["seq"]) for r in rows(sub.stdout())] == list(range(1, 37670))
    err = sub.stderr()
    assert "reconnected" in err and "reconnects 1" in err
    assert "lost 0, restarts 0" in err


def hello(instance=b"raw", token=b"", filt=b"", flags=1):
    body = struct.pack("<4sHHBBHQHHI", b"FLSH", 1, 0, 1, flags, 0, 0, len(instance), len(token),
                       len(filt)) + instance + token + filt
    return struct.pack("<BBHI", 1, 0, 0, len(body)) + body


def read_frames(sock, limit=1 << 20):
    """Every frame until the server closes: [(type, payload)]."""
    sock.settimeout(WAIT)
    buf = b""
    while len(buf) < limit:
        d = sock.recv(65536)
        if not d:
            break
        buf += d
    out, i = [], 0
    while i + 8 <= len(buf):
        t, _, _, n = struct.unpack("<BBHI", buf[i:i + 8])
        out.append((t, buf[i + 8:i + 8 + n]))
        i += 8 + n
    return out


@pytest.mark.parametrize("cmd", [
    ["cluster", "-m", "dport", "-s", "dport", "trans", "pkts", "bytes"],
    ["sort", "--top", "5", "--sort", "sbytes", "sport", "-s", "saddr", "sport", "sbytes"],
    ["bins", "-b", "1m", "-s", "stime", "trans", "pkts"],
], ids=["cluster", "sort", "bins"])
def test_query_commands_read_streams(tmp_path, flows, cmd):
    port = free_port()
    srv = Floe(tmp_path, "srv", "read", "-r", flows, "--listen", f"127.0.0.1:{port}",
               "--subscribers", "1")
    try:
        srv.wait_listening(port)
        got = Floe(tmp_path, "q", *cmd, "-S", f"127.0.0.1:{port}", "src net 80.0.0.0/4")
        assert got.finish() == 0, got.stderr()
        assert srv.finish() == 0, srv.stderr()
    finally:
        srv.kill()
    want = run(*cmd, "-r", flows, "src net 80.0.0.0/4").stdout
    assert got.stdout() == want and len(want.splitlines()) > 1


def test_served_records_are_written_with_their_seq(tmp_path):
    # capture --listen -w: the file keeps the numbers the stream carried
    port = free_port()
    srv = Floe(tmp_path, "srv", "capture", "-r", SMALL_A, "--listen", f"127.0.0.1:{port}",
               "--subscribers", "1", "-w", tmp_path / "tee.floe")
    try:
        srv.wait_listening(port)
        sub = Floe(tmp_path, "sub", "read", "-S", f"127.0.0.1:{port}", "-o", "csv", "-u", "-p", "6",
                   "-s", FIELDS)
        assert sub.finish() == 0, sub.stderr()
        assert srv.finish() == 0, srv.stderr()
    finally:
        srv.kill()
    got, kept = rows(sub.stdout()), file_rows(tmp_path / "tee.floe")
    assert len(got) > 100 and got == kept
    assert [int(r["seq"]) for r in kept] == list(range(1, len(kept) + 1))


def test_collector_serves_its_records(tmp_path):
    nf = SHARED / "netflow" / "akvorado_akvorado__outlet_flow_decoder_netflow_testdata_data+templates.pcap"
    port = free_port()
    srv = Floe(tmp_path, "srv", "collect", "-r", nf, "--listen", f"127.0.0.1:{port}",
               "--subscribers", "1")
    try:
        srv.wait_listening(port)
        sub = Floe(tmp_path, "sub", "read", "-S", f"127.0.0.1:{port}", "-o", "csv", "-u", "-p", "6",
                   "-s", FIELDS)
        assert sub.finish() == 0, sub.stderr()
        assert srv.finish() == 0, srv.stderr()
    finally:
        srv.kill()
    want = rows(run("collect", "-r", nf, "-o", "csv", "-u", "-p", "6", "-s", FIELDS).stdout)
    got = rows(sub.stdout())
    assert len(want) > 0 and without_seq(got) == without_seq(want)
    assert [int(r["seq"]) for r in got] == list(range(1, len(want) + 1))


def fast_subscriber(port, result):
    """A subscriber that reads as fast as the socket goes (no decoding):
    result gets [(type, payload size, records of a block)]."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(hello(b"fast"))
    s.settimeout(WAIT)
    buf, frames = bytearray(), []
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
        off = 0
        while len(buf) - off >= 8:
            t, _, _, n = struct.unpack_from("<BBHI", buf, off)
            if len(buf) - off < 8 + n:
                break
            nrec = struct.unpack_from("<I", buf, off + 8 + 12)[0] if t == 2 else 0
            frames.append((t, bytes(buf[off + 8:off + 8 + n]) if t == 4 else n, nrec))
            off += 8 + n
        del buf[:off]
    s.close()
    result.extend(frames)


def test_stalled_subscriber_is_cut_off(tmp_path, flows):
    port = free_port()
    # the bound leaves a busy machine's scheduler room for the fast reader;
    # the stalled one passes it anyway (20 copies are about 6 MB of frames)
    copies = 20
    srv = Floe(tmp_path, "srv", "read", "-r", *[flows] * copies, "--listen", f"127.0.0.1:{port}",
               "--subscribers", "2", "--subscriber-buffer", "1m", "--stats")
    stalled = socket.socket()
    frames = []
    try:
        srv.wait_listening(port)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(hello(b"stalled"))   # a valid subscriber that never reads
        fast = threading.Thread(target=fast_subscriber, args=(port, frames))
        fast.start()
        assert srv.finish() == 0, srv.stderr()
        fast.join(WAIT)
    finally:
        srv.kill()
        stalled.close()
    err = srv.stderr()
    assert "subscriber 'stalled'" in err and "cut off" in err and "too slow" in err
    assert not [l for l in err.splitlines() if "'fast'" in l and "cut off" in l]
    assert "accepted 2, refused 0, cut off 1" in err
    # the other got every record, and the server's last STATUS says so
    total = 37669 * copies
    assert sum(f[2] for f in frames if f[0] == 2) == total
    assert frames[-1][0] == 6                                  # END
    status = [f[1] for f in frames if f[0] == 4][-1]
    assert struct.unpack("<qQQQII", status)[1] == total       # records sent to it


def test_bad_hellos_are_refused(tmp_path, flows):
    port = free_port()
    srv = Floe(tmp_path, "srv", "read", "-r", flows, "--listen", f"127.0.0.1:{port}",
               "--subscribers", "1", "--stats")
    try:
        srv.wait_listening(port)
        answers = []
        for junk in (b"GET / HTTP/1.0\r\n\r\n",                       # not floe at all
                     hello()[:8] + b"XXXX" + hello()[12:],           # bad magic
                     hello(instance=b"a" * 64),                      # instance past its bound
                     struct.pack("<BBHI", 2, 0, 0, 0)):             # a block before the hello
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(junk)
            answers.append(read_frames(s))
            s.close()
        sub = Floe(tmp_path, "sub", "read", "-S", f"127.0.0.1:{port}", "--count", "10", "-o", "csv",
                   "-s", "seq")
        assert sub.finish() == 0, sub.stderr()
        assert srv.finish() == 0, srv.stderr()
    finally:
        srv.kill()
    for frames in answers:
        assert len(frames) == 1 and frames[0][0] == 5, frames   # one ERROR frame, then close
    texts = [f[0][1].decode() for f in answers]
    assert "unknown frame type" in texts[0]
    assert "bad magic" in texts[1]
    assert "past its bound" in texts[2]
    assert "expected a hello" in texts[3]
    err = srv.stderr()
    assert err.count("refused subscriber") == 4
    assert "accepted 1, refused 4" in err
    assert [int(r["seq"]) for r in rows(sub.stdout())] == list(range(1, 11))


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate,
    made by the openssl CLI."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=floe test CA", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=floe test {name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
                cwd=d)
    (d / "token").write_text("s3cret-token\n")
    (d / "wrong").write_text("not-the-token\n")
    return d


def test_tls_and_token(tmp_path, flows, pki):
    port = free_port()
    addr = f"127.0.0.1:{port}"
    srv = Floe(tmp_path, "srv", "read", "-r", flows, "--listen", addr, "--tls-cert", pki / "server.pem",
               "--tls-key", pki / "server.key", "--tls-ca", pki / "ca.pem", "--token", pki / "token",
               "--subscribers", "1", "--stats")
    tls = ["--tls-ca", pki / "ca.pem", "--tls-cert", pki / "client.pem", "--tls-key", pki / "client.key"]
    try:
        srv.wait_listening(port)
        refused = {
            "plain TCP": run("read", "-S", addr, "--token", pki / "token", check=False),
            "no token": run("read", "-S", addr, *tls, check=False),
            "wrong token": run("read", "-S", addr, *tls, "--token", pki / "wrong", check=False),
            "no client certificate": run("read", "-S", addr, "--tls-ca", pki / "ca.pem",
                                         "--token", pki / "token", check=False),
        }
        good = run("read", "-S", addr, *tls, "--token", pki / "token", "-o", "csv", "-u", "-p", "6",
                   "-s", FIELDS)
        assert srv.finish() == 0, srv.stderr()
    finally:
        srv.kill()
    for why, p in refused.items():
        assert p.returncode == 1, f"{why}: {p.returncode} {p.stderr}"
        assert p.stdout == b"", why
    assert "a token is required" in refused["no token"].stderr
    assert "bad token" in refused["wrong token"].stderr
    assert without_seq(rows(good.stdout)) == without_seq(file_rows(flows))
    err = srv.stderr()
    assert "accepted 1, refused 4" in err
    assert "TLS handshake failed" in err


def test_remote_listen_needs_tls_and_token(flows, pki):
    # refused before any socket is made: nothing leaves the machine
    p = run("read", "-r", flows, "--listen", "0.0.0.0:1", check=False)
    assert p.returncode == 1 and "needs TLS" in p.stderr
    p = run("read", "-r", flows, "--listen", "0.0.0.0:1", "--tls-cert", pki / "server.pem",
            "--tls-key", pki / "server.key", check=False)
    assert p.returncode == 1 and "token" in p.stderr
    p = run("read", "-S", f"127.0.0.1:{free_port()}", check=False)   # nothing there
    assert p.returncode == 1 and "cannot connect" in p.stderr


def test_relay_merges_and_reconnects(tmp_path):
    for name, pcap, sensor in (("a", SMALL_A, 1), ("b", SMALL_B, 2), ("b2", SMALL_C, 2)):
        run("capture", "-r", pcap, "--sensor", sensor, "-w", tmp_path / f"{name}.floe")
    want = {n: without_seq(file_rows(tmp_path / f"{n}.floe")) for n in ("a", "b", "b2")}
    na, nb, nb2 = (len(want[n]) for n in ("a", "b", "b2"))
    pa, pb, pr = free_port(), free_port(), free_port()
    procs = []
    try:
        relay = Floe(tmp_path, "relay", "relay", "-S", f"127.0.0.1:{pa}", "-S", f"127.0.0.1:{pb}",
                     "--listen", f"127.0.0.1:{pr}", "--stats")
        procs.append(relay)
        relay.wait_listening(pr)
        # everything: a, b, then b2 after b is killed; and a first subscriber
        # that ends once a and b have passed the relay
        sub = Floe(tmp_path, "sub", "read", "-S", f"127.0.0.1:{pr}", "--count", na + nb + nb2, "-o",
                   "csv", "-u", "-p", "6", "-s", FIELDS, "--stats")
        first = Floe(tmp_path, "first", "read", "-S", f"127.0.0.1:{pr}", "--count", na + nb, "-o",
                     "csv", "-s", "sid,seq")
        procs += [sub, first]
        # source a is a sensor serving a capture; b serves a file
        srca = Floe(tmp_path, "srca", "capture", "-r", SMALL_A, "--sensor", "1", "--listen",
                    f"127.0.0.1:{pa}", "--linger", "600s")
        srcb = Floe(tmp_path, "srcb", "read", "-r", tmp_path / "b.floe", "--listen", f"127.0.0.1:{pb}",
                    "--linger", "600s")
        procs += [srca, srcb]
        assert first.finish() == 0, first.stderr()
        srcb.kill()                        # b goes away without END
        srcb2 = Floe(tmp_path, "srcb2", "read", "-r", tmp_path / "b2.floe", "--listen",
                     f"127.0.0.1:{pb}", "--linger", "600s")
        procs.append(srcb2)
        assert sub.finish() == 0, sub.stderr()
        for p in (srca, srcb2):            # the sources end: END, then the relay ends
            p.p.send_signal(signal.SIGTERM)
            assert p.finish() == 0, p.stderr()
        assert relay.finish() == 0, relay.stderr()
    finally:
        for p in procs:
            p.kill()
    got = rows(sub.stdout())
    by = {s: [r for r in got if r["sid"] == s] for s in ("1", "2")}
    assert without_seq(by["1"]) == want["a"]
    assert [int(r["seq"]) for r in by["1"]] == list(range(1, na + 1))
    assert without_seq(by["2"]) == want["b"] + want["b2"]
    assert [int(r["seq"]) for r in by["2"]] == list(range(1, nb + 1)) + list(range(1, nb2 + 1))
    err = relay.stderr()
    assert "reconnected" in err and "sensor 2 restarted" in err
    assert "reconnects 1" in err and "lost 0" in err
