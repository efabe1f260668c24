"""floe graph on an archive of real captures: the SVG is a valid standalone
document with axes, legend and the expected series, and every plotted
value (data-values attributes, --json) equals what `floe bins` prints for
the same bins; a --vs series never exceeds the total."""
import collections
import csv
import io
import json
import os
import xml.etree.ElementTree as ET

import pytest

from conftest import SHARED, run

P = SHARED / "pcaps"
WECHAT = P / "ntop_nDPI__tests_cfgs_default_pcap_wechat.pcap"      # 2017-04-14 10:15-11:21
NETFLIX = P / "ntop_nDPI__tests_cfgs_default_pcap_netflix.pcap"    # 2017-01-13 14:50-14:52
WEBEX = P / "ntop_nDPI__tests_cfgs_default_pcap_webex.pcap"        # 2015-10-11 13:37-13:39
WECHAT_T = "2017-04-14T10:00Z/2017-04-14T11:30Z"
NETFLIX_T = "2017-01-13T14:50Z/+3m"
SVG = "{http://www.w3.org/2000/svg}"
UTC = dict(os.environ, TZ="UTC0")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("graph")
    for pc in (WECHAT, NETFLIX, WEBEX):
        run("capture", "-r", pc, "--archive", d / "ar", "--instance", "lnk", "--rotate", "5m",
            "--block-records", "16")
    return d / "ar"


def bins(archive, rng, bin_, key=None, filt=()):
    """floe bins as {(start s, key): {bytes, pkts, trans}}."""
    field, _, mask = (key or "").partition("/")
    cols = ["stime"] + ([field] if key else []) + ["bytes", "pkts", "trans"]
    p = run("bins", "-R", archive, "-t", rng, "-b", bin_, *(["-m", key] if key else []),
            "-s", *cols, "-o", "csv", "-u", "-p", "0", *filt, env=UTC)
    out = {}
    for r in csv.DictReader(io.StringIO(p.stdout.decode())):
        k = (int(r["stime"]), (r[field] + ("/" + mask if mask else "")) if key else None)
        out[k] = {"bytes": int(r["bytes"]), "pkts": int(r["pkts"]), "flows": int(r["trans"])}
    return out


def graph_svg(archive, tmp_path, *args):
    out = tmp_path / "g.svg"
    p = run("graph", "-R", archive, *args, "-o", out, env=UTC)
    assert p.stdout == b""
    return ET.parse(out).getroot()


def graph_json(archive, *args):
    p = run("graph", "-R", archive, *args, "--json", env=UTC)
    return json.loads(p.stdout)


def series_of(root):
    plot = root.find(f"{SVG}g[@class='plot']")
    return [g for g in plot.findall(f"{SVG}g") if g.get("class", "").startswith("series")]


def values(g):
    return [int(v) for v in g.get("data-values").split()]


def top_tick(root):
    """The value of the y axis' highest tick."""
    return max(float(t.get("data-value"))
               for t in root.findall(f"{SVG}g[@class='axis y']/{SVG}text[@class='tick']"))


def expected_series(b, times, metric, top):
    """From floe bins: the top groups by total over the bins drawn (ties by
    label), the rest summed as "other"."""
    per = collections.defaultdict(lambda: [0] * len(times))
    idx = {t: i for i, t in enumerate(times)}
    for (t, k), v in b.items():
        if t in idx:
            per[k][idx[t]] += v[metric]
    ranked = sorted(per, key=lambda k: (-sum(per[k]), k))
    want = [(k, per[k]) for k in ranked[:top]]
    if len(ranked) > top:
        want.append(("other", [sum(per[k][i] for k in ranked[top:]) for i in range(len(times))]))
    return want


def test_svg_is_standalone_with_axes_and_legend(archive, tmp_path):
    root = graph_svg(archive, tmp_path, "-t", WECHAT_T, "-b", "5m", "-m", "bytes", "--by", "dport",
                     "--top", "4")
    assert root.tag == f"{SVG}svg" and root.get("width") == "960"
    assert root.find(f"{SVG}title").text == "Bytes per 5 min by dport"
    ytick = [t.text for t in root.findall(f"{SVG}g[@class='axis y']/{SVG}text[@class='tick']")]
    assert ytick[0] == "0" and all(t.endswith("B") for t in ytick[1:]) and len(ytick) >= 3
    assert any(t.endswith(" MB") or t.endswith(" kB") for t in ytick)
    xtick = [t.text for t in root.findall(f"{SVG}g[@class='axis x']/{SVG}text[@class='tick']")]
    assert xtick and all(len(t) == 5 and t[2] == ":" for t in xtick), xtick
    dates = [t.text for t in root.findall(f"{SVG}g[@class='axis x']/{SVG}text[@class='date']")]
    assert dates == ["2017-04-14"]
    caps = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "caption"]
    assert any("UTC" in c for c in caps) and any("bytes per 5 min" in c for c in caps)
    ser = series_of(root)
    assert len(ser) == 5 and ser[-1].get("data-label") == "other"
    legend = root.findall(f"{SVG}g[@class='legend']/{SVG}g[@class='legend-item']")
    assert len(legend) == 5
    assert [li.find(f"{SVG}text").text.split(" (")[0] for li in legend] == \
        [s.get("data-label") for s in ser]


@pytest.mark.parametrize("metric", ["bytes", "pkts", "flows"])
@pytest.mark.parametrize("key,top", [("dport", 4), ("proto", 8), ("saddr/24", 2), (None, 0)])
def test_values_equal_bins(archive, tmp_path, metric, key, top):
    args = ["-t", WECHAT_T, "-b", "5m", "-m", metric]
    if key:
        args += ["--by", key, "--top", str(top)]
    root = graph_svg(archive, tmp_path, *args)
    start, nbins, step = int(root.get("data-start")), int(root.get("data-nbins")), int(root.get("data-bin"))
    times = [start + i * step for i in range(nbins)]
    assert times[0] <= 1492164000 < times[0] + step and times[-1] < 1492169400 <= times[-1] + step
    b = bins(archive, WECHAT_T, "5m", key)
    got = [(s.get("data-label"), values(s)) for s in series_of(root)]
    if key:
        want = expected_series(b, times, metric, top)
    else:
        want = [("total", [sum(v[metric] for (t, _), v in b.items() if t == tt) for tt in times])]
    assert got == want
    total = root.find(f"{SVG}g[@class='plot']/{SVG}g[@class='total']")
    assert values(total) == [sum(v[i] for _, v in want) for i in range(nbins)]
    assert sum(values(total)) > 0 and max(values(total)) <= top_tick(root)


def test_json_equals_svg_and_bins(archive, tmp_path):
    args = ["-t", NETFLIX_T, "-b", "10s", "-m", "pkts", "--by", "proto", "--top", "2"]
    js = graph_json(archive, *args)
    root = graph_svg(archive, tmp_path, *args)
    assert [(s["label"], s["values"]) for s in js["series"]] == \
        [(s.get("data-label"), values(s)) for s in series_of(root)]
    assert js["times"] == [js["start"] + i * 10 for i in range(js["nbins"])]
    want = expected_series(bins(archive, NETFLIX_T, "10s", "proto"), js["times"], "pkts", 2)
    assert [(s["label"], s["values"]) for s in js["series"]] == want
    assert js["series"][-1].get("other") is True and js["unit"] == "" and js["metric"] == "pkts"


@pytest.mark.parametrize("metric,field,mult", [("bps", "bytes", 8), ("pps", "pkts", 1)])
def test_rates_are_counters_per_second(archive, metric, field, mult):
    js = graph_json(archive, "-t", NETFLIX_T, "-b", "10s", "-m", metric)
    b = bins(archive, NETFLIX_T, "10s")
    want = [b.get((t, None), {field: 0})[field] * mult / 10 for t in js["times"]]
    assert js["series"][0]["values"] == pytest.approx(want, rel=1e-12)
    assert js["unit"] == ("bit/s" if metric == "bps" else "pkt/s")
    assert js["total"]["total"] == pytest.approx(sum(want) / len(want), rel=1e-12)


@pytest.mark.parametrize("vs", ["host 192.168.1.100", "dst port 443", "udp"])
@pytest.mark.parametrize("mode", ["--stacked", "--overlay"])
def test_vs_series_under_the_total(archive, tmp_path, vs, mode):
    args = ["-t", WECHAT_T, "-b", "1m", "-m", "bytes", "--vs", vs, mode]
    root = graph_svg(archive, tmp_path, *args)
    plot = root.find(f"{SVG}g[@class='plot']")
    assert plot.get("data-mode") == mode[2:]
    total = values(plot.find(f"{SVG}g[@class='total']"))
    vsv = values(plot.find(f"{SVG}g[@class='vs']"))
    assert len(vsv) == len(total) and all(v <= t for v, t in zip(vsv, total))
    assert 0 < sum(vsv) < sum(total)
    start = int(root.get("data-start"))
    b = bins(archive, WECHAT_T, "1m", None, [vs])
    assert vsv == [b.get((start + 60 * i, None), {"bytes": 0})["bytes"] for i in range(len(vsv))]
    legend = [t.text for t in root.iter(f"{SVG}text") if t.text and t.text.startswith(vs + " (")]
    assert len(legend) == 1
    assert max(total) <= top_tick(root)
    # with --by and overlaid lines the total is drawn as a line of its own
    root = graph_svg(archive, tmp_path, *args, "--by", "proto")
    tot = root.find(f"{SVG}g[@class='plot']/{SVG}g[@class='total']")
    assert (tot.find(f"{SVG}path") is not None) == (mode == "--overlay")
    assert max(values(tot)) <= top_tick(root), "every line drawn is under the top of the axis"


def test_overlay_draws_lines_stacked_draws_areas(archive, tmp_path):
    for mode, closed in (("--overlay", False), ("--stacked", True)):
        root = graph_svg(archive, tmp_path, "-t", WECHAT_T, "-b", "5m", "--by", "dport", mode)
        paths = [s.find(f"{SVG}path") for s in series_of(root)]
        assert paths and all(p.get("d").endswith("Z") == closed for p in paths)
        assert all((p.get("fill") == "none") != closed for p in paths)


def test_filter_applies_to_every_series(archive, tmp_path):
    root = graph_svg(archive, tmp_path, "-t", WECHAT_T, "-b", "5m", "--by", "proto", "tcp")
    assert [s.get("data-label") for s in series_of(root)] == ["tcp"]


def test_days_are_labelled_with_dates(archive, tmp_path):
    root = graph_svg(archive, tmp_path, "-t", "2017-04-13T12:00Z/2017-04-15T12:00Z", "-b", "1h")
    dates = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "date"]
    assert dates == ["2017-04-13", "2017-04-14", "2017-04-15"]
    assert int(root.get("data-nbins")) == 48
    root = graph_svg(archive, tmp_path, "-t", "2017-04-01Z/2017-04-29Z", "-b", "1d")
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tick" and t.get("data-time")]
    assert ticks and all(len(t) == 10 and t.startswith("2017-04-") for t in ticks)


def test_text_is_escaped(archive, tmp_path):
    title = 'a <b> & "c" \'d\''
    root = graph_svg(archive, tmp_path, "-t", NETFLIX_T, "-b", "10s", "--title", title,
                     "--vs", "host 1.2.3.4 or port 80")
    assert root.find(f"{SVG}title").text == title
    assert any(t.text and t.text.startswith("host 1.2.3.4 or port 80 (") for t in root.iter(f"{SVG}text"))


def test_empty_period_draws_axes(archive, tmp_path):
    root = graph_svg(archive, tmp_path, "-t", "2001-01-01Z/+1h", "-b", "5m")
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "empty"] == \
        ["no records in this period"]
    assert values(series_of(root)[0]) == [0] * 12


def test_size_option(archive, tmp_path):
    root = graph_svg(archive, tmp_path, "-t", WECHAT_T, "-b", "5m", "--by", "dport", "--top", "10",
                     "--width", "400", "--height", "300")
    assert root.get("width") == "400" and float(root.get("height")) >= 300


@pytest.mark.parametrize("args,msg", [
    (["-m", "furlongs"], "unknown metric"),
    (["--by", "bytes"], "not a key field"),
    (["--top", "3"], "--top goes with --by"),
    (["--by", "dport", "--top", "33"], "at most 32"),
    (["-b", "500ms"], "whole seconds"),
    (["--vs", "host"], "bad --vs filter"),
    (["--width", "12"], "bad --width"),
])
def test_bad_command_lines(archive, args, msg):
    p = run("graph", "-R", archive, "-t", NETFLIX_T, *args, check=False)
    assert p.returncode == 2 and msg in p.stderr and p.stdout == b""


def test_too_many_bins_fails_clearly(archive, tmp_path):
    out = tmp_path / "x.svg"
    p = run("graph", "-R", archive, "-b", "1s", "-o", out, check=False)
    assert p.returncode == 1 and "bins of 1 s" in p.stderr and not out.exists()
