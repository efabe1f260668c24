"""floe serve end to end (docs/web.md): the JSON API against floe's own
command line, the limits, TLS and the login, and the pages in a real
browser.

An archive is made from real captures (`floe capture --archive`), `floe
serve` is started on a free loopback port and stopped afterwards.  Every
number the API or a page shows must equal what `floe cluster`, `floe bins`
or `floe read` print for the same filter and keys.  The browser is Debian's
headless chromium driven by selenium; its screenshots are kept under the
build directory (tests/e2e/serve-screens/).
"""
import collections
import csv
import http.client
import io
import ipaddress
import json
import os
import pathlib
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import FLOE, SHARED, free_port, run

CAPTURES = ["chrissanders_packets__http_espn.pcap", "chrissanders_packets__tcp_ports.pcap",
            "markofu_pcaps__PracticalPacketAnalysis_ppa-capture-files_dns.pcap",
            "arkime_arkime__tests_pcap_v6-http.pcap",
            "StopDDoS_packet-captures__pkt.TCP.synflood.spoofed.pcap"]
LATE = "chrissanders_packets__icmp_traceroute.pcap"   # added while the live page watches
SCREENS = pathlib.Path(FLOE).resolve().parents[2] / "tests" / "e2e" / "serve-screens"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve") / "archive"
    for i, name in enumerate(CAPTURES):
        run("capture", "-r", SHARED / "pcaps" / name, "--archive", d, "--instance", f"link{i}")
        time.sleep(0.02)  # distinct modification times: the live page follows the newest
    return d


class Server:
    """A floe serve process on a free loopback port."""

    def __init__(self, *args):
        self.p = subprocess.Popen([FLOE, "serve", *map(str, args)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("listening on "):
            self.p.kill()
            raise AssertionError("floe serve did not start: " + line + self.p.stderr.read())
        self.url = line.split()[-1].rstrip("/")
        u = urllib.parse.urlparse(self.url)
        self.host, self.port, self.tls = u.hostname, u.port, u.scheme == "https"

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("floe serve did not stop on SIGTERM")
        assert self.p.returncode == 0, self.p.stderr.read()


def request(srv, path, headers=None, method="GET", body=None, ctx=None):
    """(status, headers, body bytes) of one request."""
    if srv.tls:
        c = http.client.HTTPSConnection(srv.host, srv.port, timeout=30, context=ctx)
    else:
        c = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def api(srv, path, **params):
    st, h, body = request(srv, path + ("?" + urllib.parse.urlencode(params) if params else ""))
    assert st == 200, body
    return json.loads(body)


@pytest.fixture(scope="module")
def srv(archive):
    s = Server("--archive", archive, "--listen", "127.0.0.1:0")
    yield s
    s.stop()


def cluster_csv(archive, keys, *extra):
    p = run("cluster", "-R", archive, "-m", *keys.split(), "-s", *keys.split(), "trans", "pkts", "bytes",
            "-o", "csv", *extra)
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def records(archive, *filt):
    p = run("read", "-R", archive, "-o", "csv", "-u", "-s", "stime", "ltime", "saddr", "daddr", "proto",
            "dport", "pkts", "bytes", "trans", *filt)
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def addr_key(a):
    return ipaddress.ip_address(a).packed if ":" in a else b"\0" * 10 + b"\xff\xff" + ipaddress.ip_address(a).packed


# ---- the API against the command line ----

def test_summary_equals_cluster(srv, archive):
    s = api(srv, "/api/summary", top=10)
    recs = records(archive)
    assert s["records"] == len(recs)
    assert s["bytes"] == sum(int(r["bytes"]) for r in recs)
    assert s["pkts"] == sum(int(r["pkts"]) for r in recs)
    assert s["flows"] == sum(int(r["trans"]) for r in recs)
    protos = cluster_csv(archive, "proto", "--top", "10")
    assert [(p["proto"], p["bytes"], p["pkts"], p["flows"]) for p in s["protos"]] == \
        [(r["proto"], int(r["bytes"]), int(r["pkts"]), int(r["trans"])) for r in protos]
    ports = cluster_csv(archive, "proto dport", "--top", "10")
    assert [(p["proto"], p["dport"], p["bytes"]) for p in s["ports"]] == \
        [(r["proto"], int(r["dport"]), int(r["bytes"])) for r in ports]
    # a host counts the records it is either side of: cluster -m saddr plus
    # cluster -m daddr, a record from a host to itself once
    want = collections.Counter()
    for r in cluster_csv(archive, "saddr"):
        want[r["saddr"]] += int(r["bytes"])
    for r in cluster_csv(archive, "daddr"):
        want[r["daddr"]] += int(r["bytes"])
    for r in recs:
        if r["saddr"] == r["daddr"]:
            want[r["saddr"]] -= int(r["bytes"])
    assert len(s["hosts"]) == 10
    for h in s["hosts"]:
        assert h["bytes"] == want[h["saddr"]], h
    assert [h["bytes"] for h in s["hosts"]] == sorted(want.values(), reverse=True)[:10]


def test_summary_filter_and_range(srv, archive):
    s = api(srv, "/api/summary", t="2010-01-07", filter="tcp and dst port 80", m="pkts")
    recs = records(archive, "-t", "2010-01-07", "tcp and dst port 80")
    assert s["records"] == len(recs) > 0
    assert s["pkts"] == sum(int(r["pkts"]) for r in recs)
    protos = cluster_csv(archive, "proto", "-t", "2010-01-07", "--sort", "pkts", "tcp and dst port 80")
    assert [p["pkts"] for p in s["protos"]] == [int(r["pkts"]) for r in protos]


def test_series_equals_bins(srv, archive):
    t = "2021-04-28T10:30:00Z/2021-04-28T10:31:00Z"
    s = api(srv, "/api/series", t=t, b="5s")
    p = run("bins", "-R", archive, "-t", t, "-b", "5s", "-s", "stime", "bytes", "-o", "csv", "-u")
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    want = {int(float(r["stime"])): int(r["bytes"]) for r in rows}
    got = dict(zip(s["times"], s["series"][0]["values"]))
    assert {k: v for k, v in got.items() if v} == want
    # by protocol: the same per key
    s = api(srv, "/api/series", t="2010-04-07", b="1s", by="proto")
    p = run("bins", "-R", archive, "-t", "2010-04-07", "-b", "1s", "-m", "proto", "-s", "stime", "proto",
            "bytes", "-o", "csv", "-u")
    want = collections.defaultdict(dict)
    for r in csv.DictReader(io.StringIO(p.stdout.decode())):
        want[r["proto"]][int(float(r["stime"]))] = int(r["bytes"])
    for ser in s["series"][1:]:
        got = {t: v for t, v in zip(s["times"], ser["values"]) if v}
        assert got == want[ser["key"]], ser["key"]
    assert {x["key"] for x in s["series"][1:]} == set(want)


@pytest.mark.parametrize("host", ["172.16.0.122", "fe80::2d0:9ff:fee3:e8de"])
def test_host_equals_cluster(srv, archive, host):
    h = api(srv, "/api/host/" + urllib.parse.quote(host), top=32)
    want = collections.Counter()
    for r in cluster_csv(archive, "daddr", f"src host {host}"):
        want[r["daddr"]] += int(r["bytes"])
    for r in cluster_csv(archive, "saddr", f"dst host {host}"):
        want[r["saddr"]] += int(r["bytes"])
    assert {p["daddr"]: p["bytes"] for p in h["peers"]} == dict(want)
    ports = cluster_csv(archive, "proto dport", "--top", "32", f"host {host}")
    assert [(p["proto"], p["dport"], p["bytes"]) for p in h["ports"]] == \
        [(r["proto"], int(r["dport"]), int(r["bytes"])) for r in ports]
    recs = records(archive, f"host {host}")
    assert h["records"] == len(recs) and h["bytes"] == sum(int(r["bytes"]) for r in recs)
    total, mine, flows = (x["values"] for x in h["series"])
    assert sum(mine) == h["bytes"] and sum(flows) == h["flows"]
    assert sum(total) == api(srv, "/api/summary")["bytes"]
    assert all(m <= t for m, t in zip(mine, total))


def test_query_csv_equals_cluster(srv, archive):
    filt = "tcp and not port 80"
    q = urllib.parse.urlencode({"by": "saddr dport", "limit": 20, "format": "csv", "filter": filt})
    st, hd, body = request(srv, "/api/query?" + q)
    assert st == 200 and hd["content-type"].startswith("text/csv")
    assert "attachment" in hd["content-disposition"]
    p = run("cluster", "-R", archive, "-m", "saddr", "dport", "--top", "20", "-o", "csv", filt)
    assert body == p.stdout
    j = api(srv, "/api/query", by="saddr dport", limit=20, filter=filt)
    assert j["columns"] == ["stime", "dur", "saddr", "dport", "trans", "pkts", "bytes"]
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    assert [(r["saddr"], r["dport"], r["bytes"]) for r in j["rows"]] == \
        [(r["saddr"], int(r["dport"]), int(r["bytes"])) for r in rows]
    assert j["more"] is True


def test_query_records_and_sort(srv, archive):
    j = api(srv, "/api/query", filter="udp", limit=5)
    p = run("read", "-R", archive, "-o", "json", "udp")
    want = [json.loads(x) for x in p.stdout.decode().splitlines()]
    assert j["rows"] == want[:5] and j["more"] is (len(want) > 5)
    # a sort on a per-direction field
    st, _, body = request(srv, "/api/query?by=saddr&sort=dbytes&limit=15&format=csv")
    assert st == 200
    assert body == run("cluster", "-R", archive, "-m", "saddr", "--sort", "dbytes", "--top", "15",
                       "-o", "csv").stdout
    j = api(srv, "/api/query", by="proto", sort="pkts:asc")
    p = run("cluster", "-R", archive, "-m", "proto", "--sort", "pkts:asc", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    assert [r["proto"] for r in j["rows"]] == [r["proto"] for r in rows]


# ---- errors and limits ----

@pytest.mark.parametrize("path,status,words", [
    ("/api/summary?filter=host+10.0.0.300", 400, "bad filter"),
    ("/api/query?filter=tcp+and+(", 400, "bad filter: column"),
    ("/api/query?by=nosuchfield", 400, "nosuchfield"),
    ("/api/query?sort=nosuch", 400, "nosuch"),
    ("/api/query?filter=host+in+%40%2Fetc%2Fpasswd", 400, "@file"),
    ("/api/summary?t=lastweek", 400, "t: column 1"),
    ("/api/summary?x=1", 400, "unknown parameter 'x'"),
    ("/api/summary?filter=%zz", 400, "bad percent escape"),
    ("/api/host/not-an-address", 400, "not an IPv4 or IPv6 address"),
    ("/api/query?limit=100000", 400, "over the maximum 10000"),
    ("/api/series?b=1s", 400, "bins are more than"),
    ("/api/graph.svg?b=1s", 400, "bins"),
    ("/nosuchpage", 404, "no such page"),
])
def test_bad_requests(srv, path, status, words):
    st, hd, body = request(srv, path)
    assert st == status, body
    assert hd["content-type"] == "application/json"
    assert words in json.loads(body)["error"]


def test_method_not_allowed(srv):
    st, _, body = request(srv, "/api/summary", method="DELETE")
    assert st == 405


def test_security_headers(srv):
    for path in ("/", "/host", "/query", "/live", "/static/app.js", "/api/summary"):
        st, hd, _ = request(srv, path)
        assert st == 200, path
        csp = hd["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
        assert hd["x-content-type-options"] == "nosniff"
    # no inline script or style in any page: the CSP would block them
    for path in ("/", "/host", "/query", "/live"):
        page = request(srv, path)[2].decode()
        assert "<script>" not in page and "style=" not in page and "onclick" not in page


def test_host_header_checked(srv):
    """Without a token, only this server's own names: a rebinding DNS name
    pointing at 127.0.0.1 gets nothing."""
    st, _, body = request(srv, "/api/summary", headers={"Host": f"evil.example:{srv.port}"})
    assert st == 421 and "own address" in json.loads(body)["error"]
    for h in (f"localhost:{srv.port}", f"127.0.0.1:{srv.port}"):
        assert request(srv, "/api/summary", headers={"Host": h})[0] == 200


def test_json_escapes_markup(srv):
    st, _, body = request(srv, "/api/summary?filter=" + urllib.parse.quote("tcp and <script>"))
    assert st == 400 and b"<" not in body and b"\\u003c" in body


def test_query_memory_and_time_limits(archive):
    s = Server("--archive", archive, "--listen", "127.0.0.1:0", "--query-memory", "1M")
    try:
        st, _, body = request(s, "/api/query?limit=10000")
        assert st == 503 and "larger than the memory a request may use" in json.loads(body)["error"]
        st, _, body = request(s, "/api/query?limit=10")       # small answers still work
        assert st == 200
    finally:
        s.stop()
    s = Server("--archive", archive, "--listen", "127.0.0.1:0", "--query-timeout", "1ms")
    try:
        st, _, body = request(s, "/api/summary")
        assert st == 503 and "ran past the time" in json.loads(body)["error"]
    finally:
        s.stop()


def test_concurrent_queries_capped(archive):
    s = Server("--archive", archive, "--listen", "127.0.0.1:0", "--max-queries", "1")
    try:
        results = []
        barrier = threading.Barrier(8)

        def one():
            barrier.wait()
            st, _, body = request(s, "/api/summary?top=32")
            results.append((st, json.loads(body)))
        ts = [threading.Thread(target=one) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        busy = [b for st, b in results if st == 503]
        assert busy and all("busy" in b["error"] for b in busy)
        assert any(st == 200 for st, _ in results)
        assert request(s, "/api/summary")[0] == 200   # and the server is still fine
    finally:
        s.stop()


def test_command_line_errors(tmp_path):
    p = run("serve", check=False)
    assert p.returncode == 2 and "no archive" in p.stderr
    p = run("serve", "--archive", tmp_path / "nonexistent", "--listen", "127.0.0.1:0", check=False)
    assert p.returncode == 1 and "cannot read the archive" in p.stderr
    p = run("serve", "--archive", tmp_path, "--listen", "127.0.0.1:99999", check=False)
    assert p.returncode == 2 and "bad listen address" in p.stderr
    p = run("serve", "--archive", tmp_path, "--listen", "127.0.0.1:0", "tcp", check=False)
    assert p.returncode == 2 and "takes no filter" in p.stderr
    junk, tok = tmp_path / "junk.pem", tmp_path / "token"
    junk.write_text("not a certificate\n")
    tok.write_text("0123456789abcdef0123\n")
    p = run("serve", "--archive", tmp_path, "--listen", "127.0.0.1:0", "--tls-cert", junk, "--tls-key", junk,
            "--token", tok, check=False)
    assert p.returncode == 1 and "not valid PEM" in p.stderr


def test_non_loopback_needs_tls_and_token(archive, tmp_path):
    tok = tmp_path / "token"
    tok.write_text("0123456789abcdef0123\n")
    for extra in ([], ["--token", tok]):
        p = run("serve", "--archive", archive, "--listen", "0.0.0.0:0", *extra, check=False)
        assert p.returncode == 2
        assert "not a loopback address" in p.stderr and "TLS" in p.stderr
    p = run("serve", "--archive", archive, "--listen", "[::]:0", check=False)
    assert p.returncode == 2 and "not a loopback address" in p.stderr
    short = tmp_path / "short"
    short.write_text("abc\n")
    p = run("serve", "--archive", archive, "--listen", "127.0.0.1:0", "--token", short, check=False)
    assert p.returncode == 2 and "shorter than 16" in p.stderr


def tls_server(archive, tmp_path):
    """A server with TLS (a certificate made now) and a token: (server, cert, token)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    token = "s3cret-token-" + os.urandom(8).hex()
    tok = tmp_path / "token"
    tok.write_text(token + "\n")
    s = Server("--archive", archive, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
               "--token", tok)
    return s, cert, token


def test_tls_and_token(archive, tmp_path):
    s, cert, token = tls_server(archive, tmp_path)
    ctx = ssl.create_default_context(cafile=str(cert))
    try:
        assert s.tls
        st, _, body = request(s, "/api/summary", ctx=ctx)
        assert st == 401 and "log in" in json.loads(body)["error"]
        st, _, _ = request(s, "/api/summary", headers={"Authorization": "Bearer wrong-" + token}, ctx=ctx)
        assert st == 401
        st, hd, body = request(s, "/api/summary", headers={"Authorization": "Bearer " + token}, ctx=ctx)
        assert st == 200 and json.loads(body)["records"] > 0
        assert "max-age" in hd["strict-transport-security"]
        st, hd, _ = request(s, "/", ctx=ctx)
        assert st == 303 and hd["location"] == "/login"
        assert request(s, "/login", ctx=ctx)[0] == 200
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        st, hd, _ = request(s, "/login", method="POST", body="token=nope", headers=form, ctx=ctx)
        assert st == 303 and hd["location"].startswith("/login?failed") and "set-cookie" not in hd
        st, hd, _ = request(s, "/login", method="POST", body="token=" + urllib.parse.quote(token),
                            headers=form, ctx=ctx)
        assert st == 303 and hd["location"] == "/"
        cookie = hd["set-cookie"]
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
        st, _, body = request(s, "/api/summary", headers={"Cookie": cookie.split(";")[0]}, ctx=ctx)
        assert st == 200
        st, _, _ = request(s, "/api/summary", headers={"Cookie": "floe_session=" + "0" * 64}, ctx=ctx)
        assert st == 401
        # plain HTTP on the TLS port gets no answer
        with socket.create_connection((s.host, s.port), timeout=5) as c:
            c.sendall(b"GET /api/summary HTTP/1.0\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n")
            try:
                got = c.recv(100)
            except (ConnectionResetError, socket.timeout):
                got = b""
            assert not got.startswith(b"HTTP/1.") or b"200" not in got
    finally:
        s.stop()


# ---- the pages in a browser ----

@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1800", "--ignore-certificate-errors"):  # test_login_in_browser
        o.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    d.set_page_load_timeout(60)
    SCREENS.mkdir(parents=True, exist_ok=True)
    yield d
    d.quit()


def wait_loaded(d, timeout=30):
    from selenium.webdriver.common.by import By
    end = time.time() + timeout
    while time.time() < end:
        v = d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded")
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("page did not load: " + d.current_url)


def wait_images(d):
    """Waits until every chart image has loaded; returns their sizes."""
    end = time.time() + 30
    while time.time() < end:
        done = d.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth)")
        if done and all(done):
            return done
        time.sleep(0.1)
    raise AssertionError("charts did not load")


def table(d, tid):
    """The rows of a table as dicts by header, read in one script (the page
    may replace the table at any time)."""
    return d.execute_script("""
        const t = document.getElementById(arguments[0]);
        const head = Array.from(t.querySelectorAll("thead th")).map(th => th.textContent);
        return Array.from(t.querySelectorAll("tbody tr")).map(tr => Object.fromEntries(
            Array.from(tr.cells).map((td, i) => [head[i], td.textContent])));""", tid)


def test_pages_in_browser(srv, archive, browser):
    from selenium.webdriver.common.by import By
    d = browser
    # dashboard
    d.get(srv.url + "/")
    assert wait_loaded(d) == "1"
    assert all(w > 0 for w in wait_images(d))
    s = api(srv, "/api/summary", top=10)
    assert d.find_element(By.ID, "records").text == str(s["records"])
    assert d.find_element(By.ID, "bytes").text == str(s["bytes"])
    protos = cluster_csv(archive, "proto", "--top", "10")
    assert [(r["proto"], r["bytes"]) for r in table(d, "protos")] == [(r["proto"], r["bytes"]) for r in protos]
    ports = cluster_csv(archive, "proto dport", "--top", "10")
    assert [(r["port"], r["bytes"]) for r in table(d, "ports")] == [(r["dport"], r["bytes"]) for r in ports]
    hosts = table(d, "hosts")
    assert [(h["host"], h["bytes"]) for h in hosts] == [(h["saddr"], str(h["bytes"])) for h in s["hosts"]]
    d.save_screenshot(str(SCREENS / "dashboard.png"))
    # a top host's page, by clicking it
    host = hosts[1]["host"]
    d.find_element(By.LINK_TEXT, host).click()
    assert wait_loaded(d) == "1"
    assert "/host?" in d.current_url and d.find_element(By.ID, "addr").text == host
    assert all(w > 0 for w in wait_images(d))
    recs = records(archive, f"host {host}")
    assert d.find_element(By.ID, "bytes").text == str(sum(int(r["bytes"]) for r in recs))
    want = collections.Counter()
    for r in cluster_csv(archive, "daddr", f"src host {host}"):
        want[r["daddr"]] += int(r["bytes"])
    for r in cluster_csv(archive, "saddr", f"dst host {host}"):
        want[r["saddr"]] += int(r["bytes"])
    peers = table(d, "peers")
    assert peers and all(int(p["bytes"]) == want[p["peer"]] for p in peers)
    assert [int(p["bytes"]) for p in peers] == sorted(want.values(), reverse=True)[:len(peers)]
    d.save_screenshot(str(SCREENS / "host.png"))
    # its flows in the query page, then grouped by destination port
    d.find_element(By.ID, "to-query").click()
    assert wait_loaded(d) == "1"
    d.find_element(By.ID, "by").send_keys("dport")
    d.find_element(By.CSS_SELECTOR, "#q button").click()
    end = time.time() + 30
    while "by=dport" not in d.current_url and time.time() < end:
        time.sleep(0.1)
    assert wait_loaded(d) == "1"
    rows = table(d, "result")
    want = cluster_csv(archive, "dport", "--top", "100", f"host {host}")
    assert [(r["dport"], r["bytes"]) for r in rows] == [(r["dport"], r["bytes"]) for r in want]
    # sortable: a click on a header orders by it
    d.find_element(By.XPATH, "//table[@id='result']//th[text()='pkts']").click()
    pk = [int(r["pkts"]) for r in table(d, "result")]
    assert pk == sorted(pk)
    # the download links give the same table
    href = d.find_element(By.ID, "csv").get_attribute("href")
    st, _, body = request(srv, href[len(srv.url):])
    p = run("cluster", "-R", archive, "-m", "dport", "--top", "100", "-o", "csv", f"host {host}")
    assert st == 200 and body == p.stdout
    href = d.find_element(By.ID, "json").get_attribute("href")
    assert json.loads(request(srv, href[len(srv.url):])[2])["rows"][0]["bytes"] == int(want[0]["bytes"])
    d.save_screenshot(str(SCREENS / "query.png"))
    severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    # a bad filter shows the server's message, as text
    d.get(srv.url + "/query?" + urllib.parse.urlencode({"filter": "tcp and <img src=x>"}))
    assert wait_loaded(d) == "error"
    err = d.find_element(By.ID, "error").text
    assert "bad filter" in err and "found '<'" in err
    assert not d.find_elements(By.CSS_SELECTOR, "#error img")


def test_login_in_browser(archive, tmp_path, browser):
    from selenium.webdriver.common.by import By
    s, _, token = tls_server(archive, tmp_path)
    d = browser
    try:
        d.get(s.url + "/query")
        assert d.current_url == s.url + "/login"
        d.find_element(By.ID, "token").send_keys("wrong-token-0123456789")
        d.find_element(By.CSS_SELECTOR, "form button").click()
        end = time.time() + 10
        while "failed" not in d.current_url and time.time() < end:
            time.sleep(0.1)
        assert d.find_element(By.ID, "failed").is_displayed()
        d.find_element(By.ID, "token").send_keys(token)
        d.find_element(By.CSS_SELECTOR, "form button").click()
        end = time.time() + 10
        while d.current_url != s.url + "/" and time.time() < end:
            time.sleep(0.1)
        assert wait_loaded(d) == "1"
        assert d.find_element(By.ID, "records").text == str(len(records(archive)))
        d.save_screenshot(str(SCREENS / "dashboard-tls.png"))
        d.delete_all_cookies()
    finally:
        s.stop()


def test_live_page_follows_archive(srv, archive, browser):
    from selenium.webdriver.common.by import By
    d = browser
    d.get(srv.url + "/live")
    assert wait_loaded(d) == "1"
    newest = max((f for f in archive.rglob("*.floe")), key=lambda f: f.stat().st_mtime)
    files = table(d, "files")
    assert files[0]["file"] == newest.name
    n = len(records(archive, "-t", "2021-01-01/"))  # the flood capture's records
    assert files[0]["records"] == str(n)
    assert table(d, "records")
    # a file closed now appears within a few seconds
    run("capture", "-r", SHARED / "pcaps" / LATE, "--archive", archive, "--instance", "late")
    late = next(archive.rglob("late*.floe"))
    end = time.time() + 15
    while time.time() < end and table(d, "files")[0]["file"] != late.name:
        time.sleep(0.3)
    first = table(d, "files")[0]
    assert first["file"] == late.name
    p = run("read", "-r", late, "-o", "csv", "-s", "bytes")
    assert first["bytes"] == str(sum(int(x) for x in p.stdout.decode().split()[1:]))
    d.save_screenshot(str(SCREENS / "live.png"))


# ---- the live page fed by a record stream (-S) ----

def listening(port):
    """True if a socket listens on port (from /proc: no connection made)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(name).read().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and int(f[1].split(":")[1], 16) == port:
                return True
    return False


def stream_source(path, port):
    """floe read serving a file's records on port to one subscriber."""
    p = subprocess.Popen([FLOE, "read", "-r", str(path), "--listen", f"127.0.0.1:{port}", "--subscribers", "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.time() + 10
    while not listening(port):
        assert p.poll() is None and time.time() < end, "the stream source did not start: " + p.stderr.read()
        time.sleep(0.05)
    return p


def sse(srv, path, until, timeout=60):
    """The events of an event stream, (name, data), up to the event until."""
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    events, name, data = [], "message", []
    while True:
        line = r.fp.readline().decode()
        assert line, "the event stream ended early"
        line = line.rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "":
            if data:
                events.append((name, "\n".join(data)))
                if name == until:
                    break
            name, data = "message", []
    c.close()
    return events


def test_live_stream(archive, browser):
    from selenium.webdriver.common.by import By
    flood = next(archive.rglob("link4.*.floe"))
    n = len(run("read", "-r", flood, "-o", "csv", "-s", "stime").stdout.decode().splitlines()) - 1
    port = free_port()
    src = stream_source(flood, port)
    s = Server("--archive", archive, "--listen", "127.0.0.1:0", "-S", f"127.0.0.1:{port}")
    try:
        ev = sse(s, "/api/live", "end")
        assert ev[0] == ("mode", json.dumps({"mode": "stream", "sources": [f"127.0.0.1:{port}"]},
                                            separators=(",", ":")))
        rates = [json.loads(d) for e, d in ev if e == "rate"]
        assert sum(r["records"] for r in rates) == n
        assert rates[-1]["total"] == n and rates[-1]["lost"] == 0
        p = run("read", "-r", flood, "-o", "csv", "-s", "bytes")
        assert sum(r["bytes"] for r in rates) == sum(int(x) for x in p.stdout.decode().split()[1:])
        last = [json.loads(x) for e, d in ev if e == "records" for x in d.split("\n")]
        assert last and all(r["proto"] for r in last)
        assert src.wait(30) == 0
        # the page, fed by a second run of the source
        src = stream_source(flood, port)
        browser.get(s.url + "/live")
        end = time.time() + 60
        while time.time() < end and not browser.find_element(By.TAG_NAME, "body").get_attribute("data-ended"):
            time.sleep(0.2)
        assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-mode") == "stream"
        assert browser.find_element(By.ID, "state").text == "the stream ended."
        rows = table(browser, "rates")
        assert sum(int(r["records"]) for r in rows) == n and rows[0]["records so far"] == str(n)
        assert table(browser, "records")
        browser.save_screenshot(str(SCREENS / "live-stream.png"))
        assert src.wait(30) == 0
    finally:
        if src.poll() is None:
            src.kill()
            src.wait()
        s.stop()


# ---- detector findings on the host page ----

DETECT = pathlib.Path(__file__).resolve().parents[1] / "data" / "detect"


def test_host_findings_equal_detect(tmp_path, browser):
    """The scenario capture of tests/data/detect (a scanner, a spammer, a
    beacon, a remote scanner): each host's findings are what `floe detect`
    finds about it with the same (default) thresholds."""
    from selenium.webdriver.common.by import By
    arch = tmp_path / "archive"
    run("capture", "-r", DETECT / "scenario.pcap", "--archive", arch, "--instance", "sc")
    want = collections.defaultdict(list)
    for det in ("scan", "smtp", "beacon"):
        for line in run("detect", det, "-R", arch, "-o", "json").stdout.decode().splitlines():
            f = json.loads(line)
            want[f["host"]].append(f)
            other = f.get("target") or f.get("remote")
            if other:
                want[other].append(f)
    assert {"10.1.0.10", "10.1.0.11", "10.1.0.12", "10.2.0.66", "10.1.0.14"} <= set(want)
    s = Server("--archive", arch, "--listen", "127.0.0.1:0")
    try:
        for host in json.loads((DETECT / "scenario.json").read_text())["hosts"]:
            got = api(s, "/api/host/" + host)["findings"]
            assert [(f["finding"], f["host"], f["flows"]) for f in got] == \
                [(f["finding"], f["host"], f.get("flows", f.get("connections"))) for f in want.get(host, [])], host
            for g, w in zip(got, want.get(host, [])):
                assert g["peer"] == (w.get("target") or w.get("remote") or "")
                assert g["targets"] == w.get("addresses", w.get("ports", w.get("servers", 0)))
        d = browser
        d.get(s.url + "/host?addr=10.1.0.10")
        assert wait_loaded(d) == "1"
        rows = table(d, "findings")
        assert [(r["finding"], r["port"], r["targets"]) for r in rows] == [("hscan", "22", "200")]
        assert not d.find_element(By.ID, "no-findings").is_displayed()
        d.save_screenshot(str(SCREENS / "host-findings.png"))
        d.get(s.url + "/host?addr=10.1.0.15")
        assert wait_loaded(d) == "1"
        assert table(d, "findings") == [] and d.find_element(By.ID, "no-findings").is_displayed()
    finally:
        s.stop()
