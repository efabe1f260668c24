"""The command line: usage, exit codes, and one clear message for bad input."""
import os
import shutil

import pytest

from conftest import PCAPS, SHARED, run

SAMPLE = SHARED / "pcaps" / "chrissanders_packets__http_espn.pcap"


def test_usage_and_help(floe_bin):
    p = run(check=False)
    assert p.returncode == 2 and "usage: floe COMMAND" in p.stderr
    for cmd in ("capture", "read", "fields"):
        h = run(cmd, "--help")
        assert b"usage: floe " + cmd.encode() in h.stdout
    assert run("version").stdout.startswith(b"floe ")
    p = run("nosuch", check=False)
    assert p.returncode == 2 and "unknown command 'nosuch'" in p.stderr


def test_fields_lists_catalog(floe_bin):
    out = run("fields").stdout.decode()
    for name in ("stime", "saddr", "sappbytes", "tcprtt", "sretrans", "smac", "trans"):
        assert f"\n{name} " in out


@pytest.mark.parametrize("args,message", [
    (["read"], "no input"),
    (["read", "-r"], "-r needs an argument"),
    (["read", "-r", "x", "-o", "xml"], "unknown output format 'xml'"),
    (["read", "-r", "x", "-s", "saddr,+bogus"], "unknown field 'bogus'"),
    (["read", "-r", "x", "--status", "5"], "not for this command"),
    (["capture", "-r", "x", "--max-flows", "many"], "bad --max-flows"),
    (["capture", "-r", "x", "--status", "soon"], "bad --status"),
])
def test_usage_errors(floe_bin, args, message):
    p = run(*args, check=False)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert p.stdout == b""


def bad_inputs(tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(4096))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    magic = tmp_path / "wrongmagic"
    magic.write_bytes(b"ARGUS\x00\x01" + b"\x00" * 200)
    text = tmp_path / "text.txt"
    text.write_text("StartTime|LastTime|Proto\n")
    return {"garbage": garbage, "empty": empty, "wrong magic": magic, "text": text,
            "missing": tmp_path / "does-not-exist"}


@pytest.mark.parametrize("cmd", ["capture", "read"])
def test_bad_input_files(floe_bin, tmp_path, cmd):
    for what, path in bad_inputs(tmp_path).items():
        p = run(cmd, "-r", path, check=False)
        assert p.returncode == 1, f"{cmd} {what}: exit {p.returncode}"
        assert p.stdout == b"", f"{cmd} {what}: output on stdout"
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        assert len(lines) == 1, f"{cmd} {what}: {p.stderr!r}"
        assert f"floe {cmd}: cannot read '{path}'" in lines[0]


def test_unreadable_path(floe_bin, tmp_path):
    if os.geteuid() == 0:
        # root reads mode-000 files; a directory is unreadable as a file for anyone
        path = tmp_path
    else:
        path = tmp_path / "locked"
        shutil.copy(SAMPLE, path)
        path.chmod(0)
    for cmd in ("capture", "read"):
        p = run(cmd, "-r", path, check=False)
        assert p.returncode == 1 and p.stdout == b""
        assert f"cannot read '{path}'" in p.stderr


def test_truncated_pcap(floe_bin, tmp_path):
    """A capture cut mid-packet: the flows of the complete packets are kept,
    the cut is reported once, the exit status says it failed."""
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) // 2 + 7])
    out = tmp_path / "cut.floe"
    p = run("capture", "-r", cut, "-w", out, check=False)
    assert p.returncode == 1
    assert "cannot read" in p.stderr and "truncated" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    r = run("read", "-r", out, "-s", "spkts")
    assert len(r.stdout.splitlines()) > 5


def test_truncated_floe_file_reads_complete_blocks(floe_bin, tmp_path):
    full = tmp_path / "full.floe"
    run("capture", "-r", SHARED / "pcaps" / "StopDDoS_packet-captures__pkt.TCP.synflood.spoofed.pcap",
        "--block-records", "1000", "-w", full)
    data = full.read_bytes()
    cut = tmp_path / "cut.floe"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    p = run("read", "-r", cut, "-s", "saddr", "--no-header", check=False)
    assert p.returncode in (0, 3), p.stderr
    n_full = len(run("read", "-r", full, "-s", "saddr", "--no-header").stdout.splitlines())
    n_cut = len(p.stdout.splitlines())
    assert 0 < n_cut < n_full
