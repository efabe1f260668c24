/*
 * decode.h - packet bytes -> struct floe_pkt.
 *
 * Stateless and bounds-checked: every layer is read through a checked
 * cursor (util/cursor.h); a packet that cannot be decoded yields a reason
 * code, counted by the caller, never a crash.  Fragment reassembly of ports
 * and flow state live in the meter; the decoder only reports what one
 * packet says.
 *
 * Layers: Ethernet II / 802.3 (LLC/SNAP), 802.1Q and QinQ (0x8100, 0x88a8,
 * 0x9100), MPLS (RFC 3032, IP guessed from the first nibble below the
 * bottom of stack), PPPoE session (RFC 2516), Linux cooked v1 and v2, raw
 * IPv4/IPv6, BSD null/loopback; ARP (RFC 826); IPv4 (RFC 791) with
 * fragments; IPv6 (RFC 8200) with extension headers and fragments; TCP,
 * UDP, ICMP (RFC 792), ICMPv6 (RFC 4443), SCTP (RFC 9260), GRE (RFC 2784,
 * recorded as its own flow, proto 47).
 *
 * Must not depend on: meter, codec, libpcap (link types are DLT_ numbers).
 */
#ifndef FLOE_DECODE_H
#define FLOE_DECODE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* Why a packet produced no flow key.  FLOE_DEC_OK means pkt is filled. */
enum floe_dec_result {
	FLOE_DEC_OK = 0,
	FLOE_DEC_NOT_IP,        /* valid frame of a protocol floe does not meter */
	FLOE_DEC_LINKTYPE,      /* link type not supported */
	FLOE_DEC_TRUNC_L2,      /* capture ends inside the link header(s) */
	FLOE_DEC_TRUNC_L3,      /* ... inside the IP header */
	FLOE_DEC_BAD_IP,        /* bad version, header length, total length */
	FLOE_DEC_BAD_IP6EXT,    /* IPv6 extension header chain broken */
	FLOE_DEC_BAD_ARP,       /* ARP header truncated or not IPv4-over-Ethernet */
	FLOE_DEC_TOO_DEEP,      /* too many encapsulations (VLAN/MPLS/PPPoE) */
	FLOE_DEC__COUNT
};

/* Short stable name of a result, for --stats ("truncated-l3"). */
const char *floe_dec_result_name(enum floe_dec_result r);

enum floe_pkt_flag {
	FLOE_PKT_VLAN     = 1u << 0,  /* vlan valid */
	FLOE_PKT_MAC      = 1u << 1,  /* smac/dmac valid */
	FLOE_PKT_FRAG     = 1u << 2,  /* a fragment (v4 or v6) */
	FLOE_PKT_FRAG_FIRST = 1u << 3,/* ... the first one (offset 0): ports valid */
	FLOE_PKT_L4       = 1u << 4,  /* L4 header decoded: ports/tcp fields valid */
	FLOE_PKT_L4_TRUNC = 1u << 5,  /* L4 header cut by the snap length */
	FLOE_PKT_MPLS     = 1u << 6,
	FLOE_PKT_ARP      = 1u << 7,  /* ARP: saddr/daddr are sender/target IP */
};

/* ARP operations (pkt.arp_op). */
#define FLOE_ARP_REQUEST 1
#define FLOE_ARP_REPLY   2

struct floe_pkt {
	int64_t ts;               /* ns since the epoch */
	uint32_t wirelen;         /* frame length on the wire (pcap len) */
	uint32_t caplen;
	uint16_t flags;           /* enum floe_pkt_flag */
	uint16_t etype;           /* FLOE_ETH_IPV4 / _IPV6 / _ARP (flow.h) */
	uint16_t vlan;            /* outermost 802.1Q id */
	uint8_t smac[6], dmac[6];
	uint8_t ipver;            /* 4 or 6; 0 for ARP */
	uint8_t proto;            /* L4 protocol after extension headers */
	uint8_t ttl, tos;         /* TTL/hop limit, TOS/traffic class */
	uint8_t saddr[16], daddr[16];  /* v4-mapped for IPv4 */
	uint16_t sport, dport;    /* TCP/UDP/SCTP ports; ICMP: type, code */
	uint16_t icmp_id;         /* ICMP/ICMPv6 echo identifier */
	uint8_t tcpflags;         /* TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE CWR) */
	uint8_t arp_op;           /* ARP operation */
	uint32_t seq, ack;        /* TCP sequence and acknowledgment numbers */
	uint16_t win;             /* TCP window */
	uint32_t l3len;           /* IP total length (v4) or 40 + payload length (v6) */
	uint32_t paylen;          /* L4 payload bytes per the IP lengths (not caplen);
	                           * for non-first fragments: the fragment's data */
	uint32_t fragid;          /* IPv4 id or IPv6 fragment identification */
	uint16_t fragoff;         /* fragment offset in bytes */
	bool frag_more;           /* more fragments follow */
};

/* TCP flag bits */
#define FLOE_TCP_FIN 0x01
#define FLOE_TCP_SYN 0x02
#define FLOE_TCP_RST 0x04
#define FLOE_TCP_PSH 0x08
#define FLOE_TCP_ACK 0x10
#define FLOE_TCP_URG 0x20
#define FLOE_TCP_ECE 0x40
#define FLOE_TCP_CWR 0x80

/*
 * Decodes one captured frame.
 *   linktype: a pcap DLT_ value (1 EN10MB, 113 LINUX_SLL, 276 LINUX_SLL2,
 *             12/14/101 RAW, 228 IPV4, 229 IPV6, 0 NULL, 108 LOOP).
 *   p, caplen: the captured bytes; wirelen: the original length; ts: ns.
 * Fills *pkt and returns FLOE_DEC_OK, or returns the reason it could not.
 * *pkt is fully overwritten either way (zeroed first).
 */
enum floe_dec_result floe_decode(struct floe_pkt *pkt, int linktype,
                                 const uint8_t *p, size_t caplen,
                                 uint32_t wirelen, int64_t ts);

/* True if floe_decode supports the link type. */
bool floe_decode_linktype_ok(int linktype);

#endif
