"""Shared fixtures for floe's end-to-end tests.

The tests run the built binary ($FLOE, set by meson) on the real captures in
$FLOE_SHARED_DATA (../shared/data) and compare with golden files and with
Argus's reference output.
"""
import csv
import io
import os
import pathlib
import socket
import subprocess

import pytest

FLOE = os.environ.get("FLOE", str(pathlib.Path(__file__).resolve().parents[2] / "build/src/cli/floe"))
SHARED = pathlib.Path(os.environ.get("FLOE_SHARED_DATA",
                                     pathlib.Path(__file__).resolve().parents[3] / "shared/data"))
PCAPS = sorted((SHARED / "pcaps").glob("*.pcap"))
REFERENCE = SHARED / "reference"


def run(*args, stdin=None, check=True, env=None):
    """Runs floe with args; returns CompletedProcess (bytes stdout, text stderr)."""
    p = subprocess.run([FLOE, *map(str, args)], input=stdin, capture_output=True, env=env)
    p.stderr = p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError(f"floe {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}")
    return p


def read_csv(path_or_bytes, fields, *extra):
    """floe read -o csv of a file (or of bytes on stdin), as a list of dicts."""
    if isinstance(path_or_bytes, bytes):
        p = run("read", "-r", "-", "-o", "csv", "-u", "-p", "6", "-s", ",".join(fields), *extra,
                stdin=path_or_bytes)
    else:
        p = run("read", "-r", path_or_bytes, "-o", "csv", "-u", "-p", "6", "-s", ",".join(fields), *extra)
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port that no socket of kind (TCP by default, SOCK_DGRAM
    for UDP) holds now, for a server the test starts next."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pcap_packet_count(path):
    """Counts the records of a classic pcap file without libpcap."""
    import struct
    data = pathlib.Path(path).read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("not a classic pcap")
    off, n = 24, 0
    while off + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        if off + 16 + caplen > len(data):
            break
        off += 16 + caplen
        n += 1
    return n


@pytest.fixture(scope="session")
def floe_bin():
    assert os.access(FLOE, os.X_OK), f"floe binary not found at {FLOE}"
    return FLOE
