#!/usr/bin/env python3
"""Produce golden decode counts from tshark, independently of floe.

Usage: tshark-counts.py PCAP...   (prints one counts.txt line per file)

For each packet, tshark's frame.protocols stack (reassembly off, so a
fragment is counted as what it is on the wire) is read with first-layer
semantics, as floe records a packet: the first ip/ipv6/arp token is the
network layer; the token after it, skipping IPv6 extension headers
(ipv6.hopopts, ipv6.fraghdr, ...), is the transport.  Inner headers of
tunnels and of ICMP errors come later in the stack and are ignored.
"""
import subprocess
import sys
import os

COLS = ['pkts', 'ipv4', 'ipv6', 'arp', 'notip', 'tcp', 'udp', 'icmp', 'icmp6']
L4 = {'tcp': 'tcp', 'udp': 'udp', 'icmp': 'icmp', 'icmpv6': 'icmp6'}


def counts(path):
    out = subprocess.run(
        ['tshark', '-n', '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE',
         '-r', path, '-T', 'fields', '-e', 'frame.protocols'],
        check=True, capture_output=True, text=True).stdout
    c = dict.fromkeys(COLS, 0)
    for line in out.splitlines():
        c['pkts'] += 1
        toks = line.split(':')
        l3 = next((i for i, t in enumerate(toks) if t in ('ip', 'ipv6', 'arp')), None)
        if l3 is None:
            c['notip'] += 1
            continue
        c[{'ip': 'ipv4', 'ipv6': 'ipv6', 'arp': 'arp'}[toks[l3]]] += 1
        rest = [t for t in toks[l3 + 1:] if not t.startswith('ipv6.')]
        if toks[l3] != 'arp' and rest and rest[0] in L4:
            c[L4[rest[0]]] += 1
    return c


def main():
    print('# file ' + ' '.join(COLS))
    for path in sys.argv[1:]:
        c = counts(path)
        print(os.path.basename(path) + ' ' + ' '.join(str(c[k]) for k in COLS))


if __name__ == '__main__':
    main()
