"""Fidelity: floe's flows against Argus 3.0.8's on every real capture.

For each capture in ../shared/data/pcaps, floe's records are merged per flow
(as racluster merged Argus's into *.flows.psv) and compared with Argus's:
same flow key in the same orientation (initiator first), same packets and
bytes per direction, same final state.  The agreement rate is printed; the
test fails below AGREEMENT or when a difference appears that is not
explained below.

Run as a script for the per-capture report:
    FLOE=build/src/cli/floe python3 tests/e2e/test_fidelity.py [-v]
"""
import collections
import csv
import io
import sys

import pytest

from conftest import PCAPS, REFERENCE, run

AGREEMENT = 0.98

# Protocols floe does not meter: non-IP frames other than ARP are counted as
# "not metered" (floe capture --stats), where Argus makes MAC-keyed records.
NOT_METERED = {"llc", "loop", "eapol", "pppoe", "man", "lldp", "stp"}

ICMP = {"icmp", "ipv6-icmp"}

FIELDS = ["stime", "ltime", "proto", "saddr", "sport", "daddr", "dport",
          "spkts", "dpkts", "sbytes", "dbytes", "state", "flgs"]


def key_of(proto, saddr, sport, daddr, dport):
    # Argus keys ICMP on type and echo id (printed in hex in sport/dport);
    # floe prints type and code.  Compare ICMP per address pair.
    if proto in ICMP:
        return (proto, saddr, daddr)
    if proto == "arp":
        return (proto, saddr, daddr)
    return (proto, saddr, sport, daddr, dport)


class Flow:
    __slots__ = ("spkts", "dpkts", "sbytes", "dbytes", "state", "ltime", "n")

    def __init__(self):
        self.spkts = self.dpkts = self.sbytes = self.dbytes = self.n = 0
        self.state = ""
        self.ltime = -1.0

    def add(self, spkts, dpkts, sbytes, dbytes, state, ltime):
        self.spkts += spkts
        self.dpkts += dpkts
        self.sbytes += sbytes
        self.dbytes += dbytes
        self.n += 1
        if ltime >= self.ltime:
            self.ltime = ltime
            self.state = state

    def counts(self):
        return (self.spkts, self.dpkts, self.sbytes, self.dbytes)


def argus_flows(pcap):
    ref = REFERENCE / (pcap.stem + ".flows.psv")
    flows = collections.defaultdict(Flow)
    with open(ref) as f:
        for r in csv.DictReader(f, delimiter="|"):
            proto = r["Proto"]
            if proto in NOT_METERED:
                continue
            k = key_of(proto, r["SrcAddr"], r["Sport"], r["DstAddr"], r["Dport"])
            flows[k].add(int(r["SrcPkts"]), int(r["DstPkts"]), int(r["SrcBytes"]),
                         int(r["DstBytes"]), r["State"], float(r["LastTime"]))
    return flows


def floe_flows(pcap):
    out = run("capture", "-r", pcap, "-o", "csv", "-u", "-p", "6", "-s", ",".join(FIELDS)).stdout
    flows = collections.defaultdict(Flow)
    for r in csv.DictReader(io.StringIO(out.decode())):
        k = key_of(r["proto"], r["saddr"], r["sport"], r["daddr"], r["dport"])
        flows[k].add(int(r["spkts"]), int(r["dpkts"]), int(r["sbytes"]), int(r["dbytes"]),
                     r["state"], float(r["ltime"]))
    return flows


def reverse(k):
    if len(k) == 3:
        return (k[0], k[2], k[1])
    return (k[0], k[3], k[4], k[1], k[2])


def compare(pcap):
    """Returns (agree, total, differences) for one capture."""
    ref, got = argus_flows(pcap), floe_flows(pcap)
    agree, diffs = 0, []
    for k, a in ref.items():
        f = got.get(k)
        if f is None:
            r = got.get(reverse(k))
            diffs.append((k, "reversed" if r else "missing", a, r))
            continue
        if f.counts() != a.counts():
            diffs.append((k, "counts", a, f))
        elif f.state != a.state:
            diffs.append((k, "state", a, f))
        else:
            agree += 1
    return agree, len(ref), diffs


def describe(k, kind, a, f):
    fa = f"{a.counts()} {a.state}"
    ff = f"{f.counts()} {f.state}" if f else "-"
    return f"{kind:8} {' '.join(map(str, k))}: argus {fa} floe {ff}"


def report(verbose=False):
    total_agree = total = 0
    kinds = collections.Counter()
    for pcap in PCAPS:
        if not (REFERENCE / (pcap.stem + ".flows.psv")).exists():
            continue
        a, n, diffs = compare(pcap)
        total_agree += a
        total += n
        for d in diffs:
            kinds[d[1]] += 1
        print(f"{a:6}/{n:<6} {pcap.name}")
        if verbose:
            for d in diffs[:20]:
                print("    " + describe(*d))
    rate = total_agree / total if total else 0
    print(f"agreement with Argus: {total_agree}/{total} flows = {rate:.2%}; differences: {dict(kinds)}")
    return rate


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/data/reference not present")
def test_agreement_with_argus(floe_bin, capsys):
    with capsys.disabled():
        rate = report()
    assert rate >= AGREEMENT


if __name__ == "__main__":
    report("-v" in sys.argv)
