"""IPFIX out: `floe read -o ipfix` (an RFC 5655 file) and `floe export ipfix
udp://...` decoded by tshark, an independent IPFIX reader, must give back
the values `floe read -o csv` prints for the same records, field by field
(IANA elements, RFC 5103 reverse elements, and floe's enterprise elements
as raw bytes).  docs/ipfix.md."""
import csv
import datetime
import io
import json
import os
import pty
import shutil
import socket
import struct
import subprocess
import threading

import pytest

from conftest import FLOE, SHARED, run

PCAPS = ["zeek_zeek__testing_btest_Traces_mixed-vlan-mpls.pcap",     # VLAN, MPLS
         "arkime_arkime__tests_pcap_v6-http.pcap",                     # IPv6
         "chrissanders_packets__icmp_traceroute.pcap",                 # ICMP
         "chrissanders_packets__arppoison.pcap",                       # ARP, TCP
         "zeek_zeek__testing_btest_Traces_tcp_ssh-dups.pcap"]          # retransmissions

FIELDS = ["stime", "ltime", "saddr", "daddr", "sport", "dport", "proto", "ipver", "etype",
          "spkts", "dpkts", "sbytes", "dbytes", "sttl", "dttl", "sttlmax", "dttlmax", "stos",
          "dtos", "vlan", "smac", "dmac", "inif", "outif", "sas", "das", "sampling",
          "state", "sappbytes", "dappbytes", "sretrans", "dretrans", "trans", "sid"]

tshark = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(not tshark, reason="tshark not installed")


@pytest.fixture(scope="module")
def floes(tmp_path_factory):
    d = tmp_path_factory.mktemp("ipfix")
    out = []
    for i, name in enumerate(PCAPS):
        path = SHARED / "pcaps" / name
        if not path.exists():
            pytest.skip(f"{name} missing")
        f = d / f"{i}.floe"
        run("capture", "-r", path, "--sensor", str(i + 3), "-w", f)
        out.append(f)
    return out


def csv_rows(files):
    p = run("read", "-r", *files, "-o", "csv", "-u", "-p", "9", "-n", "-s", ",".join(FIELDS))
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def ntp_text_to_epoch(s):
    """tshark's 'Apr 28, 2021 10:30:21.099510000 UTC' -> '1619605821.099510000'."""
    date, frac = s.replace(" UTC", "").rsplit(".", 1)
    t = datetime.datetime.strptime(date, "%b %d, %Y %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return f"{int(t.timestamp())}.{frac.ljust(9, '0')[:9]}"


def flows_of(obj):
    """Every 'Flow N' subtree of a tshark JSON packet, in order."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.startswith("Flow "):
                yield from (v if isinstance(v, list) else [v])
            else:
                yield from flows_of(v)
    elif isinstance(obj, list):
        for x in obj:
            yield from flows_of(x)


def tshark_flows(path):
    out = subprocess.run([tshark, "-r", str(path), "-T", "json", "--no-duplicate-keys"],
                         check=True, capture_output=True, text=True).stdout
    pkts = json.loads(out)
    return [f for p in pkts for f in flows_of(p["_source"]["layers"]["cflow"])]


def hexint(s):
    return int(s.replace(":", ""), 16)


def as_csv(f):
    """A tshark flow as the columns of floe read -o csv -n -u -p 9."""
    fw = lambda k: f[k][0] if isinstance(f[k], list) else f[k]
    rv = lambda k: f[k][1]
    ent = f["cflow.enterprise_private_entry"]
    # flowStart/EndNanoseconds first, then the same in milliseconds
    ns, ms = f["cflow.timedelta_tree"]
    start, end = ns["cflow.abstimestart"], ns["cflow.abstimeend"]
    for a, b in ((start, ms["cflow.abstimestart"]), (end, ms["cflow.abstimeend"])):
        sec, frac = ntp_text_to_epoch(a).split(".")
        assert ntp_text_to_epoch(b) == f"{sec}.{frac[:3]}000000", (a, b)
    icmp = f.get("cflow.icmp_type_code_ipv4")
    if icmp is not None:
        assert int(icmp, 16) == (int(f["cflow.srcport"]) << 8 | int(f["cflow.dstport"])
                                 if f["cflow.protocol"] == "1" else 0)
    elif f.get("cflow.icmp_ipv6_type") is not None:
        assert (f["cflow.icmp_ipv6_type"], f["cflow.icmp_ipv6_code"]) == (
            (f["cflow.srcport"], f["cflow.dstport"]) if f["cflow.protocol"] == "58" else ("0", "0"))
    v6 = "cflow.srcaddrv6" in f
    mac = lambda m: "" if m == "00:00:00:00:00:00" else m
    return {
        "stime": ntp_text_to_epoch(start), "ltime": ntp_text_to_epoch(end),
        "saddr": f["cflow.srcaddrv6" if v6 else "cflow.srcaddr"],
        "daddr": f["cflow.dstaddrv6" if v6 else "cflow.dstaddr"],
        "sport": f["cflow.srcport"], "dport": f["cflow.dstport"],
        "proto": f["cflow.protocol"], "ipver": f["cflow.ip_version"],
        "etype": f["cflow.ethernet_type"],
        "spkts": fw("cflow.packets"), "dpkts": rv("cflow.packets"),
        "sbytes": fw("cflow.octets"), "dbytes": rv("cflow.octets"),
        "sttl": fw("cflow.ttl_min"), "dttl": rv("cflow.ttl_min"),
        "sttlmax": fw("cflow.ttl_max"), "dttlmax": rv("cflow.ttl_max"),
        "stos": str(int(fw("cflow.tos"), 16)), "dtos": str(int(rv("cflow.tos"), 16)),
        "vlan": f["cflow.vlanid"], "smac": mac(f["cflow.srcmac"]), "dmac": mac(f["cflow.dstmac"]),
        "inif": f["cflow.inputint"], "outif": f["cflow.outputint"],
        "sas": f["cflow.srcas"], "das": f["cflow.dstas"],
        "sampling": f["cflow.sampling_interval"],
        # floe enterprise elements 1..12 (docs/ipfix.md), raw bytes
        "state": hexint(ent[0]), "sappbytes": str(hexint(ent[2])), "dappbytes": str(hexint(ent[3])),
        "sretrans": str(hexint(ent[4])), "dretrans": str(hexint(ent[5])),
        "trans": str(hexint(ent[10])), "sid": str(hexint(ent[11])),
    }


def compare(rows, flows):
    assert len(flows) == len(rows) and rows
    states = {}
    for i, (r, f) in enumerate(zip(rows, flows)):
        got = as_csv(f)
        # csv prints the state's name; IPFIX carries its number: the mapping
        # must be one to one
        st = got.pop("state")
        assert states.setdefault(r["state"], st) == st, (i, r["state"], st)
        want = {k: v for k, v in r.items() if k != "state"}
        if not (r["vlan"] and r["vlan"] != "0"):
            want["vlan"] = "0"
        for k in ("smac", "dmac"):
            want[k] = want[k] or ""
        want["etype"] = str(int(want["etype"] or "0", 0))
        if want["proto"] == "arp":  # csv names ARP even with -n; IPFIX has 0
            want["proto"] = "0"
        for k in want:
            if want[k] == "":
                want[k] = "0" if k not in ("smac", "dmac") else ""
        assert got == want, (i, {k: (got[k], want[k]) for k in want if got[k] != want[k]})


@needs_tshark
def test_ipfix_file_read_back_by_tshark(floes, tmp_path):
    x = tmp_path / "x.ipfix"
    run("read", "-r", *floes, "-o", "ipfix", "-w", x)
    rows = csv_rows(floes)
    assert any(r["ipver"] == "6" for r in rows) and any(r["ipver"] == "4" for r in rows)
    assert any(r["vlan"] not in ("", "0") for r in rows)
    compare(rows, tshark_flows(x))


@needs_tshark
def test_ipfix_to_stdout_and_filter(floes, tmp_path):
    p = run("read", "-r", *floes, "-o", "ipfix", "icmp")
    x = tmp_path / "icmp.ipfix"
    x.write_bytes(p.stdout)
    q = run("read", "-r", *floes, "-o", "csv", "-u", "-p", "9", "-n", "-s", ",".join(FIELDS), "icmp")
    rows = list(csv.DictReader(io.StringIO(q.stdout.decode())))
    assert rows and all(r["proto"] == "1" for r in rows)
    compare(rows, tshark_flows(x))


def test_ipfix_refuses_a_terminal(floes):
    master, slave = pty.openpty()
    try:
        p = subprocess.run([FLOE, "read", "-r", str(floes[0]), "-o", "ipfix"],
                           stdout=slave, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == 1 and "terminal" in p.stderr


def test_ipfix_not_for_aggregations(floes):
    p = run("cluster", "-r", floes[0], "-m", "saddr", "-o", "ipfix", check=False)
    assert p.returncode == 2 and "ipfix" in p.stderr


@needs_tshark
def test_export_udp_to_a_listener(floes, tmp_path):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    port = sock.getsockname()[1]
    msgs = []

    def listen():
        try:
            while True:
                msgs.append(sock.recv(65535))
        except socket.timeout:
            pass

    t = threading.Thread(target=listen)
    t.start()
    run("export", "ipfix", f"udp://127.0.0.1:{port}", "-r", *floes, "--mtu", "1200",
        "--domain", "77")
    t.join()
    sock.close()
    rows = csv_rows(floes)
    seq = 0
    for m in msgs:
        version, length, _, s, domain = struct.unpack(">HHIII", m[:16])
        assert version == 10 and length == len(m) <= 1200 and domain == 77
        # RFC 7011 3.1: data records sent before this message
        assert s == seq
        off, n = 16, 0
        while off < len(m):
            sid, slen = struct.unpack(">HH", m[off:off + 4])
            if sid in (256, 257):
                n += (slen - 4) // (193 if sid == 256 else 241)
            off += slen
        seq += n
    assert seq == len(rows)
    x = tmp_path / "udp.ipfix"
    x.write_bytes(b"".join(msgs))  # an RFC 5655 file is the messages in a row
    compare(rows, tshark_flows(x))


def test_export_usage_errors(floes):
    assert run("export", check=False).returncode == 2
    assert run("export", "netflow", "udp://127.0.0.1:9", "-r", floes[0], check=False).returncode == 2
    p = run("export", "ipfix", "tcp://127.0.0.1:9", "-r", floes[0], check=False)
    assert p.returncode == 1 and "udp://" in p.stderr
    assert run("export", "ipfix", "udp://127.0.0.1:9", "-r", floes[0], "--mtu", "10",
               check=False).returncode == 2


@pytest.mark.skipif(not (shutil.which("nfcapd") and shutil.which("nfdump")),
                    reason="nfdump not installed")
def test_export_udp_to_nfcapd(floes, tmp_path):
    """nfcapd (nfdump) collects the export: flow, packet and byte totals
    (both directions, RFC 5103 reverse counters) and first/last times agree."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = tmp_path / "nf"
    d.mkdir()
    nf = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", str(d),
                           "-B", "8000000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time
        time.sleep(1.0)
        run("export", "ipfix", f"udp://127.0.0.1:{port}", "-r", *floes)
        time.sleep(1.0)
    finally:
        nf.terminate()
        nf.wait(timeout=10)
    info = subprocess.run(["nfdump", "-R", str(d), "-I"], capture_output=True, text=True,
                          check=True).stdout
    got = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)
    rows = csv_rows(floes)
    assert int(got["Flows"]) == len(rows)
    assert int(got["Packets"]) == sum(int(r["spkts"]) + int(r["dpkts"]) for r in rows)
    assert int(got["Bytes"]) == sum(int(r["sbytes"]) + int(r["dbytes"]) for r in rows)
    assert int(got["First"]) == min(int(r["stime"].split(".")[0]) for r in rows)
    assert int(got["Last"]) == max(int(r["ltime"].split(".")[0]) for r in rows)


def test_ipfix_round_trip_through_floe(floes, tmp_path):
    """floe writes IPFIX (-o ipfix) and reads it back (floe read -r
    x.ipfix, through the collector): every record survives, field by field,
    for the fields IPFIX carries."""
    x = tmp_path / "x.ipfix"
    run("read", "-r", *floes, "-o", "ipfix", "-w", x)
    fields = ["stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "spkts", "dpkts",
              "sbytes", "dbytes", "vlan", "stcpflags", "dtcpflags", "smac", "dmac"]
    def rows(*files):
        p = run("read", "-r", *files, "-o", "csv", "-u", "-p", "6", "-n", "-s", ",".join(fields))
        return sorted(p.stdout.decode().splitlines()[1:])
    want, got = rows(*floes), rows(x)
    assert len(want) > 40 and got == want
