"""The archive: captures written with --archive/--rotate, read back with
-R and -t.  What a time-restricted, indexed read returns must be exactly
what a full read filtered by time returns; --stats must show the skipping;
a .part left by a crash is read to its last complete block."""
import csv
import io
import os
import shutil

import pytest

from conftest import SHARED, run

P = SHARED / "pcaps"
# captures spanning minutes to years, some out of time order
PCAPS = [P / "ntop_nDPI__tests_cfgs_default_pcap_wechat.pcap",
         P / "ntop_nDPI__tests_cfgs_default_pcap_instagram.pcap",
         P / "ntop_nDPI__tests_cfgs_default_pcap_dropbox.pcap",
         P / "zeek_zeek__testing_btest_Traces_http_206_example_b.pcap",
         P / "markofu_pcaps__CounterHack_HackChallenge_Cmas2011.pcap",
         P / "chrissanders_packets__http_espn.pcap"]
FIELDS = "stime,ltime,saddr,sport,daddr,dport,proto,spkts,dpkts,sbytes,dbytes"
UTC = dict(os.environ, TZ="UTC0")


def rows(*args, env=UTC, check=True):
    p = run("read", "-o", "csv", "-u", "-p", "9", "-s", FIELDS, *args, env=env, check=check)
    return sorted(tuple(r) for r in list(csv.reader(io.StringIO(p.stdout.decode())))[1:])


def ns(s):
    a, _, b = s.partition(".")
    return int(a) * 10**9 + int((b + "000000000")[:9])


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("arch")
    ar = d / "ar"
    for pc in PCAPS:
        run("capture", "-r", pc, "--archive", ar, "--instance", "lnk", "--rotate", "5m",
            "--block-records", "20")
        run("capture", "-r", pc, "-w", d / (pc.stem + ".floe"))
    return d


def test_layout_and_names(archive):
    files = sorted((archive / "ar").rglob("*"))
    floes = [f for f in files if f.is_file()]
    assert floes and all(f.name.endswith(".floe") for f in floes), "no .part left after close"
    for f in floes:
        rel = f.relative_to(archive / "ar").parts
        assert rel[0] == "lnk" and len(rel) == 5
        y, m, d = rel[1:4]
        stamp = f.name[len("lnk."):].split(".")[0].split("-")[0]
        assert stamp.startswith(f"{y}{m}{d}T") and stamp.endswith("Z") and len(stamp) == 16
        assert int(stamp[11:13]) % 5 == 0 and stamp[13:15] == "00", "5-minute periods"
    assert len(floes) >= 10


def test_archive_holds_every_record(archive):
    whole = rows("-R", archive / "ar")
    direct = rows("-r", *sorted(archive.glob("*.floe")))
    assert whole == direct and len(whole) > 100


RANGES = ["2016-02-19T18:40Z/+20m", "2015-07-12T17:07:30Z/2015-07-12T17:09Z", "2017-04-14Z",
          "2017-04-14T11:00:00Z/-1h", "2010-01-01/2030-01-01", "2019-09-18T08:43:10.5Z/+1s",
          "/2016-01-01T00:00Z", "2018-08-27T17:40Z/"]


@pytest.mark.parametrize("rng", RANGES)
def test_range_equals_filtered_full_read(archive, rng):
    whole = rows("-R", archive / "ar", "--no-index")
    got = rows("-R", archive / "ar", "-t", rng)
    start, end = probe(rng)
    want = [r for r in whole if ns(r[0]) < end and ns(r[1]) >= start]
    assert got == want


def probe(rng):
    """[start, end) of rng in ns, computed here independently."""
    import datetime as dt

    def t(s):
        s = s.rstrip("Z")
        if len(s) == 10:
            d = dt.datetime.fromisoformat(s).replace(tzinfo=dt.timezone.utc)
            return int(d.timestamp()) * 10**9, 86400 * 10**9
        frac = 0
        if "." in s:
            s, f = s.split(".")
            frac = int((f + "000000000")[:9])
        d = dt.datetime.fromisoformat(s).replace(tzinfo=dt.timezone.utc)
        return int(d.timestamp()) * 10**9 + frac, 60 * 10**9

    def length(s):
        mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}[s[-1]]
        return int(s[:-1]) * mult * 10**9

    if "/" not in rng:
        a, unit = t(rng)
        return a, a + unit
    a, b = rng.split("/")
    lo = t(a)[0] if a else -2**63
    if not b:
        return lo, 2**63 - 1
    if b[0] == "+":
        return lo, lo + length(b[1:])
    if b[0] == "-":
        return lo - length(b[1:]), lo
    return lo, t(b)[0]


def stats(p):
    """--stats lines ("files considered 3, skipped 2 (by name 1, ...") as
    {"files considered": 3, "files skipped": 2, "files by name": 1, ...}."""
    out = {}
    for line in p.stderr.splitlines():
        what = line.split()[0] if line.split() else ""
        for part in line.replace("(", ",").replace(")", "").split(","):
            words = part.split()
            if words and words[0] == what:
                words = words[1:]
            if len(words) >= 2 and words[-1].isdigit():
                out[what + " " + " ".join(words[:-1])] = int(words[-1])
    return out


def test_stats_show_skipping(archive):
    host_rows = rows("-R", archive / "ar", "--no-index")
    host = host_rows[len(host_rows) // 2][2]
    p = run("read", "-R", archive / "ar", "-t", "2010-01-01Z/2030-01-01Z", "--stats", "-s", "saddr",
            "--no-header", f"host {host}", env=UTC)
    s = stats(p)
    assert s["files considered"] >= 10
    assert s["files by address filter"] > 0, p.stderr
    assert s["files read"] + s["files by address filter"] == s["files considered"]
    assert s["records examined"] < len(host_rows)
    n = len(p.stdout.splitlines())
    assert n == s["records matched"] and n > 0
    full = run("read", "-R", archive / "ar", "--no-index", "--stats", "-s", "saddr", "--no-header",
               f"host {host}", env=UTC)
    assert full.stdout == p.stdout
    assert stats(full)["blocks skipped"] == 0

    p = run("read", "-R", archive / "ar", "-t", "2016-02-19T18:40Z/+20m", "--stats", env=UTC)
    s = stats(p)
    assert s["files by name"] > 0 and s["files by footer"] > 0 and s["files read"] >= 1
    assert s["files skipped"] == s["files by name"] + s["files by footer"]
    assert s["files by address filter"] == 0
    assert s["files considered"] == s["files skipped"] + s["files read"]


def test_part_is_read_to_last_complete_block(archive, tmp_path):
    ar = tmp_path / "ar"
    shutil.copytree(archive / "ar", ar)
    biggest = max((f for f in ar.rglob("*.floe")), key=lambda f: f.stat().st_size)
    before = rows("-r", biggest)
    assert len(before) > 40, "the file has several blocks"
    data = biggest.read_bytes()
    part = biggest.with_name(biggest.name + ".part")
    part.write_bytes(data[: len(data) * 2 // 3])
    biggest.unlink()
    got = rows("-r", part, check=False)
    assert 0 < len(got) < len(before) and len(got) % 20 == 0, "whole blocks of 20 only"
    assert set(got) <= set(before)
    p = run("read", "-R", ar, "--stats", "-o", "csv", "-u", "-p", "9", "-s", FIELDS, env=UTC,
            check=False)
    assert p.returncode in (0, 3), p.stderr
    allrows = rows("-R", ar, check=False)
    assert len(allrows) == len(rows("-R", archive / "ar")) - len(before) + len(got)


def test_local_time_and_zone(archive):
    utc = rows("-R", archive / "ar", "-t", "2017-04-14T11:00Z/+1h")
    est = rows("-R", archive / "ar", "-t", "2017-04-14T06:00/+1h", env=dict(os.environ, TZ="EST5"))
    off = rows("-R", archive / "ar", "-t", "2017-04-14T13:00+02:00/+1h")
    assert utc == est == off and utc


def test_rewrite_into_archive(archive, tmp_path):
    run("read", "-R", archive / "ar", "--archive", tmp_path / "b", "--instance", "copy",
        "--rotate", "1h")
    assert rows("-R", tmp_path / "b") == rows("-R", archive / "ar")
    names = [f.name for f in (tmp_path / "b").rglob("*.floe")]
    assert names and all(n.startswith("copy.") and n.endswith("0000Z.floe") or "Z-" in n
                         for n in names)


@pytest.mark.parametrize("bad,col", [("2025-13-01", "column 6"), ("lastweek", "column 1"),
                                     ("2025-06-13T06:00/2025-06-13T05:00", "empty range"),
                                     ("2025-06-13/+3x", "column 14")])
def test_bad_range_is_usage_error(archive, bad, col):
    p = run("read", "-R", archive / "ar", "-t", bad, check=False)
    assert p.returncode == 2 and col in p.stderr and "-t" in p.stderr


def test_bad_archive_options(archive, tmp_path):
    p = run("read", "-R", archive / "ar", "--archive", tmp_path / "x", "--rotate", "7m", check=False)
    assert p.returncode == 2 and "--rotate" in p.stderr
    p = run("read", "-R", tmp_path / "missing", check=False)
    assert p.returncode != 0 and "missing" in p.stderr


def test_cluster_reads_archives_and_time_ranges(floe_bin, tmp_path):
    """floe cluster -R ARCHIVE -t RANGE aggregates exactly the records that
    floe read -R ARCHIVE -t RANGE returns."""
    pcap = SHARED / "pcaps" / "chrissanders_packets__http_espn.pcap"
    arch = tmp_path / "arch"
    run("capture", "-r", pcap, "--status", "1s", "--archive", arch, "--instance", "t", "--rotate", "1m")
    rng = "2010-04-07T17:29:30Z/+2s"
    rows = read_csv_args(["read", "-R", arch, "-t", rng], ["saddr", "bytes"])
    want = {}
    for r in rows:
        want[r["saddr"]] = want.get(r["saddr"], 0) + int(r["bytes"])
    got = read_csv_args(["cluster", "-R", arch, "-t", rng, "-m", "saddr"], ["saddr", "bytes"])
    assert want and {r["saddr"]: int(r["bytes"]) for r in got} == want


def read_csv_args(args, fields):
    out = run(*args, "-o", "csv", "-s", ",".join(fields)).stdout.decode()
    return list(csv.DictReader(io.StringIO(out)))
