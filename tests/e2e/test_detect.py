"""floe detect end to end (docs/detect.md).

- goldens: every detector, text and JSON lines, on the scenario capture
  shipped in tests/data/detect (recorded by tests/scenarios/build.py on a
  real run), so the expected output does not depend on timing;
- live: the scenario is built again in network namespaces (nmap SYN scans
  both ways, swaks to 60 mail sinks, socat check-ins, an iperf3 transfer,
  ordinary curl traffic), captured with tcpdump, turned into an archive by
  `floe capture -r`, and every detector must flag exactly the hosts that
  did it, with the right counts, and none of the ordinary hosts;
- the command line: thresholds stated in the output, bad options and a bad
  watchlist refused with a message, a spilling budget giving the same
  findings.
"""
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from conftest import FLOE

DATA = pathlib.Path(os.environ.get("FLOE_TEST_DATA",
                                   pathlib.Path(__file__).resolve().parents[1] / "data")) / "detect"
SCENARIOS = pathlib.Path(__file__).resolve().parents[1] / "scenarios"
LOCAL = "10.1.0.0/24"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def detector_args(meta, window):
    """The runs of the goldens and of the live test: name -> arguments."""
    period = iso(meta["period_start"]) + "/" + iso(meta["period_end"])
    return {
        "scan": ["scan", "--window", window],
        "smtp": ["smtp", "--window", window],
        "watch": ["watch", "--list", "watchlist.txt"],
        "beacon": ["beacon", "--min-interval", "0.5s"],
        "baseline": ["baseline", "-t", period, "--history", "%ds" % meta["history"],
                     "--window", "%ds" % meta["window"], "--min-bytes", "1M", "--top", "3"],
    }


def floe(cwd, *args, check=True):
    p = subprocess.run([FLOE, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                       timeout=300)
    if check and p.returncode != 0:
        raise AssertionError("floe %s exited %d: %s" % (" ".join(map(str, args)), p.returncode,
                                                        p.stderr))
    return p


def findings(cwd, source, args, filt=()):
    """The JSON findings of one run, as a list of dicts."""
    p = floe(cwd, "detect", *args, *source, "--local", LOCAL, "-o", "json", *filt)
    return [json.loads(line) for line in p.stdout.splitlines()]


# ---- goldens on the shipped capture ----

@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    d = tmp_path_factory.mktemp("detect")
    floe(d, "capture", "-r", DATA / "scenario.pcap", "-w", "scenario.floe")
    (d / "watchlist.txt").write_bytes((DATA / "watchlist.txt").read_bytes())
    return d, json.loads((DATA / "scenario.json").read_text())


@pytest.mark.parametrize("name", ["scan", "smtp", "watch", "beacon", "baseline"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_golden(shipped, name, fmt):
    d, meta = shipped
    args = detector_args(meta, "1h")[name]
    p = floe(d, "detect", *args, "-r", "scenario.floe", "--local", LOCAL, "-o", fmt)
    golden = DATA / ("%s.%s" % (name, "txt" if fmt == "text" else "jsonl"))
    if os.environ.get("FLOE_REGEN"):
        golden.write_text(p.stdout)
    assert p.stdout == golden.read_text()
    if fmt == "json":
        for line in p.stdout.splitlines():
            obj = json.loads(line)
            assert obj["detector"] == name and "thresholds" in obj and "host" in obj


def test_budget_spills_same_findings(shipped):
    """A budget too small for the tables spills and finds the same."""
    d, meta = shipped
    for name, args in detector_args(meta, "1h").items():
        full = floe(d, "detect", *args, "-r", "scenario.floe", "--local", LOCAL, "-o", "json")
        tiny = floe(d, "detect", *args, "-r", "scenario.floe", "--local", LOCAL, "-o", "json",
                    "--memory", "16M")
        assert tiny.stdout == full.stdout, name


def test_thresholds_in_header(shipped):
    d, _ = shipped
    p = floe(d, "detect", "scan", "-r", "scenario.floe", "--hosts", "7", "--ports", "9",
             "--max-success", "0.1", "--window", "10m")
    first = p.stdout.splitlines()[0]
    assert first.startswith("# floe detect scan:")
    for w in ("window 10m", "hosts 7", "ports 9", "max_success 0.1"):
        assert w in first


def test_command_line_errors(shipped, tmp_path):
    d, _ = shipped
    p = floe(d, "detect", "nosuch", "-r", "scenario.floe", check=False)
    assert p.returncode == 2 and "unknown detector" in p.stderr
    p = floe(d, "detect", "scan", "-r", "scenario.floe", "--hosts", "many", check=False)
    assert p.returncode == 2 and "--hosts" in p.stderr
    p = floe(d, "detect", "scan", "-r", "scenario.floe", "--servers", "5", check=False)
    assert p.returncode == 2 and "not an option of detect scan" in p.stderr
    p = floe(d, "detect", "watch", "-r", "scenario.floe", check=False)
    assert p.returncode == 2 and "--list" in p.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("10.0.0.1\n# fine\n10.0.0.0/33\n")
    p = floe(d, "detect", "watch", "-r", "scenario.floe", "--list", bad, check=False)
    assert p.returncode == 1 and "line 3" in p.stderr and "10.0.0.0/33" in p.stderr
    p = floe(d, "detect", "baseline", "-r", "scenario.floe", "--local", LOCAL, check=False)
    assert p.returncode == 2 and "-t" in p.stderr
    p = floe(d, "detect", "baseline", "-r", "scenario.floe", "-t", "2026-01-01", check=False)
    assert p.returncode == 2 and "local" in p.stderr


def test_json_escapes_file_names(shipped):
    """File names go into JSON strings escaped, whatever their bytes."""
    d, _ = shipped
    odd = 'we"ird\\name.floe'
    (d / odd).write_bytes((d / "scenario.floe").read_bytes())
    fs = findings(d, ["-r", odd], ["smtp"])
    assert len(fs) == 1 and fs[0]["files"] == [odd]


def test_filter_applies(shipped):
    """A filter before detection: without port 22 there is no hscan."""
    d, meta = shipped
    out = findings(d, ["-r", "scenario.floe"], ["scan", "--window", "1h"], ["not", "port", "22"])
    assert [f["finding"] for f in out] == ["vscan"]


# ---- the live scenario ----

@pytest.fixture(scope="module")
def live(tmp_path_factory):
    d = tmp_path_factory.mktemp("live")
    tag = "fle%d" % (os.getpid() % 100000)
    try:
        r = subprocess.run([sys.executable, SCENARIOS / "build.py", d], capture_output=True,
                           text=True, timeout=300, env=dict(os.environ, FLOE_SCENARIO_TAG=tag))
    finally:
        # after a timeout the builder was killed before its own cleanup
        for k in "cri":
            subprocess.run(["ip", "netns", "del", tag + k], stderr=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    meta = json.loads((d / "scenario.json").read_text())
    assert meta["seconds"] < 90
    floe(d, "capture", "-r", "scenario.pcap", "--archive", "archive", "--instance", "scenario")
    # a window of days that holds the whole scenario (1d unless it crossed
    # midnight, UTC)
    for days in (1, 2, 3, 5, 7):
        w = days * 86400
        if int(meta["start"]) // w == int(meta["period_end"]) // w:
            break
    return d, meta, "%dd" % days


def by_host(fs):
    out = {}
    for f in fs:
        out.setdefault(f["host"], []).append(f)
    return out


def test_live_scan(live):
    d, meta, window = live
    fs = findings(d, ["-R", "archive"], ["scan", "--window", window])
    assert len(fs) == 2, fs
    h = [f for f in fs if f["finding"] == "hscan"][0]
    assert (h["host"], h["dir"], h["port"]) == ("10.1.0.10", "out", 22)
    assert h["addresses"] == meta["hscan_targets"] and h["flows"] == meta["hscan_targets"]
    assert h["success"] == 0 and h["examples"][0] == "10.2.1.1"
    v = [f for f in fs if f["finding"] == "vscan"][0]
    assert (v["host"], v["dir"], v["target"]) == (meta["remote_scanner"], "in", "10.1.0.14")
    assert v["ports"] == meta["vscan_ports"] and v["examples"] == ["1", "2", "3", "4", "5"]
    # port 22 of 10.1.0.14 is open: SYN/ACK answered by the scanner's RST, not completed
    assert v["success"] == 0


def test_live_smtp(live):
    d, meta, window = live
    fs = findings(d, ["-R", "archive"], ["smtp", "--window", window])
    assert len(fs) == 1, fs
    f = fs[0]
    assert f["host"] == "10.1.0.11"
    assert f["servers"] == meta["smtp_servers"] and f["flows"] == meta["smtp_servers"]
    assert len(f["files"]) == 1 and f["files"][0].startswith("archive/scenario/")
    # one server fewer than the threshold: nothing
    fs = findings(d, ["-R", "archive"], ["smtp", "--window", window, "--servers",
                                         str(meta["smtp_servers"])])
    assert fs == []


def test_live_watch(live):
    d, meta, _ = live
    fs = findings(d, ["-R", "archive"], ["watch", "--list", "watchlist.txt"])
    got = {f["host"]: (f["flows"], f["entries"]) for f in fs}
    assert got == {"10.1.0.12": (meta["beacon_conns"], ["10.2.0.99/32"]),
                   "10.1.0.11": (15, ["10.2.2.0/28"])}


def test_live_watch_skips_by_address(live):
    """A list of hosts only: the archive's address filters skip what has
    none of them; the findings are those of a full read."""
    d, meta, _ = live
    (d / "hosts.txt").write_text("%s\n192.0.2.77\n" % meta["c2"])
    (d / "absent.txt").write_text("192.0.2.77\n")
    p = floe(d, "detect", "watch", "-R", "archive", "--local", LOCAL, "--list", "hosts.txt",
             "--stats", "-o", "json")
    fs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [(f["host"], f["flows"]) for f in fs] == [("10.1.0.12", meta["beacon_conns"])]
    p = floe(d, "detect", "watch", "-R", "archive", "--local", LOCAL, "--list", "absent.txt",
             "--stats")
    assert "files read 0, skipped by address 1" in p.stderr and "; 0 findings" in p.stdout


def test_live_beacon(live):
    d, meta, _ = live
    fs = findings(d, ["-R", "archive"], ["beacon", "--min-interval", "0.5s"])
    assert len(fs) == 1, fs
    f = fs[0]
    assert (f["host"], f["remote"], f["port"]) == ("10.1.0.12", meta["c2"], 8443)
    assert f["connections"] == meta["beacon_conns"]
    assert abs(f["interval"] - meta["beacon_interval"]) < 0.2 and f["cv"] < 0.2


def test_live_baseline(live):
    d, meta, _ = live
    args = detector_args(meta, "1d")["baseline"]
    hosts = by_host(findings(d, ["-R", "archive"], args))
    kinds = {h: {f["finding"] for f in fs} for h, fs in hosts.items()}
    assert {"volume", "top", "service"} <= kinds.get("10.1.0.13", set()), kinds
    assert "peers" in kinds.get("10.1.0.10", set()), kinds
    # the mail fan-out is a new service (its peers may spread over several
    # 5 s "days" on a slow machine, so they are not asserted)
    assert "service" in kinds.get("10.1.0.11", set()), kinds
    # the ordinary hosts and the steady beacon are not news
    for h in ("10.1.0.12", "10.1.0.14", "10.1.0.15"):
        assert h not in kinds, kinds
    vol = [f for f in hosts["10.1.0.13"] if f["finding"] == "volume"][0]
    assert vol["bytes"] > 20 * 1000 * 1000
    svc = [f for f in hosts["10.1.0.11"] if f["finding"] == "service"][0]
    assert (svc["proto"], svc["port"], svc["as"]) == ("tcp", 25, "client")


# ---- bounded memory ----

GEN = os.environ.get("FLOE_GEN_FLOWS", os.path.join(os.path.dirname(FLOE), "../../bench/gen-flows"))


def test_scan_spills_within_budget(tmp_path):
    """300 sources each reaching 1000 addresses (300000 distinct pairs):
    under a 16M budget the scan counting spills, stays inside the budget
    and finds what a 256M run finds."""
    subprocess.run([GEN, tmp_path / "g.floe", "300000"], check=True, capture_output=True)
    out = {}
    for mem in ("16M", "256M"):
        p = floe(tmp_path, "detect", "scan", "-r", "g.floe", "--hosts", "500", "--memory", mem,
                 "--stats", "-o", "json")
        peak, limit, spills = [int(w) for w in p.stderr.replace(",", " ").split()
                               if w.isdigit()][:3]
        assert peak <= limit
        out[mem] = (p.stdout, spills)
    assert out["16M"][1] > 0 and out["16M"][0] == out["256M"][0]
    fs = [json.loads(line) for line in out["16M"][0].splitlines()]
    assert len(fs) == 300 and all(f["addresses"] == 1000 and f["success"] == 0 for f in fs)


def test_live_report_ranks_heavy_host_first(live):
    """The morning report over the same scenario: the iperf3 pair leads."""
    d, meta, window = live
    p = floe(d, "report", "daily", "-R", "archive", "--local", LOCAL, "--top", "5", "-o", "json")
    rep = json.loads(p.stdout)
    hosts = rep["hosts"]
    assert {h["addr"] for h in hosts[:2]} == {"10.1.0.13", "10.2.0.80"}, hosts[:3]
    first_local = [h for h in hosts if h["local"]][0]
    assert first_local["addr"] == "10.1.0.13"
    assert first_local["peers"][0]["addr"] == "10.2.0.80"
    assert 5201 in [pt["port"] for pt in first_local["peers"][0]["ports"]]
