"""The archiver as a long-running process and the service conventions
(docs/daemon.md): real floe processes joined by pipes, signals, config
files.  No network: the stream arrives on standard input.
"""
import collections
import os
import pathlib
import signal
import subprocess
import time

import pytest

from conftest import FLOE, SHARED, free_port, run

PCAP = SHARED / "pcaps" / "StopDDoS_packet-captures__pkt.TCP.synflood.spoofed.pcap"


def all_fields():
    out = run("fields").stdout.decode().splitlines()[1:]
    return [line.split()[0] for line in out
            if line.strip() and not line.startswith("USE:") and "with --local" not in line]


def records(*source, seq=False):
    """Every field of every record, as CSV lines (times in ns); seq, which
    a stream server sets, only if asked."""
    fields = [f for f in all_fields() if seq or f != "seq"]
    out = run("read", *source, "-o", "csv", "-u", "-p", "9", "--no-header",
              "-s", ",".join(fields)).stdout.decode()
    return out.splitlines()


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    d = tmp_path_factory.mktemp("flows")
    f = d / "flows.floe"
    run("capture", "-r", PCAP, "-w", f)
    return f


@pytest.fixture(scope="module")
def stream(flows, tmp_path_factory):
    """The flows as `floe read -w -` writes them, in blocks of 1000 records
    so that a slow feed arrives block by block."""
    p = subprocess.run([FLOE, "read", "-r", str(flows), "-w", "-", "--block-records", "1000"],
                       capture_output=True, check=True)
    assert len(p.stdout) > 100000
    return p.stdout


def archiver(*args, stdin=subprocess.PIPE, **kw):
    return subprocess.Popen([FLOE, "archive", *map(str, args)], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def finish(proc, timeout=30):
    """Ends proc's input and waits for it; returns its stderr."""
    if proc.stdin and not proc.stdin.closed:
        proc.stdin.close()
    err = proc.stderr.read()
    proc.stdout.read()
    proc.wait(timeout=timeout)
    return err


def files(d, pattern):
    return sorted(pathlib.Path(d).rglob(pattern))


def verify_all(d):
    p = run("archive", "verify", "--dir", d, check=False)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    return p.stdout.decode()


def wait_for(cond, what, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_pipe_into_archive_equals_input(flows, tmp_path):
    arc = tmp_path / "arc"
    reader = subprocess.Popen([FLOE, "read", "-r", str(flows), "-w", "-"], stdout=subprocess.PIPE)
    p = subprocess.run([FLOE, "archive", "--dir", str(arc), "--instance", "link1"],
                       stdin=reader.stdout, capture_output=True)
    reader.stdout.close()
    assert reader.wait() == 0
    assert p.returncode == 0, p.stderr
    assert files(arc, "*.part") == []
    assert len(files(arc, "*.floe")) >= 1
    assert records("-R", arc) == records("-r", flows)
    assert "0 damaged" in verify_all(arc)


@pytest.mark.parametrize("encoders", ["0", "2"])
def test_archive_reads_a_file_with_r(flows, tmp_path, encoders):
    arc = tmp_path / "arc"
    run("archive", "--dir", arc, "--instance", "x", "-r", flows, "--rotate", "5m",
        "--encoders", encoders, "--block-records", "1000")
    assert records("-R", arc) == records("-r", flows)
    # the existing subcommands still work beside the daemon mode
    assert "1 files" in run("archive", "ls", "--dir", arc).stdout.decode()


def feed_slowly(proc, data, upto, chunk=2048, pause=0.002):
    """Writes data[:upto] to proc's stdin in small pieces; returns bytes written."""
    off = 0
    while off < upto:
        chunk = min(chunk, upto - off)
        try:
            proc.stdin.write(data[off:off + chunk])
            proc.stdin.flush()
        except BrokenPipeError:
            break
        off += chunk
        time.sleep(pause)
    return off


def part_blocks(arc):
    """Records in complete blocks of the .part files (floe archive ls)."""
    out = run("archive", "ls", "--dir", arc, "-o", "json").stdout.decode()
    import json
    return sum(json.loads(l)["records"] for l in out.splitlines()
               if json.loads(l)["state"] == "part")


def split_stream(data):
    """A floe file's bytes as (header, [blocks], footer) (docs/format.md)."""
    import struct
    hdr_len = struct.unpack_from("<I", data, 8)[0]
    off, blocks = hdr_len, []
    while data[off:off + 4] == b"FLBK":
        hl = struct.unpack_from("<H", data, off + 4)[0]
        sl, cl = struct.unpack_from("<I", data, off + 32)[0], struct.unpack_from("<I", data, off + 40)[0]
        blocks.append(data[off:off + hl + sl + cl])
        off += hl + sl + cl
    assert data[off:off + 4] == b"FLIX"
    return data[:hdr_len], blocks, data[off:]


@pytest.mark.parametrize("replay", ["from the start", "from a checkpoint"])
def test_kill_9_then_resume_archives_every_record_once(flows, stream, tmp_path, replay):
    """The archiver is killed mid-stream; the producer replays (from its
    start, or from a block before what the archive holds, as a producer
    keeping checkpoints would) and the restarted archiver drops what it
    has: every record once."""
    arc = tmp_path / "arc"
    a = archiver("--dir", arc, "--instance", "k", "--block-records", "500", "--resume")
    feed_slowly(a, stream, len(stream) // 2)
    # some blocks are on disk, the stream is not over: a crash now
    wait_for(lambda: part_blocks(arc) > 0, "a complete block in the .part")
    a.send_signal(signal.SIGKILL)
    a.wait()
    a.stdin.close()
    parts = files(arc, "*.part")
    assert len(parts) == 1
    before = part_blocks(arc)
    assert 0 < before < len(records("-r", flows))
    # restart on the stream replayed from its start: what is archived is
    # dropped, the rest appended
    rest = stream
    if replay == "from a checkpoint":
        # the stream's blocks hold 1000 records: start one block before
        # the last one the archive has whole
        header, blocks, footer = split_stream(stream)
        first = max(before // 1000 - 1, 0)
        rest = header + b"".join(blocks[first:]) + footer
        assert len(rest) < len(stream) or first == 0
    b = subprocess.run([FLOE, "archive", "--dir", str(arc), "--instance", "k", "--resume",
                        "--block-records", "500"], input=rest, capture_output=True)
    assert b.returncode == 0, b.stderr
    assert b"resuming after the last record of" in b.stderr
    assert b"recovered" in b.stderr
    assert files(arc, "*.part") == []
    assert len(files(arc, "*.floe")) == 2
    out = verify_all(arc)
    assert "2 files: 2 ok, 0 open (.part), 0 damaged" in out
    got, want = records("-R", arc), records("-r", flows)
    assert collections.Counter(got) == collections.Counter(want)
    assert len(got) == len(want)


def test_resume_never_reaching_the_last_record(flows, stream, tmp_path):
    arc = tmp_path / "arc"
    header, blocks, footer = split_stream(stream)
    first = header + b"".join(blocks[:5]) + footer
    p = subprocess.run([FLOE, "archive", "--dir", str(arc), "--resume"], input=first,
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    # a "replay" of blocks the archive never had: the last record is not in it
    later = header + b"".join(blocks[10:12]) + footer
    p = subprocess.run([FLOE, "archive", "--dir", str(arc), "--resume"], input=later,
                       capture_output=True)
    assert p.returncode == 3
    assert b"the stream ended before the last record archived: 2000 records dropped" in p.stderr
    assert len(records("-R", arc)) == 5000


def test_resume_without_archive_takes_everything(flows, stream, tmp_path):
    arc = tmp_path / "arc"
    p = subprocess.run([FLOE, "archive", "--dir", str(arc), "--resume"], input=stream,
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    assert records("-R", arc) == records("-r", flows)


def test_sigterm_closes_the_file(flows, stream, tmp_path):
    arc = tmp_path / "arc"
    a = archiver("--dir", arc, "--instance", "t", "--block-records", "500")
    feed_slowly(a, stream, len(stream) // 3)
    wait_for(lambda: part_blocks(arc) > 0, "a block written")
    a.send_signal(signal.SIGTERM)
    _, err = a.communicate(timeout=30)
    a.stdin.close()
    assert a.returncode == 0, err
    assert b"stopping on a signal" in err
    assert files(arc, "*.part") == []
    assert "1 files: 1 ok" in verify_all(arc)
    got, want = records("-R", arc), records("-r", flows)
    # every record it read is in the file, in order: a prefix of the input
    assert 0 < len(got) < len(want)
    assert got == want[:len(got)]


def test_sighup_reopens_the_log(stream, tmp_path):
    arc, log = tmp_path / "arc", tmp_path / "archive.log"
    a = archiver("--dir", arc, "--log", log)
    wait_for(lambda: log.exists() and "archiving" in log.read_text(), "the first log line")
    log.rename(tmp_path / "archive.log.1")
    a.send_signal(signal.SIGHUP)
    wait_for(lambda: log.exists(), "the log reopened")
    a.stdin.write(stream)
    err = finish(a)
    assert a.returncode == 0
    assert err == b""                       # everything went to the log
    old, new = (tmp_path / "archive.log.1").read_text(), log.read_text()
    assert "archiving" in old and "archived" not in old
    assert "log reopened" in new and "archived" in new
    for line in new.splitlines():           # time, command and pid on each line
        assert line[4] == "-" and line.split()[1].startswith("floe") and "archive[" in line


def test_pidfile_written_and_removed(stream, tmp_path):
    pid = tmp_path / "a.pid"
    a = archiver("--dir", tmp_path / "arc", "--pidfile", pid)
    wait_for(pid.exists, "the pid file")
    assert int(pid.read_text()) == a.pid
    a.stdin.write(stream)
    finish(a)
    assert a.returncode == 0
    assert not pid.exists()


def test_config_options_apply_and_flags_override(flows, stream, tmp_path):
    conf = tmp_path / "floe.conf"
    conf.write_text(f"""# the archiver of link 1
instance = from-global
[capture]
status = 30s
[archive]
dir = {tmp_path / 'arc'}
rotate = 5m     
stats = yes
pidfile = "{tmp_path / 'p.pid'}"
""")
    p = subprocess.run([FLOE, "archive", "--config", str(conf)], input=stream, capture_output=True)
    assert p.returncode == 0, p.stderr
    # dir, instance (global) and rotate (5m: the period starts at 10:30) from the file
    got = [f.name for f in files(tmp_path / "arc", "*.floe")]
    assert got == ["from-global.20210428T103000Z.floe"]
    p = subprocess.run([FLOE, "archive", "--config", str(conf), "--instance", "flag",
                        "--rotate", "1h"], input=stream, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "arc/flag/2021/04/28/flag.20210428T100000Z.floe").exists()
    # long names of short options work on the command line too (-r)
    run("archive", "--config", conf, "--instance", "long", "--read", flows)
    assert records("-R", tmp_path / "arc/long") == records("-r", flows)


def test_config_applies_to_other_services(flows, tmp_path):
    conf = tmp_path / "floe.conf"
    conf.write_text(f"[capture]\nwrite = {tmp_path / 'out.floe'}\nstatus = 60s\n"
                    f"read = {PCAP}\n")
    run("capture", "--config", conf)
    assert records("-r", tmp_path / "out.floe") == records("-r", flows)


@pytest.mark.parametrize("text,line,why", [
    ("[archive]\ndir = /x\nkeep 10d\n", 3, "expected 'key = value', not 'keep 10d'"),
    ("# c\n\n[archive]\nkep = 10d\n", 4, "unknown key 'kep'"),
    ("[capture]\ndir = /x\n", 2, "'dir' is not an option of floe capture"),
    ("[archiver]\n", 1, "unknown section [archiver]"),
    ("[archive]\ndir = /x\ndir = /y\n", 3, "'dir' given twice (first on line 2)"),
    ("[archive]\nstats = maybe\n", 2, "'stats' takes yes or no"),
    ("[archive]\ndir =\n", 2, "'dir' needs a value"),
    ("[archive\n", 1, "bad section header"),
    ('[archive]\ndir = "/x\n', 2, "badly quoted"),
])
def test_bad_config_line_is_named(tmp_path, text, line, why):
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    p = run("archive", "--config", conf, "--dir", tmp_path / "arc", check=False)
    assert p.returncode == 2
    assert f"{conf}:{line}: " in p.stderr and why in p.stderr, p.stderr
    assert not (tmp_path / "arc").exists()


def test_default_config_when_started_by_systemd(flows, tmp_path):
    """Without --config a service started by systemd ($INVOCATION_ID) reads
    /etc/floe/floe.conf: here a directory of the test's own mounted on
    /etc in a mount namespace the test makes."""
    etc = tmp_path / "etc"
    (etc / "floe").mkdir(parents=True)
    (etc / "floe/floe.conf").write_text(f"[archive]\ndir = {tmp_path / 'arc'}\n"
                                        "instance = fromdefault\n")

    def archive_in_namespace(env):
        return subprocess.run(["unshare", "-m", "sh", "-c",
                               f'mount --bind "{etc}" /etc && exec "{FLOE}" archive -r "{flows}"'],
                              capture_output=True, text=True, env=env, timeout=60)
    p = archive_in_namespace({**os.environ, "INVOCATION_ID": "0123456789abcdef"})
    assert p.returncode == 0, p.stderr
    assert records("-R", tmp_path / "arc/fromdefault") == records("-r", flows)
    # not started by systemd: no file is read, so no --dir
    env = {k: v for k, v in os.environ.items() if k != "INVOCATION_ID"}
    p = archive_in_namespace(env)
    assert p.returncode == 2 and "give --dir ARCHIVE" in p.stderr


def test_missing_config_is_an_error(tmp_path):
    p = run("archive", "--config", tmp_path / "none.conf", "--dir", tmp_path, check=False)
    assert p.returncode == 2 and "none.conf" in p.stderr


def test_expiry_runs_as_files_close(flows, tmp_path):
    """Records of 2021, files of 5 s, keep 30 days: each file that closes
    on rotation is expired at once; the last one, closed at the end,
    stays until the next start."""
    arc = tmp_path / "arc"
    p = run("archive", "--dir", arc, "--instance", "r", "--rotate", "5s", "--keep", "30d",
            "-r", flows)
    expired = [l for l in p.stderr.splitlines() if "expired" in l and "(age" in l]
    assert len(expired) >= 3, p.stderr
    assert len(files(arc, "*.floe")) == 1
    run("archive", "--dir", arc, "--instance", "r", "--keep", "30d", "-r", "/dev/null")
    assert files(arc, "*.floe") == []


def test_sighup_rereads_keep_and_expires(flows, stream, tmp_path):
    arc = tmp_path / "arc"
    run("archive", "--dir", arc, "--instance", "old", "-r", flows)
    old = files(arc / "old", "*.floe")
    assert len(old) == 1
    conf, log = tmp_path / "floe.conf", tmp_path / "a.log"
    conf.write_text(f"[archive]\ndir = {arc}\ninstance = live\nlog = {log}\n")
    a = archiver("--config", conf)
    wait_for(lambda: log.exists() and "archiving" in log.read_text(), "start")
    assert old[0].exists()
    # records of 2021 are older than 30 days: expired once keep is set
    conf.write_text(f"[archive]\ndir = {arc}\ninstance = live\nlog = {log}\nkeep = 30d\n")
    a.send_signal(signal.SIGHUP)
    wait_for(lambda: not old[0].exists(), "the old file expired")
    assert "reread configuration" in log.read_text()
    assert "expired" in log.read_text()
    finish(a)
    assert a.returncode == 0


def test_bad_config_on_sighup_keeps_running(stream, tmp_path):
    conf, log = tmp_path / "floe.conf", tmp_path / "a.log"
    conf.write_text(f"[archive]\ndir = {tmp_path / 'arc'}\nlog = {log}\n")
    a = archiver("--config", conf)
    wait_for(lambda: log.exists() and "archiving" in log.read_text(), "start")
    conf.write_text("[archive]\nnonsense\n")
    a.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration unchanged" in log.read_text(), "the refusal")
    assert f"{conf}:2:" in log.read_text()
    a.stdin.write(stream)
    finish(a)
    assert a.returncode == 0


SYSLOG_PROBE = r"""
import socket, subprocess, sys
# in a private mount namespace: /dev a tmpfs holding null and a log socket
floe, arc, flows = sys.argv[1:4]
subprocess.run(["mount", "-t", "tmpfs", "none", "/dev"], check=True)
subprocess.run(["mknod", "-m", "666", "/dev/null", "c", "1", "3"], check=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
p = subprocess.run([floe, "archive", "--dir", arc, "--syslog", "local3", "-r", flows],
                   capture_output=True)
s.settimeout(0.5)
print(p.returncode, len(p.stderr))
try:
    while True:
        print(s.recv(4096).decode())
except socket.timeout:
    pass
"""


def test_syslog_messages(flows, tmp_path):
    """--syslog local3: the messages reach /dev/log (a socket of the test's
    own, in a mount namespace the test makes) with the facility, the ident
    floe-archive and the pid; nothing goes to stderr."""
    probe = tmp_path / "probe.py"
    probe.write_text(SYSLOG_PROBE)
    p = subprocess.run(["unshare", "-m", "python3", str(probe), FLOE, str(tmp_path / "arc"),
                        str(flows)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "0 0"
    # <158>: facility local3 (19) * 8 + info (6), RFC 3164
    assert any(l.startswith("<158>") and "floe-archive[" in l and "info: archived 37669 records"
               in l for l in lines[1:]), p.stdout


def test_syslog_option(stream, tmp_path):
    p = subprocess.run([FLOE, "archive", "--dir", str(tmp_path / "arc"), "--syslog", "local3"],
                       input=stream, capture_output=True)
    assert p.returncode == 0
    assert p.stderr == b""
    p = run("archive", "--dir", tmp_path / "arc", "--syslog", "--log", tmp_path / "l",
            check=False)
    assert p.returncode == 2 and "not both" in p.stderr
    # in the file: a section's log wins over a global syslog, syslog = no ends it
    conf = tmp_path / "floe.conf"
    conf.write_text(f"syslog = local1\n[archive]\nlog = {tmp_path / 'a.log'}\n")
    p = subprocess.run([FLOE, "archive", "--config", str(conf), "--dir", str(tmp_path / "b")],
                       input=stream, capture_output=True)
    assert p.returncode == 0 and p.stderr == b"" and "archived" in (tmp_path / "a.log").read_text()
    conf.write_text("syslog = local1\n[archive]\nsyslog = no\n")
    p = subprocess.run([FLOE, "archive", "--config", str(conf), "--dir", str(tmp_path / "c")],
                       input=stream, capture_output=True)
    assert p.returncode == 0 and b"archived" in p.stderr


def test_stream_cut_inside_a_block(stream, tmp_path):
    p = subprocess.run([FLOE, "archive", "--dir", str(tmp_path / "arc")],
                       input=stream[:len(stream) // 2], capture_output=True)
    assert p.returncode == 3
    assert b"ends inside a block" in p.stderr
    assert files(tmp_path / "arc", "*.part") == []
    verify_all(tmp_path / "arc")


def test_damaged_block_is_skipped_and_named(flows, stream, tmp_path):
    header, blocks, footer = split_stream(stream)
    bad = bytearray(blocks[3])
    bad[len(bad) // 2] ^= 0x55             # a payload byte: the block fails its CRC
    data = header + b"".join(blocks[:3]) + bytes(bad) + b"".join(blocks[4:]) + footer
    p = subprocess.run([FLOE, "archive", "--dir", str(tmp_path / "arc")], input=data,
                       capture_output=True)
    assert p.returncode == 3
    assert b"block 3 at offset" in p.stderr and b"1 damaged blocks skipped" in p.stderr
    want = records("-r", flows)
    assert records("-R", tmp_path / "arc") == want[:3000] + want[4000:]


def test_not_a_floe_stream(tmp_path):
    p = subprocess.run([FLOE, "archive", "--dir", str(tmp_path / "arc")],
                       input=PCAP.read_bytes()[:10000], capture_output=True)
    assert p.returncode == 1
    assert b"not a floe file" in p.stderr


def test_collect_as_a_service_survives_sighup(tmp_path):
    """The conventions hold for the other services: config, pid file, log,
    and SIGHUP (systemctl reload) does not kill."""
    port, pid, log = free_port(), tmp_path / "c.pid", tmp_path / "c.log"
    conf = tmp_path / "floe.conf"
    conf.write_text(f"log = {log}\n[collect]\nlisten = udp://127.0.0.1:{port}\n"
                    f"write = {tmp_path / 'out.floe'}\npidfile = {pid}\n")
    c = subprocess.Popen([FLOE, "collect", "--config", str(conf)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    wait_for(pid.exists, "the pid file")
    assert int(pid.read_text()) == c.pid
    c.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert c.poll() is None
    c.send_signal(signal.SIGTERM)
    c.wait(timeout=10)
    assert c.returncode == 0, c.stderr.read()
    assert not pid.exists()


# ---- from stream servers (-S) ----

def test_stream_source_into_archive(flows, tmp_path):
    port = free_port()
    srv = subprocess.Popen([FLOE, "read", "-r", str(flows), "--listen", f"127.0.0.1:{port}",
                            "--subscribers", "1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    a = subprocess.run([FLOE, "archive", "--dir", str(tmp_path / "arc"), "--instance", "s",
                        "-S", f"127.0.0.1:{port}"], capture_output=True, timeout=60)
    srv.communicate(timeout=30)
    assert srv.returncode == 0 and a.returncode == 0, a.stderr
    assert b"every source ended its stream" in a.stderr
    got = records("-R", tmp_path / "arc")
    assert got == records("-r", flows)
    # the server numbered the records: 1, 2, ... in the archive
    seqs = [int(l) for l in run("read", "-R", tmp_path / "arc", "-s", "seq", "-o", "csv",
                                 "--no-header").stdout.decode().split()]
    assert seqs == list(range(1, len(got) + 1))


def test_stream_kill_9_then_restart_resumes_by_seq(flows, stream, tmp_path):
    """The archiver dies; restarted, it takes the rest from the server's
    backlog: every record once, the seqs 1..N without a gap or a repeat."""
    arc, port = tmp_path / "arc", free_port()
    srv = subprocess.Popen([FLOE, "read", "-r", "-", "--listen", f"127.0.0.1:{port}",
                            "--linger", "3s"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        a = archiver("--dir", arc, "--instance", "s", "-S", f"127.0.0.1:{port}",
                     "--block-records", "500", stdin=subprocess.DEVNULL)
        half = feed_slowly(srv, stream, len(stream) // 2)
        wait_for(lambda: part_blocks(arc) > 0, "a complete block in the .part")
        a.send_signal(signal.SIGKILL)
        a.wait()
        assert len(files(arc, "*.part")) == 1
        b = archiver("--dir", arc, "--instance", "s", "-S", f"127.0.0.1:{port}",
                     "--block-records", "500", stdin=subprocess.DEVNULL)
        srv.stdin.write(stream[half:])
        srv.stdin.close()
        err = b.stderr.read()
        b.wait(timeout=60)
        assert b.returncode == 0, err
        assert b"resuming after the last seq of each sensor" in err
        assert b"resumed after seq" in err
        # the server started after the resume points: nothing came twice
        assert b", 0 dropped as already archived" in err, err
    finally:
        srv.kill()
        srv.wait()
    assert files(arc, "*.part") == []
    assert "2 files: 2 ok" in verify_all(arc)
    got, want = records("-R", arc), records("-r", flows)
    assert collections.Counter(got) == collections.Counter(want)
    seqs = sorted(int(l) for l in run("read", "-R", arc, "-s", "seq", "-o", "csv",
                                       "--no-header").stdout.decode().split())
    assert seqs == list(range(1, len(want) + 1))


PCAP2 = SHARED / "pcaps" / "chrissanders_packets__http_espn.pcap"


def test_stream_two_sources_kill_9_then_restart(flows, stream, tmp_path):
    """Two sensors (ids 1 and 2) served by two servers; the archiver of both
    is killed and restarted: each sensor's seqs 1..N once."""
    arc = tmp_path / "arc"
    run("capture", "-r", PCAP, "--sensor", "1", "-w", tmp_path / "s1.floe")
    run("capture", "-r", PCAP2, "--sensor", "2", "-w", tmp_path / "s2.floe")
    streams = [subprocess.run([FLOE, "read", "-r", str(tmp_path / f"s{i}.floe"), "-w", "-",
                               "--block-records", "1000"], capture_output=True,
                              check=True).stdout for i in (1, 2)]
    ports = [free_port(), free_port()]
    srvs = [subprocess.Popen([FLOE, "read", "-r", "-", "--listen", f"127.0.0.1:{p}",
                              "--linger", "3s"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for p in ports]
    sources = [w for p in ports for w in ("-S", f"127.0.0.1:{p}")]
    try:
        a = archiver("--dir", arc, "--instance", "two", *sources, "--block-records", "500",
                     stdin=subprocess.DEVNULL)
        halves = [feed_slowly(srv, st, len(st) // 2) for srv, st in zip(srvs, streams)]
        wait_for(lambda: part_blocks(arc) > 0, "a complete block in the .part")
        a.send_signal(signal.SIGKILL)
        a.wait()
        b = archiver("--dir", arc, "--instance", "two", *sources, "--block-records", "500",
                     stdin=subprocess.DEVNULL)
        for srv, st, h in zip(srvs, streams, halves):
            srv.stdin.write(st[h:])
            srv.stdin.close()
        err = b.stderr.read()
        b.wait(timeout=60)
        assert b.returncode == 0, err
    finally:
        for srv in srvs:
            srv.kill()
            srv.wait()
    assert files(arc, "*.part") == []
    verify_all(arc)
    want = records("-r", tmp_path / "s1.floe") + records("-r", tmp_path / "s2.floe")
    assert collections.Counter(records("-R", arc)) == collections.Counter(want)
    rows = run("read", "-R", arc, "-s", "sid", "seq", "-o", "csv", "--no-header").stdout.decode()
    per = collections.defaultdict(list)
    for line in rows.split():
        sid, seq = line.split(",")
        per[sid].append(int(seq))
    assert sorted(per) == ["1", "2"]
    for sid, seqs in per.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), sid


def test_stream_server_restarted_while_the_archiver_was_away(flows, tmp_path):
    """A new run of the server numbers from 1 again: the restarted archiver
    takes all of it, although its seqs are at or below what it has."""
    arc = tmp_path / "arc"

    def serve_and_archive():
        port = free_port()
        srv = subprocess.Popen([FLOE, "read", "-r", str(flows), "--listen", f"127.0.0.1:{port}",
                                "--subscribers", "1"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        a = subprocess.run([FLOE, "archive", "--dir", str(arc), "--instance", "s",
                            "-S", f"127.0.0.1:{port}"], capture_output=True, timeout=60)
        srv.wait(timeout=30)
        assert a.returncode == 0, a.stderr
        return a.stderr

    serve_and_archive()
    assert (arc / "s/.session").exists()
    err = serve_and_archive()
    assert b"the server restarted since the last record archived" in err
    want = records("-r", flows)
    assert collections.Counter(records("-R", arc)) == collections.Counter(want + want)
    assert "2 files: 2 ok" in verify_all(arc)


def test_stream_archiver_stops_on_sigterm(tmp_path):
    port = free_port()
    srv = subprocess.Popen([FLOE, "read", "-r", "-", "--listen", f"127.0.0.1:{port}"],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        a = archiver("--dir", tmp_path / "arc", "-S", f"127.0.0.1:{port}",
                     stdin=subprocess.DEVNULL)
        time.sleep(0.5)
        a.send_signal(signal.SIGTERM)
        a.wait(timeout=10)
        assert a.returncode == 0
        assert b"stopping on a signal" in a.stderr.read()
    finally:
        srv.kill()
        srv.wait()


# ---- dist/: systemd units and the example configuration ----

DIST = pathlib.Path(__file__).resolve().parents[2] / "dist"
UNITS = {"floe-capture@.service": "capture", "floe-collect.service": "collect",
         "floe-archive.service": "archive", "floe-relay.service": "relay"}


def unit(name):
    """A unit file as {section: {key: [values]}}."""
    out, sec = {}, None
    for line in (DIST / name).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            sec = out.setdefault(line.strip("[]"), {})
            continue
        k, _, v = line.partition("=")
        sec.setdefault(k.strip(), []).append(v.strip())
    return out


def conf_value(section, key):
    sec = None
    for line in (DIST / "floe.conf").read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            sec = line.strip("[]")
        elif sec == section and line.split("=")[0].strip() == key:
            return line.split("=", 1)[1].strip()
    return None


@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_is_sandboxed(name):
    u = unit(name)
    s = u["Service"]
    cmd = UNITS[name]
    assert s["ExecStart"][0].startswith(f"/usr/bin/floe {cmd} --config /etc/floe/floe.conf")
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["ProtectSystem"] == ["strict"]
    assert s["NoNewPrivileges"] == ["yes"]
    assert s.get("User") == ["floe"] or s.get("DynamicUser") == ["yes"]
    caps = s["CapabilityBoundingSet"][0].split()
    assert caps == (["CAP_NET_RAW", "CAP_NET_ADMIN"] if cmd == "capture" else [])
    if cmd != "relay":   # writers: the archive is the one place they write
        assert conf_value("archive", "dir") in s["ReadWritePaths"]
    assert u["Install"]["WantedBy"] == ["multi-user.target"]


def test_units_verify_with_systemd(tmp_path):
    """systemd-analyze verify, with ExecStart pointing at the built floe."""
    names = []
    for name in UNITS:
        text = (DIST / name).read_text().replace("/usr/bin/floe", FLOE)
        dst = tmp_path / name.replace("@.", "@eth0.")
        dst.write_text(text)
        names.append(str(dst))
    p = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "floe" not in p.stderr, p.stderr


@pytest.mark.parametrize("cmd", ["capture", "collect", "archive", "relay"])
def test_example_config_parses_for_every_service(cmd):
    p = run(cmd, "--config", DIST / "floe.conf", "--help")
    assert p.returncode == 0 and p.stderr == ""


def test_sysusers_and_tmpfiles_match_the_units():
    users = [l.split() for l in (DIST / "floe.sysusers").read_text().splitlines()
             if l and not l.startswith("#")]
    assert users[0][:2] == ["u", "floe"]
    dirs = {l.split()[1]: l.split()[3:5] for l in (DIST / "floe.tmpfiles").read_text().splitlines()
            if l and not l.startswith("#")}
    assert dirs[conf_value("archive", "dir")] == ["floe", "floe"]
    assert dirs[str(pathlib.Path(conf_value(None, "log")).parent)] == ["floe", "floe"]
    for name in UNITS:
        s = unit(name)["Service"]
        assert s["User"] == ["floe"] and s["LogsDirectory"] == ["floe"]
