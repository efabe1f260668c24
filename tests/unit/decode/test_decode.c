/*
 * test_decode.c - table-driven tests of floe_decode over hand-built frames.
 *
 * Each row is a frame in hex (spaces ignored), a link type and the fields
 * floe_decode must produce; every field of the row's expectation is
 * compared, so a zero in the table is a claim too (later fragments have
 * no ports, ARP has no proto).  A second table cuts frames at every
 * length and checks each prefix fails at the layer it was cut in.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "decode/decode.h"
#include "flow.h"
#include "tap.h"

/* ---- frame building blocks (hex) ---------------------------------- */

#define ETH(t) "020000000002 020000000001 " t " "
/* IPv4 10.0.0.1 -> 10.0.0.2, id 0x1234, TTL 64, TOS 0 */
#define IP4H(tot, frag, proto) "45 00 " tot " 1234 " frag " 40 " proto " 0000 0a000001 0a000002 "
/* TCP 12345 -> 80, seq 1, ack 2, data offset 5, SYN|ACK, window 65535 */
#define TCPH "3039 0050 00000001 00000002 50 12 ffff 0000 0000 "
#define UDPH "d431 0035 0010 0000 "
#define PAY8 "0102030405060708 "
/* IPv6 2001:db8::1 -> 2001:db8::2, traffic class 0x12, hop limit 64 */
#define IP6H(plen, nh) "61234567 " plen " " nh " 40 " \
	"20010db8000000000000000000000001 20010db8000000000000000000000002 "
#define V4TCP IP4H("0028", "0000", "06") TCPH
#define V6TCP IP6H("0014", "06") TCPH
#define ARPREQ "0001 0800 06 04 0001 0a0b0c0d0e0f 0a000001 000000000000 0a000002 "
#define VLAN(id, t) id " " t " "

struct want {
	enum floe_dec_result r;
	uint16_t flags, etype, vlan;
	uint8_t ipver, proto, tos, arp_op, tcpflags;
	uint16_t sport, dport, icmp_id;
	uint32_t l3len, paylen, fragid;
	uint16_t fragoff;
	bool frag_more;
	const char *saddr, *daddr;   /* NULL: all zero */
};

#define W_V4 .etype = FLOE_ETH_IPV4, .ipver = 4, .fragid = 0x1234, \
	.saddr = "10.0.0.1", .daddr = "10.0.0.2"
#define W_V6 .etype = FLOE_ETH_IPV6, .ipver = 6, .tos = 0x12, \
	.saddr = "2001:db8::1", .daddr = "2001:db8::2"
#define W_TCP .proto = 6, .sport = 12345, .dport = 80, .tcpflags = 0x12
#define W_UDP .proto = 17, .sport = 54321, .dport = 53
#define W_ARP .etype = FLOE_ETH_ARP, .arp_op = 1, .saddr = "10.0.0.1", .daddr = "10.0.0.2"
#define MAC FLOE_PKT_MAC
#define L4 FLOE_PKT_L4
#define L4T FLOE_PKT_L4_TRUNC

struct tcase {
	const char *name;
	int lt;
	const char *hex;
	uint32_t wire;   /* 0: the captured length */
	struct want w;
};

static const struct tcase cases[] = {
	/* ---- Ethernet -> IPv4 -> L4 ---- */
	{"eth ipv4 tcp", 1, ETH("0800") V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 40}},
	{"eth ipv4 tcp payload + ethernet padding", 1,
	 ETH("0800") IP4H("002c", "0000", "06") TCPH "61626364 000000000000", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 44, .paylen = 4}},
	{"eth ipv4 tcp snaplen cut (total length 1500)", 1,
	 ETH("0800") IP4H("05dc", "4000", "06") TCPH, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 1500, .paylen = 1460}},
	{"eth ipv4 tcp options not captured", 1,
	 ETH("0800") IP4H("05dc", "4000", "06") "3039 0050 00000001 00000002 a0 12 ffff 0000 0000", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 1500, .paylen = 1460 - 20}},
	{"eth ipv4 tcp cut in header", 1, ETH("0800") IP4H("0028", "0000", "06") "3039 0050 0000", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4T, W_V4, .proto = 6, .l3len = 40}},
	{"eth ipv4 tcp data offset 4", 1,
	 ETH("0800") IP4H("0028", "0000", "06") "3039 0050 00000001 00000002 40 12 ffff 0000 0000", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4T, W_V4, .proto = 6, .l3len = 40}},
	{"eth ipv4 tcp data offset beyond ip length", 1,
	 ETH("0800") IP4H("0028", "0000", "06") "3039 0050 00000001 00000002 f0 12 ffff 0000 0000", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4T, W_V4, .proto = 6, .l3len = 40}},
	{"eth ipv4 udp", 1, ETH("0800") IP4H("0024", "0000", "11") UDPH PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_UDP, .l3len = 36, .paylen = 8}},
	{"eth ipv4 udp length below header", 1, ETH("0800") IP4H("0018", "0000", "11") UDPH, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4T, W_V4, .proto = 17, .l3len = 24}},
	{"eth ipv4 icmp echo", 1, ETH("0800") IP4H("0024", "0000", "01") "0800 0000 abcd 0001" PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, .proto = 1, .sport = 8, .dport = 0,
	  .icmp_id = 0xabcd, .l3len = 36, .paylen = 8}},
	{"eth ipv4 icmp echo reply", 1, ETH("0800") IP4H("001c", "0000", "01") "0000 0000 abcd 0001", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, .proto = 1, .icmp_id = 0xabcd, .l3len = 28}},
	{"eth ipv4 icmp timestamp has id", 1, ETH("0800") IP4H("001c", "0000", "01") "0d00 0000 0007 0001", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, .proto = 1, .sport = 13, .icmp_id = 7, .l3len = 28}},
	{"eth ipv4 icmp mask reply has id", 1, ETH("0800") IP4H("001c", "0000", "01") "1200 0000 0007 0001", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, .proto = 1, .sport = 18, .icmp_id = 7, .l3len = 28}},
	{"eth ipv4 icmp port unreachable: no id, quote not decoded", 1,
	 ETH("0800") IP4H("0038", "0000", "01") "0303 0000 abcd 0001" IP4H("0028", "0000", "06") "3039 0050 00000001", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, .proto = 1, .sport = 3, .dport = 3,
	  .l3len = 56, .paylen = 28}},
	{"eth ipv4 sctp", 1, ETH("0800") IP4H("0020", "0000", "84") "0b59 0050 01020304 00000000", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, .proto = 132, .sport = 2905, .dport = 80, .l3len = 32}},
	{"eth ipv4 gre: own flow, inner not decoded", 1,
	 ETH("0800") IP4H("0040", "0000", "2f") "0000 0800" IP4H("0028", "0000", "06") TCPH, 0,
	 {FLOE_DEC_OK, .flags = MAC, W_V4, .proto = 47, .l3len = 64, .paylen = 44}},
	{"eth ipv4 ip-in-ip not decapsulated", 1,
	 ETH("0800") IP4H("003c", "0000", "04") V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC, W_V4, .proto = 4, .l3len = 60, .paylen = 40}},
	{"eth ipv4 options (IHL 6)", 1,
	 ETH("0800") "46 00 002c 1234 0000 40 06 0000 0a000001 0a000002 01010100" TCPH, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 44}},
	{"eth ipv4 options not captured", 1,
	 ETH("0800") "4f 00 0050 1234 0000 40 06 0000 0a000001 0a000002 01010100", 0,
	 {FLOE_DEC_TRUNC_L3}},
	{"eth ipv4 first fragment", 1, ETH("0800") IP4H("0024", "2000", "11") UDPH PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_FRAG | FLOE_PKT_FRAG_FIRST, W_V4, W_UDP,
	  .l3len = 36, .paylen = 8, .frag_more = true}},
	{"eth ipv4 middle fragment", 1, ETH("0800") IP4H("0024", "20b9", "11") UDPH PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | FLOE_PKT_FRAG, W_V4, .proto = 17, .l3len = 36, .paylen = 16,
	  .fragoff = 1480, .frag_more = true}},
	{"eth ipv4 last fragment", 1, ETH("0800") IP4H("0024", "00b9", "06") PAY8 PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | FLOE_PKT_FRAG, W_V4, .proto = 6, .l3len = 36, .paylen = 16,
	  .fragoff = 1480}},
	{"eth ipv4 DF is not a fragment", 1, ETH("0800") IP4H("0028", "4000", "06") TCPH, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 40}},
	{"eth ipv4 total length 0 (TSO) uses wire length", 1, ETH("0800") IP4H("0000", "4000", "06") TCPH, 14 + 40 + 2896,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 40 + 2896, .paylen = 2896}},
	{"eth ipv4 total length below header", 1, ETH("0800") IP4H("0010", "0000", "06") TCPH, 0,
	 {FLOE_DEC_BAD_IP}},
	{"eth ipv4 version 5", 1, ETH("0800") "55 00 0028 1234 0000 40 06 0000 0a000001 0a000002" TCPH, 0,
	 {FLOE_DEC_BAD_IP}},
	{"eth ipv4 IHL 4", 1, ETH("0800") "44 00 0028 1234 0000 40 06 0000 0a000001 0a000002" TCPH, 0,
	 {FLOE_DEC_BAD_IP}},
	{"eth ipv4 header cut", 1, ETH("0800") "45 00 0028 1234 0000 40 06 0000 0a00", 0,
	 {FLOE_DEC_TRUNC_L3}},
	{"eth nothing after header", 1, ETH("0800"), 0, {FLOE_DEC_TRUNC_L3}},
	{"eth header cut", 1, "020000000002 0200000000", 0, {FLOE_DEC_TRUNC_L2}},
	{"empty frame", 1, "", 0, {FLOE_DEC_TRUNC_L2}},

	/* ---- 802.3 / LLC / SNAP and non-IP ethertypes ---- */
	{"802.3 llc stp", 1, ETH("0026") "424203 0000 00 00", 0, {FLOE_DEC_NOT_IP}},
	{"802.3 snap ipv4", 1, ETH("0030") "aaaa03 000000 0800" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 40}},
	{"802.3 snap 802.1H ipv4", 1, ETH("0030") "aaaa03 0000f8 0800" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 40}},
	{"802.3 snap cisco cdp", 1, ETH("0030") "aaaa03 00000c 2000 0102", 0, {FLOE_DEC_NOT_IP}},
	{"802.3 snap cut", 1, ETH("0030") "aaaa03 0000", 0, {FLOE_DEC_TRUNC_L2}},
	{"802.3 llc cut", 1, ETH("0030") "aa", 0, {FLOE_DEC_TRUNC_L2}},
	{"length/type 0x05ff is neither", 1, ETH("05ff") "00", 0, {FLOE_DEC_NOT_IP}},
	{"lldp", 1, ETH("88cc") "0207 04020000000001", 0, {FLOE_DEC_NOT_IP}},
	{"eapol", 1, ETH("888e") "0101 0000", 0, {FLOE_DEC_NOT_IP}},
	{"ethernet loopback 0x9000", 1, ETH("9000") "0000 0000", 0, {FLOE_DEC_NOT_IP}},
	{"ipx", 1, ETH("8137") "ffff 001e", 0, {FLOE_DEC_NOT_IP}},
	{"pppoe discovery", 1, ETH("8863") "1109 0000 0000", 0, {FLOE_DEC_NOT_IP}},

	/* ---- VLAN ---- */
	{"802.1q", 1, ETH("8100") VLAN("0064", "0800") V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_VLAN, .vlan = 100, W_V4, W_TCP, .l3len = 40}},
	{"802.1q pcp bits ignored", 1, ETH("8100") VLAN("e064", "0800") V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_VLAN, .vlan = 100, W_V4, W_TCP, .l3len = 40}},
	{"qinq 88a8 records outer", 1, ETH("88a8") VLAN("00c8", "8100") VLAN("0064", "86dd") V6TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_VLAN, .vlan = 200, W_V6, W_TCP, .l3len = 60}},
	{"qinq 9100", 1, ETH("9100") VLAN("0fff", "8100") VLAN("0001", "0800") V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_VLAN, .vlan = 4095, W_V4, W_TCP, .l3len = 40}},
	{"priority tag (vid 0) is not a vlan", 1, ETH("8100") VLAN("a000", "0800") V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 40}},
	{"vlan arp", 1, ETH("8100") VLAN("0064", "0806") ARPREQ, 0,
	 {FLOE_DEC_OK, .flags = MAC | FLOE_PKT_ARP | FLOE_PKT_VLAN, .vlan = 100, W_ARP}},
	{"vlan llc", 1, ETH("8100") VLAN("0064", "0026") "424203", 0, {FLOE_DEC_NOT_IP}},
	{"vlan cut", 1, ETH("8100") "00", 0, {FLOE_DEC_TRUNC_L2}},
	{"7 vlan tags", 1, ETH("8100") VLAN("0001", "8100") VLAN("0002", "8100") VLAN("0003", "8100")
	 VLAN("0004", "8100") VLAN("0005", "8100") VLAN("0006", "8100") VLAN("0007", "0800") V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_VLAN, .vlan = 1, W_V4, W_TCP, .l3len = 40}},
	{"8 vlan tags too deep", 1, ETH("8100") VLAN("0001", "8100") VLAN("0002", "8100") VLAN("0003", "8100")
	 VLAN("0004", "8100") VLAN("0005", "8100") VLAN("0006", "8100") VLAN("0007", "8100")
	 VLAN("0008", "0800") V4TCP, 0,
	 {FLOE_DEC_TOO_DEEP}},

	/* ---- MPLS ---- */
	{"mpls ipv4", 1, ETH("8847") "00010140" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_MPLS, W_V4, W_TCP, .l3len = 40}},
	{"mpls two labels ipv6", 1, ETH("8847") "00010040 00011140" V6TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_MPLS, W_V6, W_TCP, .l3len = 60}},
	{"mpls multicast ethertype", 1, ETH("8848") "00010140" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_MPLS, W_V4, W_TCP, .l3len = 40}},
	{"mpls pseudowire control word + ethernet keeps outer macs", 1,
	 ETH("8847") "00010140 00000000" "aaaaaaaaaaaa bbbbbbbbbbbb 8100 0005 0800" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_MPLS | FLOE_PKT_VLAN, .vlan = 5, W_V4, W_TCP, .l3len = 40}},
	{"vlan then mpls", 1, ETH("8100") VLAN("0064", "8847") "00010140" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_MPLS | FLOE_PKT_VLAN, .vlan = 100, W_V4, W_TCP, .l3len = 40}},
	{"mpls unknown payload nibble", 1, ETH("8847") "00010140 ff000000", 0, {FLOE_DEC_NOT_IP}},
	{"mpls label cut", 1, ETH("8847") "000101", 0, {FLOE_DEC_TRUNC_L2}},
	{"mpls nothing below stack", 1, ETH("8847") "00010140", 0, {FLOE_DEC_TRUNC_L2}},
	{"mpls stack never ends", 1, ETH("8847") "00010040 00010040 00010040 00010040 00010040 00010040"
	 "00010040 00010040 00010040 00010040 00010040 00010040 00010040 00010040 00010040 00010040"
	 "00010040 00010040", 0, {FLOE_DEC_TOO_DEEP}},
	{"mpls control word cut", 1, ETH("8847") "00010140 0000", 0, {FLOE_DEC_TRUNC_L2}},

	/* ---- PPPoE ---- */
	{"pppoe ipv4", 1, ETH("8864") "1100 0001 002a 0021" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 40}},
	{"pppoe ipv6", 1, ETH("8864") "1100 0001 003e 0057" V6TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_TCP, .l3len = 60}},
	{"pppoe compressed protocol field", 1, ETH("8864") "1100 0001 0029 21" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V4, W_TCP, .l3len = 40}},
	{"vlan pppoe ipv4", 1, ETH("8100") VLAN("0007", "8864") "1100 0001 002a 0021" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_VLAN, .vlan = 7, W_V4, W_TCP, .l3len = 40}},
	{"pppoe lcp", 1, ETH("8864") "1100 0001 0006 c021 0101 0004", 0, {FLOE_DEC_NOT_IP}},
	{"pppoe bad version", 1, ETH("8864") "2100 0001 002a 0021" V4TCP, 0, {FLOE_DEC_NOT_IP}},
	{"pppoe cut", 1, ETH("8864") "1100 0001 00", 0, {FLOE_DEC_TRUNC_L2}},
	{"pppoe protocol cut", 1, ETH("8864") "1100 0001 002a 00", 0, {FLOE_DEC_TRUNC_L2}},

	/* ---- ARP ---- */
	{"arp request", 1, ETH("0806") ARPREQ, 0,
	 {FLOE_DEC_OK, .flags = MAC | FLOE_PKT_ARP, W_ARP}},
	{"arp reply", 1, ETH("0806") "0001 0800 06 04 0002 0a0b0c0d0e0f 0a000001 020000000002 0a000002", 0,
	 {FLOE_DEC_OK, .flags = MAC | FLOE_PKT_ARP, .etype = FLOE_ETH_ARP, .arp_op = 2,
	  .saddr = "10.0.0.1", .daddr = "10.0.0.2"}},
	{"arp cut", 1, ETH("0806") "0001 0800 06 04 0001 0a0b0c0d0e0f 0a00", 0, {FLOE_DEC_BAD_ARP}},
	{"arp over ieee802 hardware", 1, ETH("0806") "0006 0800 06 04 0001 0a0b0c0d0e0f 0a000001 000000000000 0a000002", 0,
	 {FLOE_DEC_BAD_ARP}},
	{"arp for ipv6-sized addresses", 1, ETH("0806") "0001 86dd 06 10 0001", 0, {FLOE_DEC_BAD_ARP}},

	/* ---- IPv6 ---- */
	{"eth ipv6 tcp", 1, ETH("86dd") V6TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_TCP, .l3len = 60}},
	{"eth ipv6 udp", 1, ETH("86dd") IP6H("0010", "11") UDPH PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_UDP, .l3len = 56, .paylen = 8}},
	{"eth ipv6 icmpv6 echo request", 1, ETH("86dd") IP6H("0008", "3a") "8000 0000 0042 0001", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, .proto = 58, .sport = 128, .icmp_id = 0x42, .l3len = 48}},
	{"eth ipv6 icmpv6 echo reply", 1, ETH("86dd") IP6H("0008", "3a") "8100 0000 0042 0001", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, .proto = 58, .sport = 129, .icmp_id = 0x42, .l3len = 48}},
	{"eth ipv6 neighbor solicitation: no id", 1, ETH("86dd") IP6H("0018", "3a") "8700 0000 00000000 20010db8000000000000000000000002", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, .proto = 58, .sport = 135, .l3len = 64, .paylen = 16}},
	{"ipv6 hop-by-hop then tcp", 1, ETH("86dd") IP6H("001c", "00") "06 00 0104 00000000" TCPH, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_TCP, .l3len = 68}},
	{"ipv6 routing, destination options, tcp", 1,
	 ETH("86dd") IP6H("0034", "2b") "3c 02 0000 00000000 0000000000000000 0000000000000000"
	 "06 00 0104 00000000" TCPH, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_TCP, .l3len = 92}},
	{"ipv6 ah then tcp", 1, ETH("86dd") IP6H("002c", "33") "06 04 0000 00001000 00000001 000000000000000000000000" TCPH, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_TCP, .l3len = 84}},
	{"ipv6 esp: no ports", 1, ETH("86dd") IP6H("0010", "32") "00001000 00000001" PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC, W_V6, .proto = 50, .l3len = 56, .paylen = 16}},
	{"ipv4 esp: no ports", 1, ETH("0800") IP4H("0024", "0000", "32") "00001000 00000001" PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC, W_V4, .proto = 50, .l3len = 36, .paylen = 16}},
	{"ipv6 no next header", 1, ETH("86dd") IP6H("0000", "3b"), 0,
	 {FLOE_DEC_OK, .flags = MAC, W_V6, .proto = 59, .l3len = 40}},
	{"ipv6 destination options then no next header", 1, ETH("86dd") IP6H("0008", "3c") "3b 00 0104 00000000", 0,
	 {FLOE_DEC_OK, .flags = MAC, W_V6, .proto = 59, .l3len = 48}},
	{"ipv6 first fragment", 1, ETH("86dd") IP6H("0018", "2c") "11 00 0001 deadbeef" UDPH PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4 | FLOE_PKT_FRAG | FLOE_PKT_FRAG_FIRST, W_V6, W_UDP,
	  .l3len = 64, .paylen = 8, .fragid = 0xdeadbeef, .frag_more = true}},
	{"ipv6 later fragment", 1, ETH("86dd") IP6H("0018", "2c") "11 00 05a8 deadbeef" PAY8 PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | FLOE_PKT_FRAG, W_V6, .proto = 17,
	  .l3len = 64, .paylen = 16, .fragid = 0xdeadbeef, .fragoff = 1448}},
	{"ipv6 hop-by-hop then later fragment", 1,
	 ETH("86dd") IP6H("0020", "00") "2c 00 0104 00000000" "3a 00 05a9 00000007" PAY8 PAY8, 0,
	 {FLOE_DEC_OK, .flags = MAC | FLOE_PKT_FRAG, W_V6, .proto = 58,
	  .l3len = 72, .paylen = 16, .fragid = 7, .fragoff = 1448, .frag_more = true}},
	{"ipv6 atomic fragment is a whole packet", 1, ETH("86dd") IP6H("001c", "2c") "06 00 0000 00000001" TCPH, 0,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_TCP, .l3len = 68, .fragid = 1}},
	{"ipv6 payload length 0 (jumbo/GSO) uses wire length", 1, ETH("86dd") IP6H("0000", "06") TCPH, 14 + 40 + 20 + 9000,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_TCP, .l3len = 40 + 20 + 9000, .paylen = 9000}},
	{"ipv6 payload length 0, wire length unknown", 1, ETH("86dd") IP6H("0000", "11") UDPH, 1,
	 {FLOE_DEC_OK, .flags = MAC | L4, W_V6, W_UDP, .l3len = 48}},
	{"ipv6 extension header beyond payload length", 1, ETH("86dd") IP6H("0010", "00") "06 05 0000 00000000 0000000000000000", 0,
	 {FLOE_DEC_BAD_IP6EXT}},
	{"ipv6 fragment header beyond payload length", 1, ETH("86dd") IP6H("0004", "2c") "06 00 0000 00000001", 0,
	 {FLOE_DEC_BAD_IP6EXT}},
	{"ipv6 payload length too short for ext header", 1, ETH("86dd") IP6H("0001", "3c") "06", 0,
	 {FLOE_DEC_BAD_IP6EXT}},
	{"ipv6 extension header cut by snaplen", 1, ETH("86dd") IP6H("0064", "00") "06 00 0104", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4T, W_V6, .proto = 0, .l3len = 140}},
	{"ipv6 fragment header cut by snaplen", 1, ETH("86dd") IP6H("0064", "2c") "06 00 00", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4T, W_V6, .proto = 44, .l3len = 140}},
	{"ipv6 16 destination options headers", 1, ETH("86dd") IP6H("0080", "3c")
	 "3c000000 00000000 3c000000 00000000 3c000000 00000000 3c000000 00000000"
	 "3c000000 00000000 3c000000 00000000 3c000000 00000000 3c000000 00000000"
	 "3c000000 00000000 3c000000 00000000 3c000000 00000000 3c000000 00000000"
	 "3c000000 00000000 3c000000 00000000 3c000000 00000000 3c000000 00000000", 0,
	 {FLOE_DEC_BAD_IP6EXT}},
	{"ipv6 header cut", 1, ETH("86dd") "61234567 0014 06 40 20010db8", 0, {FLOE_DEC_TRUNC_L3}},
	{"ipv6 ethertype with version 4", 1, ETH("86dd") V4TCP "0000000000000000000000000000000000000000", 0,
	 {FLOE_DEC_BAD_IP}},
	{"ipv6 tcp cut", 1, ETH("86dd") IP6H("0014", "06") "3039", 0,
	 {FLOE_DEC_OK, .flags = MAC | L4T, W_V6, .proto = 6, .l3len = 60}},
	{"ipv6 6in4 tunnel not decapsulated", 1, ETH("0800") IP4H("0050", "0000", "29") V6TCP, 0,
	 {FLOE_DEC_OK, .flags = MAC, W_V4, .proto = 41, .l3len = 80, .paylen = 60}},

	/* ---- other link types ---- */
	{"linux sll ipv4", 113, "0000 0001 0006 020000000001 0000 0800" V4TCP, 0,
	 {FLOE_DEC_OK, .flags = L4, W_V4, W_TCP, .l3len = 40}},
	{"linux sll vlan ipv4", 113, "0000 0001 0006 020000000001 0000 8100" VLAN("0009", "0800") V4TCP, 0,
	 {FLOE_DEC_OK, .flags = L4 | FLOE_PKT_VLAN, .vlan = 9, W_V4, W_TCP, .l3len = 40}},
	{"linux sll arp takes macs from arp", 113, "0000 0001 0006 020000000001 0000 0806" ARPREQ, 0,
	 {FLOE_DEC_OK, .flags = MAC | FLOE_PKT_ARP, W_ARP}},
	{"linux sll 802.2 llc", 113, "0000 0001 0006 020000000001 0000 0004 424203", 0, {FLOE_DEC_NOT_IP}},
	{"linux sll netlink", 113, "0004 0338 0000 0000000000000000 0010 00000000", 0, {FLOE_DEC_NOT_IP}},
	{"linux sll cut", 113, "0000 0001 0006 0200000000", 0, {FLOE_DEC_TRUNC_L2}},
	{"linux sll2 ipv6", 276, "86dd 0000 00000002 0001 00 06 020000000001 0000" V6TCP, 0,
	 {FLOE_DEC_OK, .flags = L4, W_V6, W_TCP, .l3len = 60}},
	{"linux sll2 cut", 276, "86dd 0000 00000002 0001 00", 0, {FLOE_DEC_TRUNC_L2}},
	{"raw (12) ipv4", 12, V4TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V4, W_TCP, .l3len = 40}},
	{"raw (14) ipv6", 14, V6TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V6, W_TCP, .l3len = 60}},
	{"raw (101) ipv4", 101, V4TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V4, W_TCP, .l3len = 40}},
	{"raw (101) ipv6", 101, V6TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V6, W_TCP, .l3len = 60}},
	{"raw bad version", 101, "55000028", 0, {FLOE_DEC_BAD_IP}},
	{"raw empty", 101, "", 0, {FLOE_DEC_TRUNC_L3}},
	{"ipv4 link type", 228, V4TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V4, W_TCP, .l3len = 40}},
	{"ipv4 link type with ipv6", 228, V6TCP, 0, {FLOE_DEC_BAD_IP}},
	{"ipv6 link type", 229, V6TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V6, W_TCP, .l3len = 60}},
	{"ipv6 link type with ipv4", 229, V4TCP "0000000000000000000000000000000000000000", 0, {FLOE_DEC_BAD_IP}},
	{"null little-endian AF_INET", 0, "02000000" V4TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V4, W_TCP, .l3len = 40}},
	{"null big-endian AF_INET", 0, "00000002" V4TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V4, W_TCP, .l3len = 40}},
	{"null AF_INET6 24 (NetBSD/OpenBSD)", 0, "18000000" V6TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V6, W_TCP, .l3len = 60}},
	{"null AF_INET6 28 (FreeBSD)", 0, "1c000000" V6TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V6, W_TCP, .l3len = 60}},
	{"null AF_INET6 30 big-endian (macOS)", 0, "0000001e" V6TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V6, W_TCP, .l3len = 60}},
	{"null AF 7", 0, "07000000 00", 0, {FLOE_DEC_NOT_IP}},
	{"null cut", 0, "020000", 0, {FLOE_DEC_TRUNC_L2}},
	{"loop AF_INET", 108, "00000002" V4TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V4, W_TCP, .l3len = 40}},
	{"loop AF_INET6", 108, "00000018" V6TCP, 0, {FLOE_DEC_OK, .flags = L4, W_V6, W_TCP, .l3len = 60}},
	{"loop little-endian is not AF_INET", 108, "02000000" V4TCP, 0, {FLOE_DEC_NOT_IP}},
	{"unsupported link type", 105, V4TCP, 0, {FLOE_DEC_LINKTYPE}},
};

/*
 * Truncation sweep: frame cut at every length n.  n < l2 -> TRUNC_L2 (or
 * mid for ARP); l2 <= n < l3 -> TRUNC_L3; l3 <= n < l4 -> OK with L4_TRUNC;
 * n >= l4 -> OK with L4.
 */
struct sweep {
	const char *name;
	int lt;
	const char *hex;
	size_t l2, l3, l4;
	enum floe_dec_result mid;   /* result for l2 <= n < l3 */
};

static const struct sweep sweeps[] = {
	{"eth ipv4 tcp", 1, ETH("0800") V4TCP, 14, 34, 54, FLOE_DEC_TRUNC_L3},
	{"eth ipv4 udp", 1, ETH("0800") IP4H("0024", "0000", "11") UDPH PAY8, 14, 34, 42, FLOE_DEC_TRUNC_L3},
	{"eth ipv4 icmp", 1, ETH("0800") IP4H("0024", "0000", "01") "0800 0000 abcd 0001" PAY8, 14, 34, 42, FLOE_DEC_TRUNC_L3},
	{"qinq ipv6 tcp", 1, ETH("88a8") VLAN("00c8", "8100") VLAN("0064", "86dd") V6TCP, 22, 62, 82, FLOE_DEC_TRUNC_L3},
	{"mpls ipv4 tcp", 1, ETH("8847") "00010040 00011140" V4TCP, 23, 42, 62, FLOE_DEC_TRUNC_L3},
	{"mpls pw ethernet ipv4 tcp", 1, ETH("8847") "00010140 00000000" "aaaaaaaaaaaa bbbbbbbbbbbb 0800" V4TCP,
	 36, 56, 76, FLOE_DEC_TRUNC_L3},
	{"pppoe ipv6 tcp", 1, ETH("8864") "1100 0001 003e 0057" V6TCP, 22, 62, 82, FLOE_DEC_TRUNC_L3},
	{"ipv6 hbh frag udp", 1, ETH("86dd") IP6H("0020", "00") "2c 00 0104 00000000" "11 00 0001 00000007" UDPH PAY8,
	 14, 54, 78, FLOE_DEC_TRUNC_L3},
	{"ipv4 options sctp", 1, ETH("0800") "46 00 0024 1234 0000 40 84 0000 0a000001 0a000002 01010100"
	 "0b59 0050 01020304 00000000", 14, 38, 50, FLOE_DEC_TRUNC_L3},
	{"arp", 1, ETH("0806") ARPREQ, 14, 42, 0, FLOE_DEC_BAD_ARP},
	{"linux sll ipv4 tcp", 113, "0000 0001 0006 020000000001 0000 0800" V4TCP, 16, 36, 56, FLOE_DEC_TRUNC_L3},
	{"linux sll2 ipv6 udp", 276, "86dd 0000 00000002 0001 00 06 020000000001 0000" IP6H("0010", "11") UDPH PAY8,
	 20, 60, 68, FLOE_DEC_TRUNC_L3},
	{"raw ipv6 icmpv6", 101, IP6H("0008", "3a") "8000 0000 0042 0001", 0, 40, 48, FLOE_DEC_TRUNC_L3},
	{"null ipv4 udp", 0, "02000000" IP4H("0024", "0000", "11") UDPH PAY8, 4, 24, 32, FLOE_DEC_TRUNC_L3},
	{"loop ipv6 tcp", 108, "00000018" V6TCP, 4, 44, 64, FLOE_DEC_TRUNC_L3},
};

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int half = -1;
	for (; *s; s++) {
		int v;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			continue;
		if (half < 0) {
			half = v;
		} else if (n < cap) {
			out[n++] = (uint8_t)(half << 4 | v);
			half = -1;
		}
	}
	return n;
}

/* Text address -> 16 bytes, IPv4 v4-mapped, as struct floe_pkt stores it. */
static void addr16(const char *s, uint8_t a[16])
{
	uint8_t v4[4];
	memset(a, 0, 16);
	if (!s)
		return;
	if (inet_pton(AF_INET, s, v4) == 1)
		floe_addr_from_v4(a, v4);
	else if (inet_pton(AF_INET6, s, a) != 1)
		TAP_DIAG("bad address in table: %s", s);
}

#define EQ(field, fmt) do { \
	if (pkt.field != w->field) { \
		TAP_DIAG("  %s: got " fmt ", want " fmt, #field, pkt.field, w->field); \
		ok = 0; \
	} \
} while (0)

static void run_case(const struct tcase *t)
{
	static uint8_t buf[2048];
	size_t n = unhex(t->hex, buf, sizeof(buf));
	uint32_t wire = t->wire ? t->wire : (uint32_t)n;
	const struct want *w = &t->w;
	struct floe_pkt pkt;
	/* Poison first: floe_decode must overwrite every field. */
	memset(&pkt, 0xa5, sizeof(pkt));
	enum floe_dec_result r = floe_decode(&pkt, t->lt, buf, n, wire, 42);
	int ok = 1;
	if (r != w->r) {
		TAP_DIAG("  result: got %s, want %s", floe_dec_result_name(r), floe_dec_result_name(w->r));
		ok = 0;
	}
	if (pkt.ts != 42 || pkt.caplen != n || pkt.wirelen != wire)
		ok = 0;
	if (r == FLOE_DEC_OK && w->r == FLOE_DEC_OK) {
		EQ(flags, "%#x");
		EQ(etype, "%#x");
		EQ(vlan, "%u");
		EQ(ipver, "%u");
		EQ(proto, "%u");
		EQ(tos, "%#x");
		EQ(arp_op, "%u");
		EQ(tcpflags, "%#x");
		EQ(sport, "%u");
		EQ(dport, "%u");
		EQ(icmp_id, "%#x");
		EQ(l3len, "%u");
		EQ(paylen, "%u");
		EQ(fragid, "%#x");
		EQ(fragoff, "%u");
		EQ(frag_more, "%d");
		uint8_t a[16];
		addr16(w->saddr, a);
		if (memcmp(a, pkt.saddr, 16) != 0) {
			TAP_DIAG("  saddr differs");
			ok = 0;
		}
		addr16(w->daddr, a);
		if (memcmp(a, pkt.daddr, 16) != 0) {
			TAP_DIAG("  daddr differs");
			ok = 0;
		}
		if (pkt.ipver == 4 && pkt.ttl != 64)
			ok = 0;
		if (pkt.ipver == 6 && pkt.ttl != 64)
			ok = 0;
		if (!(pkt.flags & FLOE_PKT_L4) && (pkt.seq || pkt.ack || pkt.win))
			ok = 0;
		/* Every Ethernet frame here has dst ...02, src ...01. */
		if (t->lt == 1) {
			static const uint8_t d[6] = {2, 0, 0, 0, 0, 2}, s[6] = {2, 0, 0, 0, 0, 1};
			if (memcmp(pkt.dmac, d, 6) || memcmp(pkt.smac, s, 6)) {
				TAP_DIAG("  macs differ");
				ok = 0;
			}
		}
	}
	TAP_CHECK(ok, "%s", t->name);
}

/* TCP fields beyond ports, and ARP MACs on a cooked link. */
static void run_details(void)
{
	static uint8_t buf[256];
	struct floe_pkt pkt;
	size_t n = unhex(ETH("0800") "45 b8 0028 1234 0000 3f 06 0000 0a000001 0a000002"
	                 "3039 0050 01020304 a0b0c0d0 50 ff 1234 0000 0000", buf, sizeof(buf));
	enum floe_dec_result r = floe_decode(&pkt, 1, buf, n, (uint32_t)n, 0);
	TAP_CHECK(r == FLOE_DEC_OK && pkt.seq == 0x01020304 && pkt.ack == 0xa0b0c0d0 &&
	          pkt.win == 0x1234 && pkt.tcpflags == 0xff && pkt.ttl == 63 && pkt.tos == 0xb8,
	          "tcp seq/ack/window/flags, ttl/tos");

	n = unhex("0000 0001 0006 020000000001 0000 0806" ARPREQ, buf, sizeof(buf));
	r = floe_decode(&pkt, 113, buf, n, (uint32_t)n, 0);
	static const uint8_t sha[6] = {0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}, zero[6] = {0};
	TAP_CHECK(r == FLOE_DEC_OK && memcmp(pkt.smac, sha, 6) == 0 && memcmp(pkt.dmac, zero, 6) == 0 &&
	          pkt.ipver == 0 && pkt.proto == 0, "arp on cooked link: sender/target hardware addresses");

	r = floe_decode(&pkt, 1, NULL, 0, 0, 0);
	TAP_CHECK(r == FLOE_DEC_TRUNC_L2, "NULL frame of length 0");
}

static void run_sweep(const struct sweep *s)
{
	static uint8_t full[2048];
	size_t len = unhex(s->hex, full, sizeof(full));
	size_t l4 = s->l4 ? s->l4 : s->l3;
	int ok = 1;
	for (size_t n = 0; n <= len; n++) {
		/* An exact-size copy, so a sanitizer build sees any overread. */
		uint8_t cut[2048];
		memcpy(cut, full, n);
		struct floe_pkt pkt;
		enum floe_dec_result r = floe_decode(&pkt, s->lt, cut, n, (uint32_t)len, 0);
		enum floe_dec_result want = n < s->l2 ? FLOE_DEC_TRUNC_L2 :
		                            n < s->l3 ? s->mid : FLOE_DEC_OK;
		int good = r == want;
		if (good && r == FLOE_DEC_OK && s->l4) {
			uint16_t f = pkt.flags & (FLOE_PKT_L4 | FLOE_PKT_L4_TRUNC);
			good = f == (n < l4 ? FLOE_PKT_L4_TRUNC : FLOE_PKT_L4);
			/* Lengths come from the IP header, not the capture. */
			if (good && n < l4 && (pkt.sport || pkt.dport || pkt.paylen))
				good = 0;
		}
		if (!good) {
			TAP_DIAG("  %s cut at %zu: got %s flags %#x, want %s", s->name, n,
			         floe_dec_result_name(r), pkt.flags, floe_dec_result_name(want));
			ok = 0;
		}
	}
	TAP_CHECK(ok, "every cut of %s (%zu bytes)", s->name, len);
}

static void run_names(void)
{
	int ok = 1;
	for (int r = 0; r < FLOE_DEC__COUNT; r++) {
		const char *a = floe_dec_result_name((enum floe_dec_result)r);
		if (!a || !*a)
			ok = 0;
		for (int q = 0; q < r && a; q++)
			if (strcmp(a, floe_dec_result_name((enum floe_dec_result)q)) == 0)
				ok = 0;
	}
	TAP_CHECK(ok, "result names are distinct and non-empty");
	TAP_CHECK(strcmp(floe_dec_result_name(FLOE_DEC_NOT_IP), "not-ip") == 0 &&
	          strcmp(floe_dec_result_name(FLOE_DEC_TRUNC_L2), "truncated-l2") == 0 &&
	          strcmp(floe_dec_result_name(FLOE_DEC__COUNT), "unknown") == 0,
	          "stable result names");
	static const int lts[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276};
	ok = 1;
	for (size_t i = 0; i < sizeof(lts) / sizeof(lts[0]); i++)
		ok &= floe_decode_linktype_ok(lts[i]);
	TAP_CHECK(ok && !floe_decode_linktype_ok(105) && !floe_decode_linktype_ok(-1),
	          "floe_decode_linktype_ok");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	for (size_t i = 0; i < sizeof(sweeps) / sizeof(sweeps[0]); i++)
		run_sweep(&sweeps[i]);
	run_details();
	run_names();
	return tap_done();
}
