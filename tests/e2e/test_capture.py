"""floe capture and floe read on real captures: conservation, round trips,
pipes, formats, BPF filters."""
import json
import re

import pytest

from conftest import PCAPS, SHARED, pcap_packet_count, read_csv, run

SAMPLE = SHARED / "pcaps" / "chrissanders_packets__http_espn.pcap"
STATS = re.compile(r"packets (\d+): metered (\d+), not metered (\d+)")


@pytest.mark.parametrize("pcap", PCAPS, ids=lambda p: p.name[:60])
def test_conservation(floe_bin, tmp_path, pcap):
    """Packets in the capture = packets summed over all flow records +
    packets counted as not metered, for every capture."""
    out = tmp_path / "x.floe"
    p = run("capture", "-r", pcap, "-w", out, "--stats")
    m = STATS.search(p.stderr)
    assert m, p.stderr
    total, metered, dropped = map(int, m.groups())
    assert total == pcap_packet_count(pcap)
    assert metered + dropped == total
    rows = read_csv(out, ["spkts", "dpkts"])
    assert sum(int(r["spkts"]) + int(r["dpkts"]) for r in rows) == metered
    assert "unaccounted" not in p.stderr


def test_capture_print_equals_read(floe_bin, tmp_path):
    out = tmp_path / "s.floe"
    run("capture", "-r", SAMPLE, "-w", out)
    direct = run("capture", "-r", SAMPLE, "-s", "stime,saddr,sport,daddr,dport,bytes,state").stdout
    via = run("read", "-r", out, "-s", "stime,saddr,sport,daddr,dport,bytes,state").stdout
    assert direct == via and len(direct.splitlines()) > 10


def test_pipes(floe_bin, tmp_path):
    """capture -w - | read -r - | read -r - gives the same records."""
    raw = run("capture", "-r", "-", "-w", "-", stdin=SAMPLE.read_bytes()).stdout
    assert raw[:4] == b"FLOE"
    again = run("read", "-r", "-", "-w", "-", stdin=raw).stdout
    a = read_csv(raw, ["stime", "ltime", "saddr", "daddr", "sport", "dport", "spkts", "dpkts", "sbytes", "dbytes"])
    b = read_csv(again, ["stime", "ltime", "saddr", "daddr", "sport", "dport", "spkts", "dpkts", "sbytes", "dbytes"])
    assert a == b and len(a) > 10


def test_formats(floe_bin, tmp_path):
    out = tmp_path / "s.floe"
    run("capture", "-r", SAMPLE, "-w", out)
    rows = read_csv(out, ["saddr", "daddr", "proto", "bytes"])
    js = [json.loads(l) for l in run("read", "-r", out, "-o", "json", "-s", "saddr,daddr,proto,bytes").stdout.splitlines()]
    assert len(rows) == len(js) > 0
    for r, j in zip(rows, js):
        assert r["saddr"] == j["saddr"] and int(r["bytes"]) == j["bytes"]
    text = run("read", "-r", out).stdout.decode().splitlines()
    assert text[0].split()[:3] == ["StartTime", "Dur", "Proto"]
    assert len(text) == len(rows) + 1


def test_filters_on_read(floe_bin, tmp_path):
    out = tmp_path / "s.floe"
    run("capture", "-r", SAMPLE, "-w", out)
    rows = read_csv(out, ["saddr", "daddr", "sport", "dport", "proto"])
    dns = read_csv(out, ["saddr", "daddr", "sport", "dport", "proto"], "udp and port 53")
    assert dns and all(r["proto"] == "udp" and "53" in (r["sport"], r["dport"]) for r in dns)
    assert len(dns) == sum(1 for r in rows if r["proto"] == "udp" and "53" in (r["sport"], r["dport"]))
    host = rows[0]["daddr"]
    h = read_csv(out, ["saddr", "daddr"], "host", host)
    assert len(h) == sum(1 for r in rows if host in (r["saddr"], r["daddr"]))
    # ra's separator before the filter
    assert read_csv(out, ["saddr"], "-", "udp", "and", "port", "53") == [{"saddr": r["saddr"]} for r in dns]
    p = run("read", "-r", out, "host", "nonsense!", check=False)
    assert p.returncode == 2 and "bad filter" in p.stderr and p.stdout == b""


def test_bpf_filter_on_capture(floe_bin):
    p = run("capture", "-r", SAMPLE, "-o", "csv", "-s", "proto,sport,dport", "udp port 53")
    lines = p.stdout.decode().splitlines()[1:]
    assert lines and all(l.startswith("udp,") for l in lines)
    bad = run("capture", "-r", SAMPLE, "no such bpf", check=False)
    assert bad.returncode == 2 and "bad filter" in bad.stderr


def test_status_records(floe_bin, tmp_path):
    """With a short status interval long flows are split into interval
    records whose counters add up to the one-record-per-flow totals."""
    pcap = SHARED / "pcaps" / "zeek_zeek__testing_btest_Traces_irc-dcc-send.pcap"
    fields = ["proto", "saddr", "sport", "daddr", "dport", "spkts", "dpkts", "sbytes", "dbytes"]
    one = read_csv(run("capture", "-r", pcap, "--status", "0", "-w", "-").stdout, fields)
    many = read_csv(run("capture", "-r", pcap, "--status", "1s", "-w", "-").stdout, fields)
    assert len(many) > len(one)

    def totals(rows):
        acc = {}
        for r in rows:
            k = tuple(r[f] for f in fields[:5])
            v = acc.setdefault(k, [0, 0, 0, 0])
            for i, f in enumerate(fields[5:]):
                v[i] += int(r[f])
        return acc
    assert totals(one) == totals(many)


def test_max_flows_bounds_the_table(floe_bin):
    pcap = SHARED / "pcaps" / "StopDDoS_packet-captures__pkt.TCP.synflood.spoofed.pcap"
    p = run("capture", "-r", pcap, "--max-flows", "1000", "-w", "/dev/null", "--stats")
    m = re.search(r"evicted early (\d+)", p.stderr)
    assert m and int(m.group(1)) > 0
    assert re.search(r"flow table: limit (\d+)", p.stderr).group(1) == "1000"
    s = STATS.search(p.stderr)
    assert int(s.group(2)) + int(s.group(3)) == int(s.group(1))


def test_shell_pipeline_exits_cleanly(floe_bin):
    """capture -w - | read -r -: the reader drains the trailer, so the writer
    never dies of SIGPIPE on its last write (checked 20 times, pipefail)."""
    import subprocess
    cmd = f"set -o pipefail; for i in $(seq 20); do '{floe_bin}' capture -r '{SAMPLE}' -w - | '{floe_bin}' read -r - -s saddr > /dev/null || exit 1; done"
    assert subprocess.run(["bash", "-c", cmd]).returncode == 0
