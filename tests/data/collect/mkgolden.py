#!/usr/bin/python3
"""Writes the golden files of the collector's decode tests from tshark.

For each group of captures in ../shared/data/netflow (template files before
data files, as floe collect -r reads them), the captures are concatenated
(mergecap -a) and decoded by tshark -T json with every UDP port decoded as
cflow (NetFlow/IPFIX).  Every data flow tshark shows becomes one row of
golden/GROUP.csv with floe's column names; options data records (sets whose
template tshark saw in an options template set) are not flows and are
left out, except that their sampling rates are learned the way
docs/collect.md says floe applies them.  Conventions applied here, not by
tshark (docs/collect.md): ICMP type and code in sport and dport; counters
multiplied by the sampling rate; sysUpTime times made absolute; TCP flags
as floe prints them (FSRPAUEC).

The golden files are then checked by tests/e2e/test_collect.py against
floe collect -r on the same captures, column by column.
usage: tests/data/collect/mkgolden.py SHARED_DATA_DIR
"""
import csv
import datetime
import json
import pathlib
import subprocess
import sys
import tempfile

AK = "akvorado_akvorado__outlet_flow_decoder_netflow_testdata_"
GROUPS = {
    "nfv5": [AK + "nfv5.pcap"],
    "v9-template-data": [AK + "template.pcap", AK + "data.pcap"],
    "v9-data+templates": [AK + "data+templates.pcap"],
    "v9-options-sampling": [AK + "options-template.pcap", AK + "options-data.pcap",
                            AK + "template.pcap", AK + "data.pcap"],
    "v9-multiple-sampling-rates": [AK + "multiplesamplingrates-options-template.pcap",
                                   AK + "multiplesamplingrates-options-data.pcap",
                                   AK + "multiplesamplingrates-template.pcap",
                                   AK + "multiplesamplingrates-data.pcap"],
    "v9-samplingrate": [AK + "samplingrate-template.pcap", AK + "samplingrate-data.pcap"],
    "v9-icmp": [AK + "icmp-template.pcap", AK + "icmp-data.pcap"],
    "v9-physical-interfaces": [AK + "physicalinterfaces.pcap"],
    "ipfix-datalink": [AK + "datalink-template.pcap", AK + "datalink-data.pcap"],
    "ipfix-eompls": [AK + "ethernet-over-mpls-with-control-word-template.pcap",
                     AK + "ethernet-over-mpls-with-control-word-data.pcap"],
    "ipfix-srv6": [AK + "ipfix-srv6-template.pcap", AK + "ipfix-srv6-data.pcap"],
    "ipfix-ipfixprobe": [AK + "ipfixprobe-templates.pcap", AK + "ipfixprobe-data.pcap"],
    "ipfix-juniper-cpid": [AK + "juniper-cpid-template.pcap", AK + "juniper-cpid-data.pcap"],
    "ipfix-cesnet-file": ["CESNET_ipfixcol2__doc_data_ipfix_example_flows.ipfix"],
    "v9-ndpi-no-templates": ["ntop_nDPI__tests_cfgs_default_pcap_netflowv9.pcap"],
}
for f in ["100-IPFIXv10-CISCO", "101-NFv9-CISCO-cust_primitives", "102-NFv9-CISCO-f2rd-pretag-sampling-reload",
          "103-IPFIXv10-CISCO-pretag-JSON_encoding", "104-IPFIXv10-IPv6-CISCO-sampling_option",
          "106-IPFIXv10-HUAWEI-vrf_name", "111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources",
          "112-IPFIXv10-CISCO-options-map-reassignment", "400-IPFIXv10-BMP-CISCO-SRv6-multiple-sources",
          "401-IPFIXv10-BMP-IPv6-CISCO-MPLS-multiple-sources", "402-IPFIXv10-BMP-IPv6-high-availability",
          "403-IPFIXv10-BMP-IPv6-CISCO-locrib-peerdown-vrf", "500-IPFIXv10-BGP-CISCO-SRv6",
          "501-IPFIXv10-BGP-IPv6-CISCO-MPLS", "502-IPFIXv10-BGP-IPv6-CISCO-SRv6-lcomms"]:
    for part in ("00", "01"):
        name = f"pmacct_pmacct__tests_{f}_traffic-{part}.pcap"
        GROUPS[f"pmacct-{f.split('-')[0]}-{part}"] = [name]

COLS = ["stime", "ltime", "saddr", "daddr", "sport", "dport", "proto", "spkts", "sbytes", "inif",
        "outif", "sas", "das", "nexthop", "stcpflags", "stos", "sampling", "exporter", "sid"]


def flags_text(v):
    return "".join(c for i, c in enumerate("FSRPAUEC") if v >> i & 1)


def parse_abs(s):
    # "Feb 28, 2023 09:46:01.088000000 UTC"
    s = s.replace(" UTC", "")
    date, frac = s.rsplit(".", 1)
    t = datetime.datetime.strptime(" ".join(date.split()), "%b %d, %Y %H:%M:%S")
    t = t.replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 10**9 + int(frac.ljust(9, "0")[:9])


def secs_ns(s):
    whole, _, frac = s.partition(".")
    return int(whole) * 10**9 + int(frac.ljust(9, "0")[:9])


def num(v):
    return int(v, 16) if isinstance(v, str) and v.startswith("0x") else int(v)


def first(d, *keys):
    for k in keys:
        if k in d:
            v = d[k]
            return v[0] if isinstance(v, list) else v
    return None


def walk_sets(cflow):
    """(set dict) for each FlowSet / Set / pdu of a cflow layer."""
    for k, v in cflow.items():
        vs = v if isinstance(v, list) else [v]
        for x in vs:
            if isinstance(x, dict) and (k.startswith("FlowSet") or k.startswith("Set ")):
                yield x


def flows_of(s):
    for k, v in s.items():
        if k.startswith("Flow "):
            for x in (v if isinstance(v, list) else [v]):
                yield x


def template_ids(s):
    for k, v in s.items():
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, dict) and "cflow.template_id" in x:
                yield int(first(x, "cflow.template_id"))


def opt_rate(f):
    if first(f, "cflow.sampling_interval") not in (None, "0"):
        return num(first(f, "cflow.sampling_interval"))
    if first(f, "cflow.sampler_random_interval") not in (None, "0"):
        return num(first(f, "cflow.sampler_random_interval"))
    size, pop = first(f, "cflow.sampling_size"), first(f, "cflow.sampling_population")
    if size and pop and int(size) > 0:
        return int(pop) // int(size)
    pi, ps = first(f, "cflow.sampling_packet_interval"), first(f, "cflow.sampling_packet_space")
    if pi and int(pi) > 0:
        return (int(pi) + int(ps or 0)) // int(pi)
    return 0


def golden(shared, files):
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(shared / f) for f in files]
        if paths[0].endswith(".ipfix"):
            merged = paths[0]
        else:
            merged = tmp + "/m.pcap"
            subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", merged, *paths], check=True)
        ports = subprocess.run(["tshark", "-r", merged, "-T", "fields", "-e", "udp.dstport"],
                               capture_output=True, text=True).stdout.replace(",", " ").split()
        args = []
        for p in sorted(set(ports)):
            args += ["-d", f"udp.port=={p},cflow"]
        out = subprocess.run(["tshark", "-r", merged, *args, "-T", "json", "--no-duplicate-keys"],
                             capture_output=True, text=True, check=True).stdout
    rows = []
    options = {}   # (exporter, domain) -> set of options template ids
    rates = {}     # (exporter, domain) -> {sampler id or None: rate}
    for pkt in json.loads(out):
        layers = pkt["_source"]["layers"]
        cflows = layers.get("cflow")
        if cflows is None:
            continue
        exporter = first(layers.get("ip", {}), "ip.src") or first(layers.get("ipv6", {}), "ipv6.src") or "::"
        for cf in (cflows if isinstance(cflows, list) else [cflows]):
            cf = dict(cf, **cf.get("cflow.timestamp_tree", {}))
            ver = int(first(cf, "cflow.version"))
            if ver == 5:
                dom = num(first(cf, "cflow.engine_type")) << 8 | num(first(cf, "cflow.engine_id"))
                export = int(first(cf, "cflow.unix_secs")) * 10**9 + int(first(cf, "cflow.unix_nsecs"))
                uptime = secs_ns(first(cf, "cflow.sysuptime"))
                rate = num(first(cf, "cflow.samplerate"))
                rate = rate if rate > 1 else 0
                sets = [{"Flow 1": v} for k, v in cf.items() if k.startswith("pdu ")]
            else:
                dom = int(first(cf, "cflow.source_id", "cflow.od_id"))
                export = int(first(cf, "cflow.unix_secs", "cflow.exporttime")) * 10**9
                up = first(cf, "cflow.sysuptime")
                uptime = secs_ns(up) if up is not None else None
                rate = None
                sets = list(walk_sets(cf))
            key = (exporter, dom)
            for s in sets:
                sid = first(s, "cflow.flowset_id")
                sid = int(sid) if sid is not None else 256
                if sid in (1, 3):
                    options.setdefault(key, set()).update(template_ids(s))
                    continue
                if sid < 256:
                    continue
                is_opt = sid in options.get(key, set())
                for f in flows_of(s):
                    if is_opt:
                        r = opt_rate(f)
                        sampler = first(f, "cflow.sampler_id", "cflow.selector_id")
                        if r:
                            rates.setdefault(key, {})[int(sampler) if sampler is not None else None] = r
                        init = first(f, "cflow.sys_init_time")
                        if init:
                            rates.setdefault(key, {})["init"] = parse_abs(init)
                        continue
                    rows.append(row(f, ver, exporter, dom, export, uptime, rate, rates.get(key, {})))
    return rows


def addr_pair(s4, d4, s6, d6):
    """The IPv6 pair when there is no IPv4 one or it is not zeros."""
    has4, has6 = s4 is not None or d4 is not None, s6 is not None or d6 is not None
    if has6 and (not has4 or (s6 or "::") != "::" or (d6 or "::") != "::"):
        return s6 or "::", d6 or "::"
    if has4:
        return s4 or "0.0.0.0", d4 or "0.0.0.0"
    return "::", "::"


def row(f, ver, exporter, dom, export, uptime, hdr_rate, learned):
    f = dict(f, **f.get("cflow.timedelta_tree", {}))
    g = lambda *k: first(f, *k)
    proto = num(g("cflow.protocol") or "0")
    sport, dport = num(g("cflow.srcport") or "0"), num(g("cflow.dstport") or "0")
    if proto in (1, 58):
        tc = g("cflow.icmp_type_code_ipv4", "cflow.icmp_type_code_ipv6")
        if tc is not None:
            sport, dport = num(tc) >> 8, num(tc) & 255
        elif g("cflow.icmp_ipv6_type", "cflow.icmp_type") is not None:
            sport, dport = num(g("cflow.icmp_ipv6_type", "cflow.icmp_type")), num(g("cflow.icmp_ipv6_code", "cflow.icmp_code") or "0")
        elif sport == 0:
            sport, dport = dport >> 8, dport & 255
    # sampling: the record's own rate, its sampler's, the exporter's
    rate = hdr_rate
    if rate is None:
        own = opt_rate(f)
        sampler = g("cflow.sampler_id", "cflow.selector_id")
        rates = {k: v for k, v in learned.items() if k != "init"}
        if own:
            rate = own
        elif sampler is not None and int(sampler) in rates:
            rate = rates[int(sampler)]
        elif None in rates:
            rate = rates[None]
        elif len(rates) == 1 and sampler is None:
            rate = next(iter(rates.values()))
        else:
            rate = 0
    mult = rate if rate > 1 else 1
    # times
    if g("cflow.abstimestart") or g("cflow.abstimeend"):
        st = parse_abs(g("cflow.abstimestart") or g("cflow.abstimeend"))
        lt = parse_abs(g("cflow.abstimeend") or g("cflow.abstimestart"))
    elif g("cflow.timestart") is not None or g("cflow.timeend") is not None:
        ts = secs_ns(g("cflow.timestart") or g("cflow.timeend"))
        te = secs_ns(g("cflow.timeend") or g("cflow.timestart"))
        if uptime is not None:
            st, lt = export - (uptime - ts), export - (uptime - te)
        elif "init" in learned:
            st, lt = learned["init"] + ts, learned["init"] + te
        else:
            st, lt = export - (te - ts), export
    else:
        st = lt = export
    lt = max(lt, st)
    def v4(a):   # floe stores IPv4 v4-mapped and prints it as IPv4
        return a[7:] if a and a.startswith("::ffff:") and "." in a else a

    def zero(a):
        return a in (None, "0.0.0.0", "::")

    def nexthop(*keys):   # the first that is not zeros, else the first present
        vals = [v4(g(k)) for k in keys if g(k) is not None]
        return next((a for a in vals if not zero(a)), vals[0] if vals else None)
    nh = nexthop("cflow.nexthop", "cflow.nexthopv6")
    if nh is None:
        nh = nexthop("cflow.bgpnexthop", "cflow.bgpnexthopv6")
    inif = g("cflow.inputint")
    if inif is None:
        inif = g("cflow.ingress_physical_interface")
    outif = g("cflow.outputint")
    if outif is None:
        outif = g("cflow.egress_physical_interface")
    sa, da = addr_pair(g("cflow.srcaddr"), g("cflow.dstaddr"), g("cflow.srcaddrv6"), g("cflow.dstaddrv6"))
    return {
        "stime": f"{st // 10**9}.{st % 10**9 // 1000:06d}",
        "ltime": f"{lt // 10**9}.{lt % 10**9 // 1000:06d}",
        "saddr": sa, "daddr": da,
        "sport": sport, "dport": dport, "proto": proto,
        "spkts": num(g("cflow.packets") or "0") * mult,
        "sbytes": num(g("cflow.octets") or "0") * mult,
        "inif": num(inif or "0"), "outif": num(outif or "0"),
        "sas": num(g("cflow.srcas") or "0"), "das": num(g("cflow.dstas") or "0"),
        "nexthop": nh or "::",
        "stcpflags": flags_text(num(g("cflow.tcpflags") or "0")),
        "stos": num(g("cflow.tos") or "0"),
        "sampling": rate if rate > 1 else 0,
        "exporter": exporter, "sid": dom,
    }


def main():
    shared = pathlib.Path(sys.argv[1]) / "netflow"
    outdir = pathlib.Path(__file__).resolve().parent / "golden"
    outdir.mkdir(exist_ok=True)
    with open(outdir / "GROUPS", "w") as m:
        m.write("# group: capture files fed in order (generated by mkgolden.py)\n")
        for name, files in GROUPS.items():
            if not all((shared / f).exists() for f in files):
                continue
            rows = golden(shared, files)
            with open(outdir / f"{name}.csv", "w", newline="") as fp:
                w = csv.DictWriter(fp, COLS)
                w.writeheader()
                w.writerows(rows)
            m.write(f"{name}: {' '.join(files)}\n")
            print(f"{name}: {len(rows)} flows")


main()
