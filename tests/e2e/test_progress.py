"""The progress line of long reads: on a terminal (stderr a tty) read,
cluster, sort, bins and graph show files, records, rate and time left
while they read, and erase the line at the end; on a pipe they say
nothing.  The read is made slow by feeding standard input in two parts."""
import os
import pty
import re
import subprocess
import threading
import time

import pytest

from conftest import FLOE, SHARED, run

WECHAT = SHARED / "pcaps" / "ntop_nDPI__tests_cfgs_default_pcap_wechat.pcap"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("progress")
    run("capture", "-r", WECHAT, "-w", d / "w.floe", "--block-records", "16")
    run("capture", "-r", SHARED / "pcaps" / "chrissanders_packets__http_espn.pcap", "-w", d / "e.floe")
    return d


class Drain:
    """Reads a pseudo-terminal's master side as the program writes, so a
    full terminal buffer never blocks it."""

    def __init__(self, master):
        self.master, self.data = master, b""
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.data += chunk

    def text(self):
        self.t.join(timeout=30)
        os.close(self.master)
        return self.data


def slow(args, data, tty=True, pause=1.2):
    """Runs floe with data on stdin, 40 % first, the rest after pause
    seconds; stderr on a pseudo-terminal (or a pipe).  Returns (exit
    status, stdout, stderr)."""
    if tty:
        master, slave = pty.openpty()
        err = slave
    else:
        err = subprocess.PIPE
    p = subprocess.Popen([FLOE, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=err)
    if tty:
        os.close(slave)
        drain = Drain(master)
    cut = len(data) * 2 // 5
    p.stdin.write(data[:cut])
    p.stdin.flush()
    time.sleep(pause)
    p.stdin.write(data[cut:])
    p.stdin.close()
    out = p.stdout.read()
    if not tty:
        text = p.stderr.read()
        p.wait()
        return p.returncode, out, text.decode()
    p.wait()
    return p.returncode, out, drain.text().decode()


@pytest.mark.parametrize("cmd", [
    ["read", "-w", "-"],
    ["cluster", "-m", "saddr"],
    ["sort", "-m", "bytes"],
    ["bins", "-b", "5m"],
    ["graph", "-b", "1d", "-o", "-"],
])
def test_progress_on_a_terminal(files, cmd):
    data = (files / "w.floe").read_bytes()
    rc, out, err = slow([cmd[0], "-r", files / "e.floe", "-r", "-", *cmd[1:]], data)
    assert rc == 0 and out
    # one or more lines drawn over each other, then erased
    m = re.search(r"\rfloe %s: file 2 of 2, (\d+) records, [\d.]+k? records/s, 0:0\d left" % cmd[0], err)
    assert m, repr(err)
    assert int(m.group(1)) >= 39 + 16
    assert err.endswith("\r") and err.rstrip("\r ").count("\n") == 0
    assert err[err.rindex("records/s"):].strip("\r ").endswith("left")


def test_same_output_with_and_without_progress(files):
    data = (files / "w.floe").read_bytes()
    for cmd in (["cluster", "-m", "dport", "--sort", "dport", "-o", "csv"], ["bins", "-b", "1m", "-o", "csv"]):
        _, with_tty, _ = slow([cmd[0], "-r", "-", *cmd[1:]], data, pause=0.8)
        _, without, err = slow([cmd[0], "-r", "-", *cmd[1:]], data, tty=False, pause=0.8)
        assert with_tty == without and err == ""


def test_records_on_the_terminal_mean_no_progress(files):
    """floe read printing records to the terminal: the line would tear
    them, so it stays off."""
    data = (files / "w.floe").read_bytes()
    master, slave = pty.openpty()
    p = subprocess.Popen([FLOE, "read", "-r", "-"], stdin=subprocess.PIPE, stdout=slave, stderr=slave)
    os.close(slave)
    drain = Drain(master)
    p.stdin.write(data[:len(data) // 2])
    p.stdin.flush()
    time.sleep(1.0)
    p.stdin.write(data[len(data) // 2:])
    p.stdin.close()
    assert p.wait(timeout=30) == 0
    text = drain.text()
    assert b"records/s" not in text and text.count(b"\n") >= 157
