"""floe collect: golden decode tests against tshark, and the binary's
handling of hostile input.

The golden files (tests/data/collect/golden/GROUP.csv) were written by
tests/data/collect/mkgolden.py from tshark's decode of the same captures
(tshark -T json, every UDP port decoded as cflow); see that script for the
conventions it applies.  Each flow is compared column by column.
"""
import csv
import io
import os
import pathlib

import pytest

from conftest import FLOE, SHARED, run

DATA = pathlib.Path(os.environ.get("FLOE_TEST_DATA", pathlib.Path(__file__).resolve().parents[1] / "data"))
GOLDEN = DATA / "collect" / "golden"
COLS = ["stime", "ltime", "saddr", "daddr", "sport", "dport", "proto", "spkts", "sbytes", "inif",
        "outif", "sas", "das", "nexthop", "stcpflags", "stos", "sampling", "exporter", "sid"]


def groups():
    out = []
    for line in (GOLDEN / "GROUPS").read_text().splitlines():
        if line.startswith("#") or ":" not in line:
            continue
        name, files = line.split(":", 1)
        out.append((name.strip(), files.split()))
    return out


def collect_csv(files, *extra):
    args = ["collect"]
    for f in files:
        args += ["-r", SHARED / "netflow" / f]
    p = run(*args, "-o", "csv", "-n", "-u", "-p", "6", "-s", ",".join(COLS), *extra)
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


# Captures where tshark and floe are meant to differ, with floe's record count.
KNOWN = {
    # tshark keys templates by transport session (addresses and ports);
    # floe, like nfdump, by exporter address and observation domain
    # (docs/collect.md).  From frame 11 on the exporter sends from another
    # source port to another collector address, and tshark finds no
    # template for data floe decodes.
    "pmacct-112-00": 9,
}


@pytest.mark.parametrize("name,files", groups(), ids=[g[0] for g in groups()])
def test_golden_decode(name, files):
    want = list(csv.DictReader(open(GOLDEN / f"{name}.csv")))
    got = collect_csv(files)
    if name in KNOWN:
        assert len(want) == 0 and len(got) == KNOWN[name]
        return
    assert len(got) == len(want), f"{name}: {len(got)} records, tshark shows {len(want)} flows"
    bad = []
    for i, (g, w) in enumerate(zip(got, want)):
        for c in COLS:
            if g[c] != w[c]:
                bad.append(f"flow {i} {c}: floe {g[c]!r}, tshark {w[c]!r}")
    assert not bad, f"{name}: {len(bad)} differences: " + "; ".join(bad[:12])


def test_read_ipfix_file():
    """floe read -r FILE.ipfix (RFC 5655) gives the records collect -r does."""
    f = SHARED / "netflow" / "CESNET_ipfixcol2__doc_data_ipfix_example_flows.ipfix"
    p = run("read", "-r", f, "-o", "csv", "-n", "-u", "-p", "6", "-s", ",".join(COLS))
    got = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    want = list(csv.DictReader(open(GOLDEN / "ipfix-cesnet-file.csv")))
    assert got == want
    # a filter applies as to any records
    p = run("read", "-r", f, "-o", "csv", "-n", "-s", "proto", "udp")
    rows = p.stdout.decode().split()[1:]
    assert rows and set(rows) == {"17"}
    assert len(rows) == sum(1 for w in want if w["proto"] == "17")


def test_collect_writes_a_file_and_stats(tmp_path):
    """-w writes a floe file that floe read reads back; --stats counts per exporter."""
    files = GROUPS_BY_NAME["v9-options-sampling"]
    out = tmp_path / "x.floe"
    args = ["collect", "--stats", "-w", out]
    for f in files:
        args += ["-r", SHARED / "netflow" / f]
    p = run(*args)
    assert "exporter 192.0.2.100 netflow9 domain 0:" in p.stderr
    assert "records 4" in p.stderr and "options 4" in p.stderr and "sampled 4" in p.stderr
    got = list(csv.DictReader(io.StringIO(run("read", "-r", out, "-o", "csv", "-n", "-u", "-p", "6",
                                              "-s", ",".join(COLS)).stdout.decode())))
    assert got == list(csv.DictReader(open(GOLDEN / "v9-options-sampling.csv")))


def test_collect_archive(tmp_path):
    files = GROUPS_BY_NAME["nfv5"]
    run("collect", "-r", SHARED / "netflow" / files[0], "--archive", tmp_path, "--instance", "nf")
    got = list(csv.DictReader(io.StringIO(run("read", "-R", tmp_path, "-o", "csv", "-n", "-u", "-p", "6",
                                              "-s", ",".join(COLS)).stdout.decode())))
    want = list(csv.DictReader(open(GOLDEN / "nfv5.csv")))
    key = lambda r: tuple(r[c] for c in COLS)
    assert sorted(got, key=key) == sorted(want, key=key)


def test_hostile_pcap(tmp_path):
    """Garbage, truncated and hostile datagrams in a capture are counted and
    never stop the run: a pcap of the fuzz corpus' datagrams."""
    import struct
    corpus = pathlib.Path(__file__).resolve().parents[1] / "fuzz" / "corpus"
    frames = []
    for d in sorted((corpus / "netflow9").iterdir())[:20] + sorted((corpus / "ipfix").iterdir())[:20]:
        payload = d.read_bytes()
        for cut in (len(payload), len(payload) // 2, 7):
            pl = payload[:cut]
            udp = struct.pack(">HHHH", 1234, 2055, 8 + len(pl), 0) + pl
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             bytes([192, 0, 2, 9]), bytes([127, 0, 0, 1])) + udp
            frames.append(b"\0" * 12 + b"\x08\x00" + ip)
    frames.append(b"\0" * 12 + b"\x08\x00" + b"\x45")   # truncated IP
    pcap = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
    for i, fr in enumerate(frames):
        pcap += struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr
    f = tmp_path / "hostile.pcap"
    f.write_bytes(pcap)
    p = run("collect", "-r", f, "--stats", "-w", tmp_path / "o.floe")
    assert "exporter 192.0.2.9 netflow9" in p.stderr
    assert "not export datagrams (not UDP, fragments) 1" in p.stderr


GROUPS_BY_NAME = dict(groups())


def test_read_truncated_ipfix_file(tmp_path):
    """An RFC 5655 file cut inside a message: the whole messages before the
    cut are read, the cut is reported, and the exit code says damaged (3)."""
    data = (SHARED / "netflow" / "CESNET_ipfixcol2__doc_data_ipfix_example_flows.ipfix").read_bytes()
    off, n = 0, 0
    while n < 5:
        off += int.from_bytes(data[off + 2:off + 4], "big")
        n += 1
    f = tmp_path / "cut.ipfix"
    f.write_bytes(data[:off + 100])
    p = run("read", "-r", f, "-o", "csv", "-n", "-u", "-p", "6", "-s", ",".join(COLS), check=False)
    assert p.returncode == 3
    assert "ends inside the IPFIX message at offset" in p.stderr
    got = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    want = list(csv.DictReader(open(GOLDEN / "ipfix-cesnet-file.csv")))
    assert got and got == want[:len(got)]


def sflow_golden():
    """tests/data/sflow/golden.txt (from tshark): {capture: (records,
    sorted [(agent, saddr, sport, daddr, dport)] of the records listed)}."""
    counts, recs = {}, {}
    for line in (DATA / "sflow" / "golden.txt").read_text().splitlines():
        f = line.split("|")
        if line.startswith("#") or len(f) < 2:
            continue
        if len(f) == 2:
            counts[f[0]] = int(dict(kv.split("=") for kv in f[1].split())["records"])
        else:
            recs.setdefault(f[0], []).append((f[1], f[10], f[11], f[12], f[13]))
    return {k: (n, sorted(recs.get(k, []))) for k, n in counts.items()}


@pytest.mark.parametrize("capture", sorted(sflow_golden()))
def test_collect_sflow_capture(capture):
    """floe collect -r on an sFlow capture: the sFlow decoder behind the
    collector's protocol detection gives the records tshark sees."""
    p = run("collect", "-r", SHARED / "netflow" / capture, "-o", "csv", "-n", "--no-header",
            "-s", "exporter,saddr,sport,daddr,dport,sampling,flgs", "--stats")
    rows = [r.split(",") for r in p.stdout.decode().split()]
    n, listed = sflow_golden()[capture]
    assert len(rows) == n
    if listed:
        assert sorted((r[0], r[1], r[2], r[3], r[4]) for r in rows) == listed
    assert all(int(r[5]) > 0 and "S" in r[6] for r in rows), "sampled, rate kept"
    assert "sflow: datagrams" in p.stderr
