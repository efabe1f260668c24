#!/usr/bin/env python3
"""build.py - the detect scenario: real traffic between network namespaces,
captured to a pcap, for `floe detect` (docs/detect.md "Scenario").

Three namespaces joined by veth pairs, all addresses private and inside the
namespaces:

    campus 10.1.0.0/24 --c0==rc-- router --ri==i0-- internet 10.2.0.0/16

Every address of 10.2.0.0/16 is a host of the internet namespace (an AnyIP
route, `ip route add local 10.2.0.0/16 dev lo`), so a scan or the mail
sinks reach real TCP stacks.  tcpdump captures on the router's campus side.

Phase 1 ("history", 20 s from a 5 s boundary): ordinary connections from
every local host, downloads by 10.1.0.14 and 10.1.0.15, one request of the
heavy host.
Phase 2 ("period", from the end of the history, about 10 s):
  10.1.0.10  nmap -sS to port 22 of 10.2.1.1-200       (outbound hscan)
  10.2.0.66  nmap -sS to ports 1-300 of 10.1.0.14      (inbound vscan)
  10.1.0.11  swaks to 60 mail sinks 10.2.2.1-60        (smtp)
  10.1.0.13  iperf3, 20 MB to 10.2.0.80                (baseline volume, top)
Both phases: 10.1.0.12 connects with socat to 10.2.0.99:8443 every 1.5 s
(+-0.05 s), 20 times (beacon; 10.2.0.99 is on the watchlist).

    build.py OUTDIR      writes OUTDIR/scenario.pcap, OUTDIR/scenario.json
                         (roles, expected findings, the period) and
                         OUTDIR/watchlist.txt; exit 0 on success.

Namespaces are named per process (flt<pid>c, ...; $FLOE_SCENARIO_TAG
instead of flt<pid> if set) and removed on every exit path (SIGTERM and
SIGINT included); processes started inside them are stopped by their pid.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CAMPUS_HOSTS = {
    "10.1.0.10": "scanner",
    "10.1.0.11": "spammer",
    "10.1.0.12": "beacon",
    "10.1.0.13": "heavy",
    "10.1.0.14": "ordinary",
    "10.1.0.15": "ordinary",
}
REMOTE_SCANNER = "10.2.0.66"
WEB = "10.2.0.80"
C2 = "10.2.0.99"
HSCAN_TARGETS = 200          # 10.2.1.1 - 10.2.1.200, port 22
VSCAN_PORTS = 300            # 10.1.0.14, ports 1 - 300
SMTP_SERVERS = 60            # 10.2.2.1 - 10.2.2.60
BEACON_CONNS = 20
BEACON_INTERVAL = 1.5
WINDOW = 5                   # baseline "day" of the scenario, seconds
HISTORY = 20                 # baseline history, seconds


class Scenario:
    def __init__(self, outdir):
        self.outdir = outdir
        tag = os.environ.get("FLOE_SCENARIO_TAG") or "flt%d" % (os.getpid() % 100000)
        self.ns = {"c": tag + "c", "r": tag + "r", "i": tag + "i"}
        self.procs = []
        self.created = []

    # ---- plumbing ----
    def run(self, ns, *cmd, check=True, timeout=60, **kw):
        full = ["ip", "netns", "exec", self.ns[ns]] + list(cmd) if ns else list(cmd)
        r = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(full), r.returncode,
                                                      r.stderr.decode(errors="replace")))
        return r

    def spawn(self, ns, *cmd, **kw):
        full = ["ip", "netns", "exec", self.ns[ns]] + list(cmd)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(full, **kw)
        self.procs.append(p)
        return p

    def sysctl(self, ns, name, value):
        """Sets /proc/sys/NAME inside the namespace (no procps needed)."""
        self.run(ns, "sh", "-c", "echo %s > /proc/sys/%s" % (value, name))

    def wait_listen(self, ns, port, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            r = self.run(ns, "ss", "-Hltn", "sport = :%d" % port, check=False)
            if r.stdout.strip():
                return
            time.sleep(0.05)
        raise RuntimeError("nothing listens on port %d in %s" % (port, self.ns[ns]))

    def setup(self):
        for k in ("c", "r", "i"):
            self.run(None, "ip", "netns", "add", self.ns[k])
            self.created.append(self.ns[k])
            self.run(k, "ip", "link", "set", "lo", "up")
        c, r, i = self.ns["c"], self.ns["r"], self.ns["i"]
        self.run(None, "ip", "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "rc",
                 "netns", r)
        self.run(None, "ip", "link", "add", "i0", "netns", i, "type", "veth", "peer", "name", "ri",
                 "netns", r)
        self.run("r", "ip", "addr", "add", "10.9.1.1/30", "dev", "rc")
        self.run("r", "ip", "addr", "add", "10.9.2.1/30", "dev", "ri")
        for dev in ("rc", "ri"):
            self.run("r", "ip", "link", "set", dev, "up")
        self.sysctl("r", "net/ipv4/ip_forward", "1")
        self.run("r", "ip", "route", "add", "10.1.0.0/24", "via", "10.9.1.2")
        self.run("r", "ip", "route", "add", "10.2.0.0/16", "via", "10.9.2.2")
        # campus: the hosts' addresses on c0, the rest of the /24 AnyIP
        self.run("c", "ip", "addr", "add", "10.9.1.2/30", "dev", "c0")
        for a in CAMPUS_HOSTS:
            self.run("c", "ip", "addr", "add", a + "/32", "dev", "c0")
        self.run("c", "ip", "link", "set", "c0", "up")
        self.run("c", "ip", "route", "add", "local", "10.1.0.0/24", "dev", "lo")
        self.run("c", "ip", "route", "add", "default", "via", "10.9.1.1", "src", "10.1.0.14")
        # internet: every 10.2.0.0/16 address answers
        self.run("i", "ip", "addr", "add", "10.9.2.2/30", "dev", "i0")
        self.run("i", "ip", "addr", "add", REMOTE_SCANNER + "/32", "dev", "i0")
        self.run("i", "ip", "link", "set", "i0", "up")
        self.run("i", "ip", "route", "add", "local", "10.2.0.0/16", "dev", "lo")
        self.run("i", "ip", "route", "add", "default", "via", "10.9.2.1", "src", "10.2.0.1")
        for k in ("c", "i"):
            self.sysctl(k, "net/ipv4/tcp_syn_retries", "1")

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for ns in self.created:
            r = subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)

    # ---- traffic ----
    def curl(self, src, url, max_time=10):
        self.run("c" if src.startswith("10.1.") else "i", "curl", "-s", "-o", "/dev/null",
                 "--max-time", str(max_time), "--interface", src, url, check=False)

    def servers(self):
        www = os.path.join(self.outdir, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "small.txt"), "w") as f:
            f.write("hello\n")
        with open(os.path.join(www, "page.bin"), "wb") as f:
            f.write(os.urandom(200 * 1024))
        self.spawn("i", sys.executable, "-m", "http.server", "--bind", "0.0.0.0",
                   "--directory", www, "8080")
        self.spawn("c", sys.executable, "-m", "http.server", "--bind", "10.1.0.15",
                   "--directory", www, "8080")
        self.spawn("i", sys.executable, os.path.join(HERE, "smtp_sink.py"), "0.0.0.0", "25")
        self.spawn("i", "iperf3", "-s", "-B", WEB, "-p", "5201")
        self.spawn("i", "socat", "TCP-LISTEN:8443,bind=%s,fork,reuseaddr" % C2,
                   "SYSTEM:'echo ok'")
        self.spawn("c", "socat", "TCP-LISTEN:22,bind=10.1.0.14,fork,reuseaddr",
                   "SYSTEM:'echo SSH-2.0-scenario'")
        for ns, port in (("i", 8080), ("c", 8080), ("i", 25), ("i", 5201), ("i", 8443),
                         ("c", 22)):
            self.wait_listen(ns, port)

    def beacon(self):
        """The check-ins, run as a background process of its own."""
        script = ("import random,subprocess,time\n"
                  "for k in range(%d):\n"
                  "    t=time.time()\n"
                  "    subprocess.run(['socat','-T','2','-','TCP:%s:8443,bind=10.1.0.12'],"
                  "input=b'ping\\n',stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,"
                  "timeout=5)\n"
                  "    time.sleep(max(0,%f+random.uniform(-0.05,0.05)-(time.time()-t)))\n"
                  % (BEACON_CONNS, C2, BEACON_INTERVAL))
        return self.spawn("c", sys.executable, "-c", script)

    def phase1(self):
        # the history starts at a window boundary, so all of phase 1 is in it
        start = (int(time.time()) // WINDOW + 1) * WINDOW
        while time.time() < start + 0.2:
            time.sleep(0.05)
        rnd = random.Random(7)
        jobs = [("10.1.0.14", "http://%s:8080/page.bin" % WEB)] * 3 + \
               [("10.1.0.15", "http://%s:8080/page.bin" % WEB)] * 3 + \
               [("10.1.0.13", "http://%s:8080/small.txt" % WEB),
                ("10.1.0.10", "http://%s:8080/small.txt" % WEB),
                ("10.1.0.11", "http://%s:8080/small.txt" % WEB),
                ("10.2.0.5", "http://10.1.0.15:8080/small.txt"),
                ("10.2.0.5", "http://10.1.0.15:8080/small.txt")]
        rnd.shuffle(jobs)
        for src, url in jobs:
            self.curl(src, url)
            time.sleep(rnd.uniform(0.3, 1.2))
        self.run("i", "socat", "-T", "2", "-", "TCP:10.1.0.14:22,bind=10.2.0.6", input=b"x\n",
                 check=False)
        # the period starts HISTORY after the history
        period = start + HISTORY
        if time.time() > period - 1:
            raise RuntimeError("phase 1 overran the history (%.1f s)" % (time.time() - start))
        while time.time() < period + 0.2:
            time.sleep(0.1)
        return period

    def phase2(self):
        self.run("c", "nmap", "-sS", "-Pn", "-n", "-T5", "--max-retries", "0", "-e", "c0",
                 "-S", "10.1.0.10", "-p", "22", "10.2.1.1-%d" % HSCAN_TARGETS, timeout=120)
        self.run("i", "nmap", "-sS", "-Pn", "-n", "-T5", "--max-retries", "0", "-e", "i0",
                 "-S", REMOTE_SCANNER, "-p", "1-%d" % VSCAN_PORTS, "10.1.0.14", timeout=120)
        procs = []
        for k in range(1, SMTP_SERVERS + 1):
            procs.append(self.spawn("c", "swaks", "--server", "10.2.2.%d" % k, "--port", "25",
                                    "--to", "user%d@example.net" % k, "--from",
                                    "promo@example.org", "--local-interface", "10.1.0.11",
                                    "--timeout", "10", "--silent", "2"))
            if len(procs) >= 12:
                for p in procs:
                    p.wait(timeout=60)
                procs = []
        for p in procs:
            p.wait(timeout=60)
        self.run("c", "iperf3", "-c", WEB, "-B", "10.1.0.13", "-p", "5201", "-n", "20M",
                 "-b", "400M",
                 timeout=60)
        self.curl("10.1.0.14", "http://%s:8080/small.txt" % WEB)
        self.curl("10.1.0.15", "http://%s:8080/small.txt" % WEB)

    def build(self):
        os.makedirs(self.outdir, exist_ok=True)
        pcap = os.path.join(self.outdir, "scenario.pcap")
        self.setup()
        self.servers()
        dump = self.spawn("r", "tcpdump", "-Z", "root", "-i", "rc", "-n", "-U", "--immediate-mode", "-B", "16384",
                          "-s", "128", "-w", pcap,
                          stderr=subprocess.PIPE)
        line = dump.stderr.readline()   # "listening on rc ..."
        if b"listening" not in line:
            raise RuntimeError("tcpdump did not start: %r" % line)
        time.sleep(0.3)
        t0 = time.time()
        beacon = self.beacon()
        period = self.phase1()
        self.phase2()
        beacon.wait(timeout=60)
        time.sleep(1.5)
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
        t1 = time.time()
        meta = {
            "local": "10.1.0.0/24",
            "hosts": CAMPUS_HOSTS,
            "remote_scanner": REMOTE_SCANNER,
            "c2": C2,
            "hscan_targets": HSCAN_TARGETS,
            "vscan_ports": VSCAN_PORTS,
            "smtp_servers": SMTP_SERVERS,
            "beacon_conns": BEACON_CONNS,
            "beacon_interval": BEACON_INTERVAL,
            "window": WINDOW,
            "history": HISTORY,
            "period_start": period,
            "period_end": (int(t1) // WINDOW + 1) * WINDOW,
            "start": t0,
            "seconds": round(t1 - t0, 1),
        }
        with open(os.path.join(self.outdir, "scenario.json"), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        shutil.rmtree(os.path.join(self.outdir, "www"), ignore_errors=True)
        return meta


def write_watchlist(path, extra=2000):
    """The C2 host, the first 16 mail sinks' network, and filler entries in
    172.16.0.0/12 that nothing in the scenario touches."""
    rnd = random.Random(3)
    with open(path, "w") as f:
        f.write("# detect scenario watchlist\n%s\n10.2.2.0/28  # mail sinks\n" % C2)
        for _ in range(extra):
            f.write("172.%d.%d.%d/%d\n" % (rnd.randint(16, 31), rnd.randint(0, 255),
                                           rnd.randint(0, 255), rnd.choice((32, 32, 24))))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    s = Scenario(outdir)

    def stop(signum, frame):
        raise SystemExit("stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        meta = s.build()
    finally:
        s.cleanup()
    write_watchlist(os.path.join(outdir, "watchlist.txt"))
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
