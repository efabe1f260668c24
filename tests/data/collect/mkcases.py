#!/usr/bin/python3
"""Writes cases.txt: hand-built NetFlow v5/v9 and IPFIX datagrams with the
records and counters floe's collector must produce (tests/unit/collect).

Each case: 'case NAME', then 'dgram EXPORTER RECV_S HEX' lines fed in order,
then 'expect' lines: 'records N', 'rec I FIELD=VALUE ...', 'stat FIELD=N ...'
(the counters of the first exporter source), 'total FIELD=N'.
The byte layouts follow Cisco's v5 format, RFC 3954 and RFC 7011; the
expected values are written out by hand below, not computed by floe.
"""
import struct
import sys

out = []


def v5(count_recs, seq=100, uptime=100000, secs=1700000000, nsecs=0, sampling=0, count=None):
    hdr = struct.pack(">HHIIIIBBH", 5, len(count_recs) if count is None else count, uptime, secs,
                      nsecs, seq, 1, 2, sampling)
    return hdr + b"".join(count_recs)


def v5rec(src, dst, nh, inif, outif, pkts, octets, first, last, sport, dport, flags, proto, tos,
          sas, das):
    ip = lambda s: bytes(int(x) for x in s.split("."))
    return (ip(src) + ip(dst) + ip(nh) + struct.pack(">HHIIIIHHBBBBHHBBH", inif, outif, pkts, octets,
            first, last, sport, dport, 0, flags, proto, tos, sas, das, 24, 16, 0))


def nf9(flowsets, seq=1, uptime=100000, secs=1700000000, source=7, count=1):
    return struct.pack(">HHIIII", 9, count, uptime, secs, seq, source) + b"".join(flowsets)


def fset(set_id, body, pad_to=4):
    n = 4 + len(body)
    pad = (-n) % pad_to
    return struct.pack(">HH", set_id, n + pad) + body + b"\0" * pad


def tmpl(tid, fields):
    return struct.pack(">HH", tid, len(fields)) + b"".join(struct.pack(">HH", t, l) for t, l in fields)


def ipfix(sets, seq=0, secs=1700000000, domain=9):
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body), secs, seq, domain) + body


def itmpl(tid, fields, scope=None):
    """fields: (id, len) or (id, len, pen)."""
    b = struct.pack(">HH", tid, len(fields))
    if scope is not None:
        b += struct.pack(">H", scope)
    for f in fields:
        if len(f) == 3:
            b += struct.pack(">HHI", f[0] | 0x8000, f[1], f[2])
        else:
            b += struct.pack(">HH", f[0], f[1])
    return b


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def case(name, dgrams, *expects, exporter="192.0.2.1", recv=1700000000):
    out.append(f"case {name}")
    for d in dgrams:
        if isinstance(d, tuple):
            exp, rs, b = d
            exp = exp or exporter
        else:
            exp, rs, b = exporter, recv, d
        out.append(f"dgram {exp} {rs} {b.hex()}")
    for e in expects:
        out.append(f"expect {e}")
    out.append("")


# --- NetFlow v5 -------------------------------------------------------------
r1 = v5rec("10.0.0.1", "10.0.0.2", "10.0.0.254", 3, 4, 10, 1500, 90000, 99000, 1234, 80, 0x1b, 6, 0x20, 65001, 65002)
r2 = v5rec("10.0.0.3", "10.0.0.4", "0.0.0.0", 1, 2, 1, 84, 99500, 99500, 0, 0x0303, 0, 1, 0, 0, 0)
case("v5-two-records", [v5([r1, r2], nsecs=500000000)],
     "records 2",
     "rec 0 saddr=10.0.0.1 daddr=10.0.0.2 sport=1234 dport=80 proto=6 spkts=10 sbytes=1500 "
     "inif=3 outif=4 sas=65001 das=65002 nexthop=10.0.0.254 stcpflags=27 stos=32 "
     "exporter=192.0.2.1 sensor=258 sampling=0 "
     "stime=1699999990500000000 ltime=1699999999500000000",
     "rec 1 sport=3 dport=3 proto=1 spkts=1",
     "stat datagrams=1 records=2 seq_lost=0")
case("v5-sampled-header", [v5([r1], sampling=0x4000 | 100)],
     "records 1", "rec 0 spkts=1000 sbytes=150000 sampling=100 flags=32",
     "stat sampled_records=1")
case("v5-interval-without-mode", [v5([r1], sampling=100)],
     "records 1", "rec 0 spkts=10 sampling=0 flags=0")
case("v5-sequence-gap", [v5([r1], seq=100), v5([r1], seq=101), v5([r1], seq=110)],
     "records 3", "stat seq_lost=8 seq_reordered=0")
case("v5-count-past-end", [v5([r1], count=2)], "records 0", "stat malformed=1")
case("v5-header-only", [v5([r1])[:20]], "records 0", "total malformed=1")
case("v5-restart", [v5([r1], seq=1000, uptime=10000000), v5([r1], seq=1, uptime=5000)],
     "records 2", "stat restarts=1 seq_lost=0 seq_reordered=0")

# --- NetFlow v9 (RFC 3954) --------------------------------------------------
T = tmpl(256, [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4),
               (10, 2), (14, 2), (16, 4), (17, 4), (15, 4), (6, 1), (5, 1)])
D = (ip4("10.1.0.1") + ip4("10.1.0.2") + struct.pack(">HHBII", 5000, 53, 17, 2, 200)
     + struct.pack(">IIHHIIIBB", 95000, 99000, 7, 8, 64512, 64513, 0, 0, 0) )
D = (ip4("10.1.0.1") + ip4("10.1.0.2") + struct.pack(">HHBII", 5000, 53, 17, 2, 200)
     + struct.pack(">II", 95000, 99000) + struct.pack(">HHII", 7, 8, 64512, 64513)
     + ip4("10.1.0.254") + bytes([0x12, 0x08]))
case("v9-template-then-data", [nf9([fset(0, T)], seq=1), nf9([fset(256, D)], seq=2)],
     "records 1",
     "rec 0 saddr=10.1.0.1 daddr=10.1.0.2 sport=5000 dport=53 proto=17 spkts=2 sbytes=200 "
     "inif=7 outif=8 sas=64512 das=64513 nexthop=10.1.0.254 stcpflags=18 stos=8 sensor=7 "
     "stime=1699999995000000000 ltime=1699999999000000000",
     "stat templates=1 template_count=1 no_template=0 seq_lost=0")
case("v9-template-and-data-one-packet", [nf9([fset(0, T), fset(256, D + D)])],
     "records 2", "rec 1 sbytes=200")
case("v9-template-resend-is-refresh", [nf9([fset(0, T)], seq=1), nf9([fset(0, T), fset(256, D)], seq=2)],
     "records 1", "stat templates=1 template_count=1")
case("v9-data-before-template", [nf9([fset(256, D)], seq=1), nf9([fset(0, T)], seq=2),
                                 nf9([fset(256, D)], seq=3)],
     "records 1", "stat no_template=1 templates=1")
OT = struct.pack(">HHH", 257, 4, 8) + struct.pack(">HHHHHH", 1, 4, 34, 4, 35, 1)[:12]
OT = struct.pack(">HHH", 257, 4, 8) + struct.pack(">HH", 1, 4) + struct.pack(">HHHH", 34, 4, 35, 1)
OD = struct.pack(">I", 0) + struct.pack(">IB", 100, 2)
case("v9-options-sampling", [nf9([fset(1, OT), fset(257, OD), fset(0, T), fset(256, D)])],
     "records 1", "rec 0 spkts=200 sbytes=20000 sampling=100 flags=32",
     "stat option_records=1 sampled_records=1")
TS = tmpl(258, [(8, 4), (12, 4), (2, 4), (48, 1)])
OTS = struct.pack(">HHH", 259, 4, 8) + struct.pack(">HH", 1, 4) + struct.pack(">HHHH", 48, 1, 50, 4)
case("v9-sampler-ids", [nf9([fset(1, OTS),
                             fset(259, struct.pack(">IBI", 0, 1, 10) + struct.pack(">IBI", 0, 2, 1000)),
                             fset(0, TS),
                             fset(258, ip4("1.1.1.1") + ip4("2.2.2.2") + struct.pack(">IB", 3, 2)
                                  + ip4("1.1.1.1") + ip4("2.2.2.2") + struct.pack(">IB", 3, 1))])],
     "records 2", "rec 0 spkts=3000 sampling=1000", "rec 1 spkts=30 sampling=10")
case("v9-icmp-in-dport", [nf9([fset(0, tmpl(260, [(8, 4), (12, 4), (4, 1), (11, 2)])),
                               fset(260, ip4("1.1.1.1") + ip4("2.2.2.2") + struct.pack(">BH", 1, 0x0b00))])],
     "records 1", "rec 0 sport=11 dport=0")
case("v9-absurd-field-count", [nf9([fset(0, struct.pack(">HH", 300, 60000) + b"\0" * 8)])],
     "records 0", "stat malformed=1 templates=0")
case("v9-set-length-past-end", [nf9([struct.pack(">HH", 0, 400) + T])],
     "records 0", "stat malformed=1 templates=0")
case("v9-zero-length-template", [nf9([fset(0, tmpl(261, [(8, 0)]))])],
     "records 0", "stat malformed=1 templates=0")
case("v9-truncated-record", [nf9([fset(0, tmpl(262, [(8, 4), (12, 4)])),
                                  fset(262, ip4("1.1.1.1") + ip4("2.2.2.2") + ip4("3.3.3.3"))])],
     "records 1", "stat malformed=0")
case("v9-sequence-loss", [nf9([fset(0, T)], seq=10), nf9([fset(256, D)], seq=11),
                          nf9([fset(256, D)], seq=15)],
     "records 2", "stat seq_lost=3")
case("v9-restart-relearns", [nf9([fset(0, T)], seq=5000, uptime=9000000),
                             nf9([fset(256, D)], seq=1, uptime=1000),
                             nf9([fset(0, T)], seq=2, uptime=2000),
                             nf9([fset(256, D)], seq=3, uptime=3000)],
     "records 1", "stat restarts=1 no_template=1 templates=2")
flood = [fset(0, b"".join(tmpl(300 + i, [(8, 4)]) for i in range(40)))]
case("v9-template-flood", [nf9(flood)], "records 0", "stat templates=16 template_refused=24 template_count=16",
     "config max_templates=16")
case("v9-two-sources", [("192.0.2.1", 1700000000, nf9([fset(0, T)], source=1)),
                        ("192.0.2.1", 1700000000, nf9([fset(256, D)], source=2)),
                        ("192.0.2.2", 1700000000, nf9([fset(256, D)], source=1))],
     "records 0", "total sources=3")
case("v9-template-expiry", [(None, 1700000000, nf9([fset(0, T)])),
                            (None, 1700000000 + 3600, nf9([fset(256, D)], seq=2, secs=1700003600))],
     "records 0", "stat expired=1 no_template=1")
case("v9-clock-skew", [(None, 1700000100, nf9([fset(0, T)]))], "stat skewed=1")

# --- IPFIX (RFC 7011) -------------------------------------------------------
IT = itmpl(256, [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8),
                 (10, 4), (14, 4), (6, 2)])
ID = (ip4("10.2.0.1") + ip4("10.2.0.2") + struct.pack(">HHBQQQQIIH", 443, 40000, 6, 3000, 3,
                                                      1699999990123, 1699999991456, 11, 12, 0x0212))
case("ipfix-template-then-data", [ipfix([fset(2, IT)]), ipfix([fset(256, ID)], seq=0)],
     "records 1",
     "rec 0 saddr=10.2.0.1 daddr=10.2.0.2 sport=443 dport=40000 proto=6 sbytes=3000 spkts=3 "
     "stime=1699999990123000000 ltime=1699999991456000000 inif=11 outif=12 stcpflags=18 sensor=9",
     "stat templates=1 seq_lost=0")
case("ipfix-reduced-size", [ipfix([fset(2, itmpl(257, [(8, 4), (12, 4), (1, 2), (2, 1)])),
                                   fset(257, ip4("1.1.1.1") + ip4("2.2.2.2") + struct.pack(">HB", 999, 7))])],
     "records 1", "rec 0 sbytes=999 spkts=7")
case("ipfix-varlen-and-enterprise", [ipfix([fset(2, itmpl(258, [(8, 4), (82, 0xffff), (1000, 4, 9),
                                                                (12, 4), (96, 0xffff), (2, 4)])),
                                            fset(258, ip4("1.1.1.1") + b"\x03eth" + b"\xde\xad\xbe\xef"
                                                 + ip4("2.2.2.2") + b"\xff\x01\x00" + b"x" * 256
                                                 + struct.pack(">I", 5))])],
     "records 1", "rec 0 saddr=1.1.1.1 daddr=2.2.2.2 spkts=5")
case("ipfix-biflow-reverse", [ipfix([fset(2, itmpl(259, [(8, 4), (12, 4), (1, 4), (2, 4), (1, 4, 29305),
                                                         (2, 4, 29305), (6, 1), (6, 1, 29305)])),
                                     fset(259, ip4("1.1.1.1") + ip4("2.2.2.2")
                                          + struct.pack(">IIIIBB", 100, 2, 5000, 4, 0x02, 0x12))])],
     "records 1", "rec 0 sbytes=100 spkts=2 dbytes=5000 dpkts=4 stcpflags=2 dtcpflags=18")
case("ipfix-withdrawal", [ipfix([fset(2, IT)]), ipfix([fset(2, struct.pack(">HH", 256, 0))]),
                          ipfix([fset(256, ID)])],
     "records 0", "stat withdrawn=1 no_template=1 template_count=0")
case("ipfix-withdraw-all", [ipfix([fset(2, IT + itmpl(257, [(8, 4)]))]),
                            ipfix([fset(2, struct.pack(">HH", 2, 0))])],
     "stat withdrawn=2 template_count=0")
IOT = itmpl(400, [(149, 4), (305, 4), (306, 4)], scope=1)
case("ipfix-options-packet-interval", [ipfix([fset(3, IOT), fset(400, struct.pack(">III", 9, 1, 99)),
                                              fset(2, IT), fset(256, ID)])],
     "records 1", "rec 0 spkts=300 sampling=100", "stat option_records=1")
IOT2 = itmpl(403, [(302, 4), (309, 4), (310, 4)], scope=1)
case("ipfix-options-n-of-N", [ipfix([fset(3, IOT2), fset(403, struct.pack(">III", 1, 1, 256)),
                                     fset(2, itmpl(264, [(8, 4), (12, 4), (2, 4), (302, 4)])),
                                     fset(264, ip4("1.1.1.1") + ip4("2.2.2.2") + struct.pack(">II", 3, 1))])],
     "records 1", "rec 0 spkts=768 sampling=256")
case("ipfix-v4-and-v6-side-by-side", [ipfix([fset(2, itmpl(265, [(8, 4), (12, 4), (27, 16), (28, 16)])),
                                             fset(265, ip4("1.1.1.1") + ip4("2.2.2.2") + b"\0" * 32
                                                  + ip4("0.0.0.0") + ip4("0.0.0.0")
                                                  + bytes.fromhex("20010db8000000000000000000000001") + b"\0" * 16)])],
     "records 2", "rec 0 saddr=1.1.1.1 daddr=2.2.2.2 ipver=4", "rec 1 saddr=2001:db8::1 daddr=:: ipver=6")
case("ipfix-repeated-element-first-wins", [ipfix([fset(2, itmpl(266, [(8, 4), (12, 4), (4, 1), (4, 1)])),
                                                  fset(266, ip4("1.1.1.1") + ip4("2.2.2.2") + b"\x04\x11")])],
     "records 1", "rec 0 proto=4")
case("ipfix-sysuptime-with-init", [ipfix([fset(3, itmpl(401, [(149, 4), (160, 8)], scope=1)),
                                          fset(401, struct.pack(">IQ", 9, 1699990000000)),
                                          fset(2, itmpl(260, [(8, 4), (12, 4), (22, 4), (21, 4)])),
                                          fset(260, ip4("1.1.1.1") + ip4("2.2.2.2")
                                               + struct.pack(">II", 1000, 2500))])],
     "records 1", "rec 0 stime=1699990001000000000 ltime=1699990002500000000")
case("ipfix-delta-micro", [ipfix([fset(2, itmpl(261, [(8, 4), (12, 4), (158, 4), (159, 4)])),
                                  fset(261, ip4("1.1.1.1") + ip4("2.2.2.2") + struct.pack(">II", 2000000, 500000))])],
     "records 1", "rec 0 stime=1699999998000000000 ltime=1699999999500000000")
case("ipfix-ntp-micro", [ipfix([fset(2, itmpl(262, [(27, 16), (28, 16), (154, 8), (155, 8)])),
                                fset(262, bytes.fromhex("20010db8000000000000000000000001")
                                     + bytes.fromhex("20010db8000000000000000000000002")
                                     + struct.pack(">II", 1700000000 + 2208988800, 0x80000000)
                                     + struct.pack(">II", 1700000001 + 2208988800, 0))])],
     "records 1", "rec 0 saddr=2001:db8::1 daddr=2001:db8::2 stime=1700000000500000000 "
     "ltime=1700000001000000000 ipver=6")
case("ipfix-length-past-datagram", [ipfix([fset(2, IT)])[:30]], "records 0", "stat malformed=1")
case("ipfix-options-scope-zero", [ipfix([fset(3, itmpl(402, [(149, 4)], scope=0))])],
     "stat malformed=1 templates=0")
case("ipfix-template-id-reserved", [ipfix([fset(2, itmpl(5, [(8, 4)]))])],
     "stat malformed=1 templates=0")
case("ipfix-set-id-reserved", [ipfix([fset(1, b"\0" * 8)])], "stat malformed=1")
case("ipfix-sequence-records", [ipfix([fset(2, IT), fset(256, ID + ID)], seq=0),
                                ipfix([fset(256, ID)], seq=2), ipfix([fset(256, ID)], seq=10)],
     "records 4", "stat seq_lost=7")
case("ipfix-memory-bound", [ipfix([fset(2, b"".join(itmpl(300 + i, [(8, 4)] * 100) for i in range(8)))])],
     "stat template_refused=5 templates=3", "config source_memory=2000")
case("ipfix-redefinition", [ipfix([fset(2, itmpl(263, [(8, 4)]))]),
                            ipfix([fset(2, itmpl(263, [(8, 4), (12, 4)]))]),
                            ipfix([fset(263, ip4("1.1.1.1") + ip4("2.2.2.2"))])],
     "records 1", "rec 0 daddr=2.2.2.2", "stat templates=2 template_count=1")

# --- detection --------------------------------------------------------------
# an sFlow v5 datagram with no samples: decoded by sflow.c, nothing to emit
case("sflow-empty", [struct.pack(">IIIIIII", 5, 1, 0xc0000201, 0, 0, 0, 0)], "records 0",
     "total malformed=0")
case("garbage", [b"\x00\x07hello world"], "records 0", "total malformed=1")
case("empty", [b""], "records 0", "total malformed=1")

sys.stdout.write("# generated by mkcases.py: do not edit\n" + "\n".join(out))
