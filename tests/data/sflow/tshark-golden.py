#!/usr/bin/env python3
"""Writes the expected floe records of every sFlow capture in
$FLOE_SHARED_DATA/netflow (*sflow*.pcap) from tshark's dissection, not from
floe, so that a bug in floe's sFlow decoder cannot bless itself.

usage: tshark-golden.py [NETFLOW_DIR] > golden.txt

For each flow sample tshark shows (`tshark -T json --no-duplicate-keys
-d udp.port==6343,sflow`), the record floe must emit is derived with the
mapping of docs/sflow.md:
  exporter = agent address, sensor = sub-agent id,
  inif/outif = ifIndex when the interface format is 0 and the value is not
               0x3fffffff (the device itself), else 0,
  sampling = spkts = sampling rate,
  sbytes = (frame length - 4 FCS octets for Ethernet headers) x rate,
  addresses, ports (ICMP: type, code), protocol, TCP flags, TOS, TTL from
  the first IP layer of the sampled header and the layer after it, MACs
  from the Ethernet header, VLAN from the first 802.1Q tag, else the
  extended switch's incoming VLAN,
  nexthop = extended router next hop, else extended gateway next hop,
  sas = gateway source AS, das = last AS of the gateway's AS path.
A last line per file gives the sample counts.  Line format (| separated):
  file exporter sensor inif outif sampling spkts sbytes ipver proto saddr
  sport daddr dport tcpflags tos ttl smac dmac vlan nexthop sas das
"""
import glob
import ipaddress
import json
import os
import subprocess
import sys


def first(v):
    return v[0] if isinstance(v, list) else v


def num(v):
    v = first(v)
    return int(v, 0)


def addr(s):
    a = ipaddress.ip_address(s)
    return '-' if int(a) == 0 else str(a)


def iface(fmt, val):
    return 0 if fmt != 0 or val == 0x3fffffff else val


def samples(layer):
    for k, v in layer.items():
        for s in (v if isinstance(v, list) else [v]):
            if isinstance(s, dict) and 'sflow_245.sampletype' in s:
                yield s


def records(sample, title):
    for k, v in sample.items():
        if k.startswith(title):
            for r in (v if isinstance(v, list) else [v]):
                yield r


def from_header(hdr, rec):
    tree = hdr['sflow_245.header_tree']
    if 'eth' in tree:
        eth = first(tree['eth'])
        rec['smac'], rec['dmac'] = eth['eth.src'], eth['eth.dst']
    if 'vlan' in tree:
        rec['vlan'] = num(first(tree['vlan'])['vlan.id'])
    keys = list(tree.keys())
    ipk = next(k for k in keys if k in ('ip', 'ipv6'))
    ip = first(tree[ipk])
    if ipk == 'ip':
        rec.update(ipver=4, proto=num(ip['ip.proto']), saddr=ip['ip.src'],
                   daddr=ip['ip.dst'], tos=num(ip['ip.dsfield']), ttl=num(ip['ip.ttl']))
    else:
        rec.update(ipver=6, proto=num(ip['ipv6.nxt']), saddr=addr(ip['ipv6.src']),
                   daddr=addr(ip['ipv6.dst']), tos=num(ip['ipv6.tclass']),
                   ttl=num(ip['ipv6.hlim']))
    after = keys[keys.index(ipk) + 1:]
    l4 = next((k for k in after if k in ('tcp', 'udp', 'icmp', 'icmpv6')), None)
    if l4 in ('tcp', 'udp'):
        t = first(tree[l4])
        rec['sport'], rec['dport'] = num(t[l4 + '.srcport']), num(t[l4 + '.dstport'])
        if l4 == 'tcp':
            rec['tcpflags'] = num(t['tcp.flags']) & 0xff
    elif l4:
        t = first(tree[l4])
        rec['sport'], rec['dport'] = num(t[l4 + '.type']), num(t[l4 + '.code'])
    frame = num(hdr['sflow_245.header.frame_length'])
    if num(hdr['sflow_245.header_protocol']) == 1:
        frame -= 4
    return frame


def one_file(path):
    out = subprocess.run(['tshark', '-r', path, '-T', 'json', '--no-duplicate-keys',
                          '-d', 'udp.port==6343,sflow'],
                         check=True, capture_output=True, text=True).stdout
    name = os.path.basename(path)
    lines, nflow, ncounter, nsamples = [], 0, 0, 0
    for pkt in json.loads(out):
        layer = pkt['_source']['layers']['sflow']
        for s in samples(layer):
            nsamples += 1
            st = num(s['sflow_245.sampletype'])
            if st in (2, 4):
                ncounter += 1
                continue
            nflow += 1
            rate = num(s['sflow.flow_sample.sampling_rate'])
            if st == 1:
                v = num(s['sflow.flow_sample.input_interface'])
                inif = iface(v >> 30, v & 0x3fffffff)
                t = s['sflow.flow_sample.output_interface_tree']
                outif = iface(num(t['sflow.flow_sample.output_interface_format']),
                              num(t['sflow.flow_sample.output_interface_value']))
            else:
                inif = iface(num(s['sflow.flow_sample.input_interface_format']),
                             num(s['sflow.flow_sample.input_interface_value']))
                outif = iface(num(s['sflow.flow_sample.output_interface.format']),
                              num(s['sflow.flow_sample.output_interface_value']))
            rec = dict(sport=0, dport=0, tcpflags=0, tos=0, ttl=0, smac='-', dmac='-',
                       vlan=0, nexthop='-', sas=0, das=0)
            hdrs = list(records(s, 'Raw packet header'))
            frame = from_header(hdrs[0], rec)
            if rec['smac'] == '-':
                for e in records(s, 'Ethernet frame data'):
                    rec['smac'] = e['sflow_245.ethernet.source_mac_address']
                    rec['dmac'] = e['sflow_245.ethernet.destination_mac_address']
            if rec['vlan'] == 0:
                for sw in records(s, 'Extended switch data'):
                    v = num(sw['sflow_245.vlan.in'])
                    if 0 < v < 4096:
                        rec['vlan'] = v
            for r in records(s, 'Extended router data'):
                rec['nexthop'] = addr(r['sflow_245.nexthop'])
            for g in records(s, 'Extended gateway data'):
                if rec['nexthop'] == '-':
                    rec['nexthop'] = addr(g['sflow_245.nexthop'])
                rec['sas'] = num(g['sflow_245.srcAS'])
                path = g.get('sflow.as_type_tree', {}).get('sflow_245.dstAS', [])
                path = path if isinstance(path, list) else [path]
                rec['das'] = int(path[-1]) if path else 0
            lines.append('|'.join(str(x) for x in [
                name, addr(layer['sflow_245.agent']), num(layer['sflow_245.sub_agent_id']),
                inif, outif, rate, rate, frame * rate, rec['ipver'], rec['proto'],
                rec['saddr'], rec['sport'], rec['daddr'], rec['dport'], rec['tcpflags'],
                rec['tos'], rec['ttl'], rec['smac'], rec['dmac'], rec['vlan'],
                rec['nexthop'], rec['sas'], rec['das']]))
    lines.append('%s|samples=%d flow=%d counter=%d records=%d' %
                 (name, nsamples, nflow, ncounter, nflow))
    return lines


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get('FLOE_SHARED_DATA', '../shared/data'), 'netflow')
    print('# expected floe records of the sFlow captures, from tshark '
          '(tests/data/sflow/tshark-golden.py); see docs/sflow.md')
    for p in sorted(glob.glob(os.path.join(d, '*sflow*.pcap'))):
        print('\n'.join(one_file(p)))


main()
