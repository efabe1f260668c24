"""Filters: floe's language against Argus's `ra` on real captures.

For a handful of captures in ../shared/data/pcaps, Argus (`argus -r X.pcap
-w tmp.argus`) and floe (`floe capture -r X.pcap -w -`) each make flow
records; then each filter of the two languages' common subset selects flow
keys (proto, saddr, sport, daddr, dport) with `ra -r tmp.argus - FILTER`
and with `floe read -r - FILTER`.  The tools' flows differ slightly
(tests/e2e/test_fidelity.py lists how), so only keys present in both tools'
unfiltered output are compared: on those, both filters must select the
same keys.  ICMP is compared per address pair, as ra prints its ports
differently (Argus: type and echo id; floe: type and code).

Filters are written once per language where the text differs: floe's
`host in [A B]` against ra's `host A or host B` checks lists too.

Differences by design (not in the common subset, or checked as a relation):
  - `ip`: Argus's `ip` is any IP record, IPv4 or IPv6; floe's `ip` is IPv4
    only, as in tcpdump.  Checked: floe `ip` = ra `ip and not ipv6`.
  - `ip6` and `portrange` are not Argus words (ra refuses them); floe's
    `ipv6` is compared instead of `ip6`.
  - floe's `local`/`remote`, lists and `dirunk` have no ra equivalent
    (lists are compared against an `or` of hosts).

Run as a script for the per-capture report:
    FLOE=build/src/cli/floe python3 tests/e2e/test_filter_ra.py
"""
import collections
import csv
import io
import ipaddress
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import SHARED, run

CAPTURES = [
    "chrissanders_packets__http_espn",
    "chrissanders_packets__ratinfected",
    "chrissanders_packets__icmp_traceroute",
    "chrissanders_packets__dns_isp_hijack",
    "arkime_arkime__tests_pcap_v6",
    "arkime_arkime__tests_pcap_v6-http",
    "arkime_arkime__tests_pcap_dns-tcp",
    "OISF_suricata-verify__tests_bug-4663-03_icmp_and_ssh",
    "OISF_suricata-verify__tests_community-id-ipv6_input",
    "the-tcpdump-group_tcpdump__tests_icmpv6",
    "zeek_zeek__testing_btest_Traces_ftp_ipv6",
    "markofu_pcaps__PracticalPacketAnalysis_ppa-capture-files_dns",
    "markofu_pcaps__PracticalPacketAnalysis_ppa-capture-files_gnutella",
    "chrissanders_packets__tcp_ports",
]

PORTED = {"tcp", "udp"}

# (ra filter, floe filter); A and B are the capture's two busiest
# addresses, N the network of A (/24 for IPv4, /64 for IPv6).  None: the
# same text in both languages.
FILTERS = [
    ("host {A}", None),
    ("src host {A}", None),
    ("dst host {A}", None),
    ("net {N}", None),
    ("src net {N}", None),
    ("dst net {N} and not udp", None),
    ("port 53", None),
    ("src port 53", None),
    ("dst port 80", None),
    ("tcp and dst port 443", None),
    ("tcp", None),
    ("udp", None),
    ("icmp", None),
    ("not tcp", None),
    ("tcp or udp", None),
    ("not (tcp or udp)", None),
    ("proto 17", None),
    ("udp and port 53", None),
    ("host {A} and not port 80", None),
    ("host {A} or host {B}", None),
    ("src host {A} and dst port 53", None),
    ("port 22 or port 21", None),
    ("dst port 53 and not src host {A}", None),
    ("src and dst net {N}", None),
    ("ipv6", None),
    ("ipv6 and tcp", None),
    ("arp", None),
    # lists against an `or` of hosts / networks
    ("host {A} or host {B}", "host in [{A} {B}]"),
    ("src host {A} or src host {B}", "src host in [{A}, {B}]"),
    ("dst net {N} or dst host {B}", "dst net in [{N} {B}]"),
    # by design: Argus's `ip` includes IPv6
    ("ip and not ipv6", "ip"),
]


def have_argus():
    return shutil.which("argus") is not None and shutil.which("ra") is not None


def key_of(proto, saddr, sport, daddr, dport):
    if proto not in PORTED:
        return (proto, saddr, daddr)
    return (proto, saddr, sport, daddr, dport)


def ra_keys(argus_file, flt=None):
    cmd = ["ra", "-r", str(argus_file), "-n", "-c", ",", "-s", "proto", "saddr", "sport",
           "daddr", "dport"]
    if flt:
        cmd += ["-", flt]
    p = subprocess.run(cmd, capture_output=True, text=True)
    # ra exits 1, silently, when no record matched
    if p.stderr.strip() or p.returncode not in (0, 1):
        raise AssertionError(f"ra failed on '{flt}' (exit {p.returncode}): {p.stderr.strip()}")
    keys = set()
    for r in csv.DictReader(io.StringIO(p.stdout)):
        if r["Proto"] == "man":
            continue
        keys.add(key_of(r["Proto"], r["SrcAddr"], r["Sport"], r["DstAddr"], r["Dport"]))
    return keys


def floe_keys(records, flt=None):
    args = ["read", "-r", "-", "-o", "csv", "-s", "proto,saddr,sport,daddr,dport"]
    if flt:
        args += ["-", flt]
    out = run(*args, stdin=records).stdout.decode()
    return {key_of(r["proto"], r["saddr"], r["sport"], r["daddr"], r["dport"])
            for r in csv.DictReader(io.StringIO(out))}


def pick_addresses(common):
    """The two busiest addresses of the common keys and A's network."""
    n = collections.Counter()
    for k in common:
        n[k[1]] += 1
        n[k[-2] if len(k) == 5 else k[2]] += 1
    # ra cannot parse `::`; the unspecified addresses are no one's anyway
    for unspecified in ("::", "0.0.0.0"):
        n.pop(unspecified, None)
    top = [a for a, _ in n.most_common(2)]
    a = top[0]
    b = top[1] if len(top) > 1 else a
    ip = ipaddress.ip_address(a)
    net = ipaddress.ip_network(f"{a}/{24 if ip.version == 4 else 64}", strict=False)
    return {"A": a, "B": b, "N": str(net)}


def compare(capture):
    """Returns (results, common): results is a list of (ra filter, floe
    filter, ra keys, floe keys) restricted to the common keys."""
    pcap = SHARED / "pcaps" / (capture + ".pcap")
    with tempfile.TemporaryDirectory() as tmp:
        argus_file = f"{tmp}/x.argus"
        p = subprocess.run(["argus", "-r", str(pcap), "-w", argus_file], capture_output=True,
                           text=True)
        assert p.returncode == 0, f"argus failed on {pcap.name}: {p.stderr}"
        records = run("capture", "-r", pcap, "-w", "-").stdout
        common = ra_keys(argus_file) & floe_keys(records)
        assert common, f"{capture}: no flow in common"
        vals = pick_addresses(common)
        results = []
        for ra_f, floe_f in FILTERS:
            ra_text = ra_f.format(**vals)
            floe_text = (floe_f or ra_f).format(**vals)
            results.append((ra_text, floe_text, ra_keys(argus_file, ra_text) & common,
                            floe_keys(records, floe_text) & common))
        return results, common


@pytest.mark.parametrize("capture", CAPTURES)
def test_filter_against_ra(capture):
    if not have_argus():
        pytest.skip("argus and ra (argus-server, argus-client) are not installed")
    if not (SHARED / "pcaps" / (capture + ".pcap")).exists():
        pytest.skip(f"{capture}.pcap is not in {SHARED}/pcaps")
    results, common = compare(capture)
    bad = []
    for ra_text, floe_text, r, f in results:
        if r != f:
            bad.append(f"ra '{ra_text}' vs floe '{floe_text}': only ra {sorted(r - f)[:3]}, "
                       f"only floe {sorted(f - r)[:3]}")
    assert not bad, f"{capture} ({len(common)} common flows):\n  " + "\n  ".join(bad)


def test_filters_select_something():
    """The comparison is not vacuous: over all captures, most filters select
    some flows in both tools."""
    if not have_argus():
        pytest.skip("argus and ra (argus-server, argus-client) are not installed")
    hits = collections.Counter()
    for capture in CAPTURES[:6]:
        if not (SHARED / "pcaps" / (capture + ".pcap")).exists():
            continue
        results, _ = compare(capture)
        for i, (_, _, r, f) in enumerate(results):
            hits[i] += bool(r and f)
    assert sum(1 for i in range(len(FILTERS)) if hits[i]) >= len(FILTERS) * 2 // 3, hits


def test_local_remote_through_cli():
    """floe read --local hands the local networks to the filter; `local` and
    `remote` agree with the same test written as networks, and without
    --local the filter is refused naming the option."""
    pcap = SHARED / "pcaps" / "chrissanders_packets__http_espn.pcap"
    if not pcap.exists():
        pytest.skip(f"{pcap.name} is not in {SHARED}/pcaps")
    records = run("capture", "-r", pcap, "-w", "-").stdout
    every = floe_keys(records)
    lan = "172.16.0.0/24"
    for flt, same in [("src local", f"src net {lan}"),
                      ("dst remote", f"not dst net {lan}"),
                      ("local and remote", f"net {lan} and not src and dst net {lan}"),
                      ("not remote", f"src and dst net {lan}")]:
        out = run("read", "--local", lan, "-r", "-", "-o", "csv",
                  "-s", "proto,saddr,sport,daddr,dport", "-", flt, stdin=records).stdout.decode()
        got = {key_of(r["proto"], r["saddr"], r["sport"], r["daddr"], r["dport"])
               for r in csv.DictReader(io.StringIO(out))}
        assert got == floe_keys(records, same), flt
        assert got <= every
    p = run("read", "-r", "-", "-", "src local", stdin=records, check=False)
    assert p.returncode != 0 and "local networks are not set: use --local" in p.stderr


if __name__ == "__main__":
    if not have_argus():
        sys.exit("argus/ra not installed")
    for capture in CAPTURES:
        results, common = compare(capture)
        agree = sum(r == f for _, _, r, f in results)
        print(f"{capture}: {len(common)} common flows, {agree}/{len(results)} filters agree")
        for ra_text, floe_text, r, f in results:
            mark = "ok " if r == f else "DIFF"
            print(f"  {mark} {len(r):4d} {len(f):4d}  ra '{ra_text}'  floe '{floe_text}'")
