#!/usr/bin/python3
"""Seeds the collector fuzz corpora (corpus/netflow5, netflow9, ipfix,
template) from the export datagrams of the real captures in
../shared/data/netflow.  Each protocol corpus gets every distinct datagram
(up to 64 per protocol) as a file, and so does every datagram of the
unit test's cases (tests/data/collect/cases.txt); the template corpus gets, per capture
group (template and data files of one exporter), the datagrams in order as
a length-prefixed sequence (2-byte big-endian length before each).
usage: tests/fuzz/mkcorpus_collect.py SHARED_DATA_DIR
"""
import hashlib
import pathlib
import struct
import sys


def udp_payloads(path):
    data = path.read_bytes()
    magic = data[:4]
    end = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if link == 1:
            et, p = struct.unpack(">H", frame[12:14])[0], 14
            while et in (0x8100, 0x88a8):
                et, p = struct.unpack(">H", frame[p + 2:p + 4])[0], p + 4
        elif link == 113:
            et, p = struct.unpack(">H", frame[14:16])[0], 16
        else:
            continue
        if et == 0x0800:
            hl = (frame[p] & 15) * 4
            if frame[p + 9] != 17:
                continue
            p += hl
        elif et == 0x86dd:
            if frame[p + 6] != 17:
                continue
            p += 40
        else:
            continue
        ulen = struct.unpack(">H", frame[p + 4:p + 6])[0]
        yield frame[p + 8:p + ulen]


def main():
    shared = pathlib.Path(sys.argv[1]) / "netflow"
    here = pathlib.Path(__file__).resolve().parent / "corpus"
    kinds = {5: "netflow5", 9: "netflow9", 10: "ipfix"}
    counts = {k: 0 for k in kinds.values()}
    seqs = {}
    for f in sorted(shared.glob("*.pcap")):
        if "sflow" in f.name:
            continue
        group = f.name.rsplit("-", 1)[0] if "akvorado" in f.name else f.name
        for d in udp_payloads(f):
            if len(d) < 4:
                continue
            v = struct.unpack(">H", d[:2])[0]
            if v not in kinds:
                continue
            seqs.setdefault(group, []).append(d)
            k = kinds[v]
            if counts[k] >= 64:
                continue
            out = here / k
            out.mkdir(parents=True, exist_ok=True)
            name = out / hashlib.sha1(d).hexdigest()[:16]
            if not name.exists():
                name.write_bytes(d)
            counts[k] += 1
    # the hand-built cases of the unit test, hostile ones included
    cases = pathlib.Path(__file__).resolve().parents[1] / "data" / "collect" / "cases.txt"
    for line in cases.read_text().splitlines():
        w = line.split()
        if len(w) == 4 and w[0] == "dgram":
            d = bytes.fromhex(w[3])
            k = kinds.get(struct.unpack(">H", d[:2])[0]) if len(d) >= 2 else None
            if k:
                (here / k / ("case-" + hashlib.sha1(d).hexdigest()[:16])).write_bytes(d)
    out = here / "template"
    out.mkdir(parents=True, exist_ok=True)
    for group, ds in sorted(seqs.items()):
        blob = b"".join(struct.pack(">H", len(d)) + d for d in ds[:40])
        (out / hashlib.sha1(blob).hexdigest()[:16]).write_bytes(blob)
    print(counts, len(seqs), "sequences")


main()
