"""Archive maintenance through the binary: `floe archive ls`, `verify`,
`expire` and `recover` on archives captured from real pcaps, damage made
on purpose (verify reports it and changes nothing), and a `floe capture`
from a pipe killed with SIGKILL, whose .part is then recovered into a
closed file that verifies and holds the same records."""
import csv
import hashlib
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from conftest import FLOE, SHARED, run

P = SHARED / "pcaps"
PCAPS = [P / "ntop_nDPI__tests_cfgs_default_pcap_wechat.pcap",
         P / "zeek_zeek__testing_btest_Traces_http_206_example_b.pcap",
         P / "markofu_pcaps__CounterHack_HackChallenge_Cmas2011.pcap",
         P / "chrissanders_packets__http_espn.pcap"]
# a capture from a pipe fed 90% of it has written two blocks (20 records
# each) of its last .part
KILLED = P / "markofu_pcaps__HoneyNet_0210_suspicious-time.pcap"
FIELDS = "stime,ltime,saddr,sport,daddr,dport,proto,spkts,dpkts,sbytes,dbytes"
UTC = dict(os.environ, TZ="UTC0")


def rows(*args, check=True):
    p = run("read", "-o", "csv", "-u", "-p", "9", "-s", FIELDS, *args, env=UTC, check=check)
    return sorted(tuple(r) for r in list(csv.reader(io.StringIO(p.stdout.decode())))[1:])


def files(ar):
    return sorted(f for f in pathlib.Path(ar).rglob("*") if f.is_file())


def digest(ar):
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files(ar)}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("maint")
    ar = d / "ar"
    for pc in PCAPS:
        run("capture", "-r", pc, "--archive", ar, "--instance", "lnk", "--rotate", "5m",
            "--block-records", "20")
    run("capture", "-r", PCAPS[0], "--archive", ar, "--instance", "other", "--rotate", "1h")
    return ar


@pytest.fixture
def copy(archive, tmp_path):
    dst = tmp_path / "ar"
    shutil.copytree(archive, dst)
    return dst


def ls_json(ar, *args):
    p = run("archive", "ls", "--dir", ar, "-o", "json", *args)
    return [json.loads(line) for line in p.stdout.decode().splitlines()]


def test_ls_lists_every_file_with_its_records(archive):
    got = ls_json(archive)
    assert sorted(pathlib.Path(g["path"]) for g in got) == files(archive)
    assert sum(g["records"] for g in got) == len(rows("-R", archive))
    for g in got:
        assert g["state"] == "closed" and g["blocks"] >= 1
        assert g["instance"] in ("lnk", "other")
        assert pathlib.Path(g["path"]).name.startswith(g["instance"] + ".")
        assert g["period"] <= g["last"] and g["bytes"] == os.path.getsize(g["path"])
        assert g["first"] <= g["last"]
    text = run("archive", "ls", "--dir", archive).stdout.decode().splitlines()
    assert text[0].split()[:3] == ["period", "state", "first"]
    assert text[-1] == "%d files, %d records, %d bytes" % (
        len(got), sum(g["records"] for g in got), sum(g["bytes"] for g in got))


def test_ls_time_range_keeps_overlapping_files(archive):
    every = ls_json(archive)
    rng = "2011-12-25Z"
    got = ls_json(archive, "-t", rng)
    want = [g for g in every if g["first"] < "2011-12-26" and g["last"] >= "2011-12-25"]
    assert got == want and 0 < len(got) < len(every)


def test_verify_clean_archive(archive):
    before = digest(archive)
    p = run("archive", "verify", "--dir", archive)
    n = len(files(archive))
    assert p.stdout.decode().splitlines()[-1] == f"{n} files: {n} ok, 0 open (.part), 0 damaged"
    assert digest(archive) == before


def damage(path, how):
    data = bytearray(path.read_bytes())
    foff = int.from_bytes(data[-24:-16], "little")
    if how == "payload":
        data[foff - 5] ^= 0x5A             # the last block's payload
    elif how == "footer":
        data[foff + 24 + 3] ^= 0x5A        # an entry of the footer index
    elif how == "filter":
        count = int.from_bytes(data[foff + 4:foff + 8], "little")
        af = foff + 24 + 48 * count
        pages = int.from_bytes(data[af + 4:af + 8], "little")
        data[af + 32 + 4 * pages + 1] ^= 0x5A
    elif how == "truncate":
        del data[foff - 10:]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how,says", [("payload", "block payload fails its checksum"),
                                      ("footer", "footer damaged"),
                                      ("filter", "address filter: 1 pages"),
                                      ("truncate", "ends inside a block")])
def test_verify_reports_damage_and_changes_nothing(copy, how, says):
    victim = max(files(copy), key=lambda f: f.stat().st_size)
    damage(victim, how)
    before = digest(copy)
    p = run("archive", "verify", "--dir", copy, check=False)
    out = p.stdout.decode()
    assert p.returncode == 3, out
    bad = [line for line in out.splitlines() if line.startswith("damaged")]
    assert len(bad) == 1 and str(victim) in bad[0]
    assert says in out
    assert out.splitlines()[-1].endswith(" 1 damaged")
    assert digest(copy) == before, "verify never changes a file"
    # the same, named with -r, as JSON
    p = run("archive", "verify", "-r", victim, "-o", "json", check=False)
    v = json.loads(p.stdout)
    assert p.returncode == 3 and v["verdict"] == "damaged"
    if how == "payload":
        assert v["blocks_damaged"] == 1 and v["damage"][0]["kind"] == "block"


def test_expire_dry_run_and_keep(copy):
    before = digest(copy)
    p = run("archive", "expire", "--dir", copy, "--keep", "1d", "--dry-run")
    lines = p.stdout.decode().splitlines()
    assert len(lines) == len(before) + 1 and all(line.startswith("would remove") for line in lines)
    assert digest(copy) == before
    run("archive", "expire", "--dir", copy, "--keep", "36500d")   # a century: nothing is old
    assert digest(copy) == before
    p = run("archive", "expire", "--dir", copy, "--keep", "1d")
    assert files(copy) == []
    # empty YYYY/MM/DD directories are gone, the instance directories stay
    assert sorted(d.name for d in copy.iterdir()) == ["lnk", "other"]
    assert all(not any(d.iterdir()) for d in copy.iterdir())


def test_expire_max_size_removes_oldest_first(copy):
    every = ls_json(copy)
    by_age = sorted(every, key=lambda g: (g["period"], g["path"]))
    budget = sum(g["bytes"] for g in by_age[len(by_age) // 2:])
    p = run("archive", "expire", "--dir", copy, "--max-size", str(budget))
    left = ls_json(copy)
    assert sum(g["bytes"] for g in left) <= budget
    assert left and sorted(g["path"] for g in left) == sorted(
        g["path"] for g in by_age[len(by_age) - len(left):])
    removed = [line for line in p.stdout.decode().splitlines() if line.startswith("removed /")]
    assert len(removed) == len(every) - len(left) and all("(size," in r for r in removed)


def capture_killed(ar, fraction=0.9, min_size=2000):
    """Feeds part of a pcap through a pipe to `floe capture -r -` and kills
    it with SIGKILL once a .part of the archive holds min_size bytes."""
    data = KILLED.read_bytes()
    p = subprocess.Popen([FLOE, "capture", "-r", "-", "--archive", str(ar), "--instance", "lnk",
                          "--rotate", "5m", "--block-records", "20"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    p.stdin.write(data[:int(len(data) * fraction)])
    p.stdin.flush()
    deadline = time.time() + 20
    while time.time() < deadline:
        parts = [f for f in files(ar) if f.name.endswith(".part") and f.stat().st_size >= min_size]
        if parts:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    assert p.returncode == -signal.SIGKILL
    return [f for f in files(ar) if f.name.endswith(".part")]


def test_kill_then_recover_then_verify(tmp_path):
    ar = tmp_path / "ar"
    parts = capture_killed(ar)
    assert len(parts) == 1, "the crash leaves one .part"
    records = rows("-R", ar)
    p = run("archive", "verify", "--dir", ar)
    assert "open" in p.stdout.decode() and p.stdout.decode().splitlines()[-1].endswith(" 0 damaged")
    assert [g["state"] for g in ls_json(ar)].count("part") == 1
    p = run("archive", "recover", "--dir", ar)
    out = p.stdout.decode()
    assert out.startswith("recovered " + str(parts[0]) + " -> " + str(parts[0])[:-5])
    assert not [f for f in files(ar) if f.name.endswith(".part")]
    assert rows("-R", ar) == records, "the recovered file holds the .part's complete blocks"
    n = len(files(ar))
    p = run("archive", "verify", "--dir", ar)
    assert p.stdout.decode().splitlines()[-1] == f"{n} files: {n} ok, 0 open (.part), 0 damaged"
    assert run("archive", "recover", "--dir", ar).stdout == b"", "nothing left to recover"


def test_torn_part_is_recovered_at_its_last_complete_block(tmp_path):
    ar = tmp_path / "ar"
    part = capture_killed(ar)[0]
    data = part.read_bytes()
    part.write_bytes(data[:-7])           # a torn last block
    want = rows("-r", part, check=False)    # exit 3: the torn block is reported
    assert want
    p = run("archive", "recover", "--dir", ar)
    assert "bytes dropped" in p.stdout.decode() and not part.exists()
    assert rows("-R", ar) == want
    run("archive", "verify", "--dir", ar)


def test_writer_recovers_its_stale_part_when_it_starts(tmp_path):
    ar = tmp_path / "ar"
    part = capture_killed(ar)[0]
    records = rows("-r", part)
    p = run("capture", "-r", PCAPS[1], "--archive", ar, "--instance", "lnk", "--rotate", "5m")
    assert f"recovered '{part}'" in p.stderr
    assert not part.exists() and part.with_name(part.name[:-5]).exists()
    assert rows("-r", part.with_name(part.name[:-5])) == records
    run("archive", "verify", "--dir", ar)


def test_usage_errors(archive):
    assert run("archive", "expire", "--dir", archive, check=False).returncode == 2
    assert run("archive", "frobnicate", check=False).returncode == 2
    assert run("archive", "ls", check=False).returncode == 2
    assert run("archive", "ls", "--dir", archive, "--keep", "1d", check=False).returncode == 2
    assert run("archive", "expire", "--dir", archive, "--keep", "soon", check=False).returncode == 2
    assert run("capture", "-r", PCAPS[0], "--keep", "1d", check=False).returncode == 2
    assert run("archive", "--help").stdout.decode().startswith("usage: floe archive")


def test_capture_expires_as_it_writes(tmp_path):
    """--keep/--max-size on the writer: expiry at start and at each rotation
    (by the wall clock: these captures are years old)."""
    keep_all, keep_last = tmp_path / "all", tmp_path / "last"
    pc = PCAPS[2]
    run("capture", "-r", pc, "--archive", keep_all, "--instance", "lnk", "--rotate", "5m",
        "--keep", "36500d")
    p = run("capture", "-r", pc, "--archive", keep_last, "--instance", "lnk", "--rotate", "5m",
            "--keep", "1d")
    every = files(keep_all)
    assert len(every) > 1
    assert [f.name for f in files(keep_last)] == [every[-1].name], "only the file closed last"
    assert p.stderr.count("info: expired") == len(every) - 1
