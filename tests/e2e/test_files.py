"""floe files under damage: killed writers, torn and corrupt blocks, newer
versions.  (The codec's unit tests cover every offset; these check what the
user sees: messages, exit codes, and that the rest is read.)"""
import re

import pytest

from conftest import SHARED, read_csv, run

SYNFLOOD = SHARED / "pcaps" / "StopDDoS_packet-captures__pkt.TCP.synflood.spoofed.pcap"


@pytest.fixture(scope="module")
def multiblock(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "multi.floe"
    run("capture", "-r", SYNFLOOD, "--block-records", "1000", "-w", path)
    return path


def count(path, *extra, check=True):
    p = run("read", "-r", path, "-s", "saddr", "--no-header", *extra, check=check)
    return p, len(p.stdout.splitlines())


def test_corrupt_block_is_named_and_skipped(floe_bin, tmp_path, multiblock):
    _, total = count(multiblock)
    data = bytearray(multiblock.read_bytes())
    mid = len(data) // 2
    data[mid] ^= 0xFF
    bad = tmp_path / "corrupt.floe"
    bad.write_bytes(bytes(data))
    p, n = count(bad, check=False)
    assert p.returncode == 3, p.stderr
    assert "block" in p.stderr and str(bad) in p.stderr and "offset" in p.stderr
    assert total - 1000 <= n < total


def test_no_footer_reads_complete_blocks(floe_bin, tmp_path, multiblock):
    _, total = count(multiblock)
    data = multiblock.read_bytes()
    footer = int.from_bytes(data[-24:-16], "little")
    for end in (int(footer * 0.3), int(footer * 0.6), footer - 100):
        cut = tmp_path / f"cut{end}.floe"
        cut.write_bytes(data[:end])
        p, n = count(cut, check=False)
        assert p.returncode in (0, 3), p.stderr
        assert 0 < n < total
        assert n % 1000 == 0, "only whole blocks are returned"


def test_stdin_matches_file(floe_bin, multiblock):
    a = read_csv(multiblock, ["stime", "saddr", "daddr", "spkts"])
    b = read_csv(multiblock.read_bytes(), ["stime", "saddr", "daddr", "spkts"])
    assert a == b


def test_newer_major_version_refused(floe_bin, tmp_path, multiblock):
    data = bytearray(multiblock.read_bytes())
    m = re.search(rb"FLOE", bytes(data[:16]))
    assert m is not None
    # docs/format.md: the major version is the little-endian u16 after the magic
    data[4:6] = (99).to_bytes(2, "little")
    newer = tmp_path / "newer.floe"
    newer.write_bytes(bytes(data))
    p = run("read", "-r", newer, check=False)
    assert p.returncode == 1 and p.stdout == b""
    assert "newer" in p.stderr
