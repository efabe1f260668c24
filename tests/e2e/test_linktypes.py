"""Every link type floe reads gives the same flows.

The bundled Ethernet capture is rewritten, packet by packet, into each other
link type floe supports (the IP packet kept byte for byte, the link header
replaced) and into pcapng; the flows must be the same.  Bytes on the wire
differ by the link header, so the comparison is on keys, packets,
application bytes and state.
"""
import struct

import pytest

from conftest import read_csv, run
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "http_espn.pcap"
FIELDS = ["stime", "proto", "saddr", "sport", "daddr", "dport", "spkts", "dpkts",
          "sappbytes", "dappbytes", "state"]


def packets(path):
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    off = 24
    while off + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack("<IIII", data[off:off + 16])
        yield sec, usec, wirelen, data[off + 16:off + 16 + caplen]
        off += 16 + caplen


def ip_packets(path):
    """(sec, usec, ethertype, ip bytes, ip wire length) of each IP frame."""
    for sec, usec, wirelen, frame in packets(path):
        etype = struct.unpack("!H", frame[12:14])[0]
        if etype in (0x0800, 0x86DD):
            yield sec, usec, etype, frame[14:], wirelen - 14


def link_header(dlt, etype):
    v6 = etype == 0x86DD
    if dlt in (101, 228, 229, 12, 14):                         # raw IP
        return b""
    if dlt == 0:                                               # BSD null, host order AF
        return struct.pack("<I", 24 if v6 else 2)
    if dlt == 108:                                             # OpenBSD loop, network order AF
        return struct.pack("!I", 24 if v6 else 2)
    if dlt == 113:                                             # Linux cooked v1
        return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00", etype)
    if dlt == 276:                                             # Linux cooked v2
        return struct.pack("!HHIHBB8s", etype, 0, 2, 1, 0, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00")
    raise ValueError(dlt)


def write_pcap(path, dlt, src):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, dlt))
        for sec, usec, etype, ip, iplen in ip_packets(src):
            if dlt == 228 and etype != 0x0800:
                continue
            hdr = link_header(dlt, etype)
            f.write(struct.pack("<IIII", sec, usec, len(hdr) + len(ip), len(hdr) + iplen))
            f.write(hdr + ip)


def write_pcapng(path, src):
    """pcapng with one Ethernet interface, every frame as an Enhanced Packet Block."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    with open(path, "wb") as f:
        f.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        f.write(block(0x00000001, struct.pack("<HHI", 1, 0, 65535)))
        for sec, usec, wirelen, frame in packets(src):
            ts = sec * 1000000 + usec
            f.write(block(0x00000006, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF,
                                                   len(frame), wirelen) + frame))


def flows(path):
    return sorted(tuple(r.values()) for r in read_csv(run("capture", "-r", path, "-w", "-").stdout, FIELDS))


@pytest.fixture(scope="module")
def reference():
    return flows(SAMPLE)


@pytest.mark.parametrize("dlt", [101, 12, 14, 0, 108, 113, 276])
def test_linktype(floe_bin, tmp_path, reference, dlt):
    p = tmp_path / f"dlt{dlt}.pcap"
    write_pcap(p, dlt, SAMPLE)
    got = flows(p)
    # ARP and other non-IP frames cannot be carried by raw-IP link types
    want = [r for r in reference if r[1] != "arp"]
    assert got == want


def test_linktype_ipv4_only(floe_bin, tmp_path, reference):
    p = tmp_path / "dlt228.pcap"
    write_pcap(p, 228, SAMPLE)
    assert flows(p) == [r for r in reference if r[1] != "arp" and ":" not in r[2]]


def test_pcapng(floe_bin, tmp_path, reference):
    p = tmp_path / "sample.pcapng"
    write_pcapng(p, SAMPLE)
    assert flows(p) == reference
