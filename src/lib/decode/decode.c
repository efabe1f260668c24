/*
 * decode.c - one captured frame -> struct floe_pkt (contract in decode.h).
 *
 * Every byte is read through a floe_cursor: a getter that runs off the end
 * marks the cursor bad and returns 0, so each layer reads its fixed header
 * and checks the cursor once.  Layers below the network header are walked
 * by one loop over ethertypes (dec_ethertype) with a depth bound, so a
 * crafted frame of nested VLAN/MPLS/PPPoE tags costs a bounded amount of
 * work and ends as FLOE_DEC_TOO_DEEP.
 *
 * What counts as "decoded": once the IP header could be read the packet is
 * FLOE_DEC_OK, even when the transport header is cut by the snap length
 * (FLOE_PKT_L4_TRUNC).  A flow sensor must count those packets and bytes;
 * dropping them would make volume accounting depend on the snap length.
 *
 * The common case, Ethernet -> IPv4 -> TCP, is a straight line: the IPv4
 * ethertype is tested before anything else and the L4 switch is entered
 * once.  No allocation; the only bulk write is zeroing *pkt.
 *
 * Tunnels (IP-in-IP, GRE, Teredo, ...) are not decapsulated: the outer
 * header is the flow, as Argus and nfdump record it.  The one exception is
 * an Ethernet pseudowire inside MPLS, which is a link layer, not a tunnel
 * endpoint the sensor can see.
 *
 * Must not depend on: meter, codec, libpcap.
 */
#include "decode/decode.h"

#include <string.h>

#include "flow.h"
#include "util/cursor.h"

#if defined(__GNUC__)
#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x)   (x)
#define UNLIKELY(x) (x)
#endif

/* pcap link types (https://www.tcpdump.org/linktypes.html). */
enum {
	DLT_NULL_ = 0,
	DLT_EN10MB_ = 1,
	DLT_RAW_12 = 12,
	DLT_RAW_14 = 14,
	DLT_RAW_101 = 101,
	DLT_LOOP_ = 108,
	DLT_LINUX_SLL_ = 113,
	DLT_IPV4_ = 228,
	DLT_IPV6_ = 229,
	DLT_LINUX_SLL2_ = 276,
};

/* Ethertypes (IEEE registry) beyond the three flow.h names. */
enum {
	ET_VLAN = 0x8100,      /* IEEE 802.1Q C-tag */
	ET_QINQ = 0x88a8,      /* IEEE 802.1ad S-tag */
	ET_QINQ_OLD = 0x9100,  /* pre-802.1ad QinQ, still in the field */
	ET_MPLS = 0x8847,
	ET_MPLS_MC = 0x8848,
	ET_PPPOE_DISC = 0x8863,
	ET_PPPOE_SESS = 0x8864,
};

/* Nested link headers (VLAN tags, MPLS label stacks, PPPoE, pseudowires)
 * allowed before the network header.  Real networks use two or three;
 * the bound only stops crafted frames from walking forever. */
#define MAX_L2_DEPTH 8
/* MPLS labels in one stack (RFC 3032 sets no limit; 16 is generous). */
#define MAX_MPLS_LABELS 16
/* IPv6 extension headers walked before giving up (RFC 8200 sec. 4.1
 * recommends each appear at most once or twice; 16 covers any sane mix). */
#define MAX_IP6_EXT 16

static const char *const result_names[FLOE_DEC__COUNT] = {
	[FLOE_DEC_OK] = "ok",
	[FLOE_DEC_NOT_IP] = "not-ip",
	[FLOE_DEC_LINKTYPE] = "linktype",
	[FLOE_DEC_TRUNC_L2] = "truncated-l2",
	[FLOE_DEC_TRUNC_L3] = "truncated-l3",
	[FLOE_DEC_BAD_IP] = "bad-ip",
	[FLOE_DEC_BAD_IP6EXT] = "bad-ip6-ext",
	[FLOE_DEC_BAD_ARP] = "bad-arp",
	[FLOE_DEC_TOO_DEEP] = "too-deep",
};

const char *floe_dec_result_name(enum floe_dec_result r)
{
	if ((unsigned)r >= FLOE_DEC__COUNT)
		return "unknown";
	return result_names[r];
}

bool floe_decode_linktype_ok(int linktype)
{
	switch (linktype) {
	case DLT_NULL_: case DLT_EN10MB_: case DLT_RAW_12: case DLT_RAW_14:
	case DLT_RAW_101: case DLT_LOOP_: case DLT_LINUX_SLL_: case DLT_IPV4_:
	case DLT_IPV6_: case DLT_LINUX_SLL2_:
		return true;
	default:
		return false;
	}
}

/* The next byte without consuming it; false if there is none.  A copy of
 * the cursor keeps the caller's cursor untouched (and not marked bad). */
static inline bool cur_peek8(const struct floe_cursor *c, uint8_t *b)
{
	struct floe_cursor t = *c;
	*b = floe_cur_u8(&t);
	return !t.bad;
}

/* A sub-cursor over the next min(n, left) bytes, consumed from c.  Used to
 * bound L4 parsing by the IP lengths, so Ethernet padding after a short
 * IP packet is never read as transport header or payload. */
static inline struct floe_cursor cur_sub(struct floe_cursor *c, size_t n)
{
	size_t left = floe_cur_left(c);
	if (n > left)
		n = left;
	const uint8_t *q = floe_cur_take(c, n);
	return floe_cursor_make(q, q ? n : 0);
}

/* ------------------------------------------------------------------ L4 */

/*
 * Transport header.  l4 covers the captured part of the IP payload; ipay
 * is the payload length the IP header(s) claim.  Fills ports and TCP
 * fields with FLOE_PKT_L4, or sets FLOE_PKT_L4_TRUNC (ports stay 0) when
 * the fixed header was not captured or does not fit in ipay.  paylen is
 * the payload after the transport header per the IP lengths; 0 when the
 * transport header could not be decoded, since its length is unknown.
 */
static inline void dec_l4(struct floe_pkt *pkt, struct floe_cursor *l4, uint32_t ipay)
{
	switch (pkt->proto) {
	case 6: {
		/* TCP, RFC 9293 sec. 3.1.  Options need not be captured: the
		 * fixed 20 bytes must be, and data offset gives the rest. */
		uint16_t sp = floe_cur_be16(l4);
		uint16_t dp = floe_cur_be16(l4);
		uint32_t seq = floe_cur_be32(l4);
		uint32_t ack = floe_cur_be32(l4);
		uint8_t off = floe_cur_u8(l4);
		uint8_t fl = floe_cur_u8(l4);
		uint16_t win = floe_cur_be16(l4);
		floe_cur_skip(l4, 4);   /* checksum, urgent pointer */
		uint32_t hl = (uint32_t)(off >> 4) * 4;
		if (UNLIKELY(l4->bad || hl < 20 || hl > ipay))
			goto trunc;
		pkt->sport = sp;
		pkt->dport = dp;
		pkt->seq = seq;
		pkt->ack = ack;
		pkt->tcpflags = fl;
		pkt->win = win;
		pkt->paylen = ipay - hl;
		pkt->flags |= FLOE_PKT_L4;
		return;
	}
	case 17:   /* UDP, RFC 768 */
	case 136: { /* UDP-Lite, RFC 3828 sec. 3: same ports and header size */
		uint16_t sp = floe_cur_be16(l4);
		uint16_t dp = floe_cur_be16(l4);
		floe_cur_skip(l4, 4);   /* length (or coverage), checksum */
		if (UNLIKELY(l4->bad || ipay < 8))
			goto trunc;
		pkt->sport = sp;
		pkt->dport = dp;
		pkt->paylen = ipay - 8;
		pkt->flags |= FLOE_PKT_L4;
		return;
	}
	case 132: {
		/* SCTP common header, RFC 9260 sec. 3.1: ports, verification
		 * tag, checksum.  Chunks are payload for accounting. */
		uint16_t sp = floe_cur_be16(l4);
		uint16_t dp = floe_cur_be16(l4);
		floe_cur_skip(l4, 8);
		if (UNLIKELY(l4->bad || ipay < 12))
			goto trunc;
		pkt->sport = sp;
		pkt->dport = dp;
		pkt->paylen = ipay - 12;
		pkt->flags |= FLOE_PKT_L4;
		return;
	}
	case 1:
	case 58: {
		/* ICMP (RFC 792) and ICMPv6 (RFC 4443 sec. 2.1): type, code,
		 * checksum, then 4 bytes whose meaning depends on the type;
		 * every message has them, so the header is 8 bytes.  Type and
		 * code go to sport/dport as Argus and nfdump do. */
		uint8_t type = floe_cur_u8(l4);
		uint8_t code = floe_cur_u8(l4);
		floe_cur_skip(l4, 2);
		uint16_t id = floe_cur_be16(l4);
		floe_cur_skip(l4, 2);
		if (UNLIKELY(l4->bad || ipay < 8))
			goto trunc;
		pkt->sport = type;
		pkt->dport = code;
		if (pkt->proto == 1) {
			/* RFC 792: echo 8/0, timestamp 13/14, information
			 * 15/16; RFC 950: address mask 17/18 carry an
			 * identifier the replies echo. */
			if (type == 0 || type == 8 || (type >= 13 && type <= 18))
				pkt->icmp_id = id;
		} else if (type == 128 || type == 129) {
			/* RFC 4443 sec. 4.1/4.2: echo request/reply */
			pkt->icmp_id = id;
		}
		pkt->paylen = ipay - 8;
		pkt->flags |= FLOE_PKT_L4;
		return;
	}
	default:
		/* GRE (47, RFC 2784), ESP, IP-in-IP and the rest: the flow is
		 * (addresses, proto); everything after the IP header(s) is
		 * payload.  The inner packet of a tunnel is not decoded. */
		pkt->paylen = ipay;
		return;
	}
trunc:
	pkt->flags |= FLOE_PKT_L4_TRUNC;
	pkt->paylen = 0;
}

/* ------------------------------------------------------------------ IPv4 */

/*
 * IPv4, RFC 791 sec. 3.1.  pkt->wirelen is used only to estimate the
 * length of a TSO/GSO packet whose total length field is 0 (as tcpdump's
 * print-ip.c does).  fragid is the identification of every packet, not
 * only of fragments (decode.h: "IPv4 id"); FLOE_PKT_FRAG says whether it
 * matters for reassembly.
 */
static inline enum floe_dec_result dec_ipv4(struct floe_pkt *pkt, struct floe_cursor *c)
{
	size_t start = c->off;
	uint8_t vhl = floe_cur_u8(c);
	uint8_t tos = floe_cur_u8(c);
	uint32_t tot = floe_cur_be16(c);
	uint16_t id = floe_cur_be16(c);
	uint16_t frag = floe_cur_be16(c);
	uint8_t ttl = floe_cur_u8(c);
	uint8_t proto = floe_cur_u8(c);
	floe_cur_skip(c, 2);   /* header checksum: not verified, NICs offload it */
	const uint8_t *src = floe_cur_take(c, 4);
	const uint8_t *dst = floe_cur_take(c, 4);
	if (UNLIKELY(c->bad))
		return FLOE_DEC_TRUNC_L3;
	uint32_t hl = (uint32_t)(vhl & 0x0f) * 4;
	if (UNLIKELY((vhl >> 4) != 4 || hl < 20))
		return FLOE_DEC_BAD_IP;
	/* Options: skipped, but they must be captured to find the L4 header. */
	if (UNLIKELY(!floe_cur_skip(c, hl - 20)))
		return FLOE_DEC_TRUNC_L3;
	if (UNLIKELY(tot < hl)) {
		/* Total length 0 is what a capture on the sending host shows
		 * for a TSO/GSO super-packet (and Linux BIG TCP); take the
		 * frame's remaining wire length instead of dropping it. */
		if (tot != 0 || pkt->wirelen < start + hl)
			return FLOE_DEC_BAD_IP;
		tot = (uint32_t)(pkt->wirelen - start);
		if (tot > 0xffff)
			tot = 0xffff;
	}

	pkt->etype = FLOE_ETH_IPV4;
	pkt->ipver = 4;
	pkt->tos = tos;
	pkt->ttl = ttl;
	pkt->proto = proto;
	floe_addr_from_v4(pkt->saddr, src);
	floe_addr_from_v4(pkt->daddr, dst);
	pkt->l3len = tot;
	pkt->fragid = id;
	uint32_t ipay = tot - hl;

	/* Flags and fragment offset (RFC 791 sec. 3.1; offset in 8-octet
	 * units).  DF alone is not a fragment. */
	if (UNLIKELY(frag & 0x3fff)) {
		pkt->flags |= FLOE_PKT_FRAG;
		pkt->fragoff = (uint16_t)((frag & 0x1fff) * 8);
		pkt->frag_more = (frag & 0x2000) != 0;
		if (pkt->fragoff != 0) {
			/* Later fragments carry no transport header. */
			pkt->paylen = ipay;
			return FLOE_DEC_OK;
		}
		pkt->flags |= FLOE_PKT_FRAG_FIRST;
	}
	/* Snap-length cut: L4 uses what was captured, lengths stay per IP. */
	struct floe_cursor l4 = cur_sub(c, ipay);
	dec_l4(pkt, &l4, ipay);
	return FLOE_DEC_OK;
}

/* ------------------------------------------------------------------ IPv6 */

/*
 * IPv6, RFC 8200 sec. 3, with the extension header chain of sec. 4.
 * An extension header that runs past the payload length is a broken
 * chain (BAD_IP6EXT); one that runs past the captured bytes is a snap
 * length cut: the packet is counted (OK, L4_TRUNC) with proto set to the
 * header the walk stopped at.
 */
static enum floe_dec_result dec_ipv6(struct floe_pkt *pkt, struct floe_cursor *c)
{
	size_t start = c->off;
	uint32_t w0 = floe_cur_be32(c);
	uint32_t plen = floe_cur_be16(c);
	uint8_t nh = floe_cur_u8(c);
	uint8_t hlim = floe_cur_u8(c);
	const uint8_t *src = floe_cur_take(c, 16);
	const uint8_t *dst = floe_cur_take(c, 16);
	if (UNLIKELY(c->bad))
		return FLOE_DEC_TRUNC_L3;
	if (UNLIKELY((w0 >> 28) != 6))
		return FLOE_DEC_BAD_IP;

	pkt->etype = FLOE_ETH_IPV6;
	pkt->ipver = 6;
	pkt->tos = (uint8_t)(w0 >> 20);   /* traffic class */
	pkt->ttl = hlim;
	memcpy(pkt->saddr, src, 16);
	memcpy(pkt->daddr, dst, 16);

	if (UNLIKELY(plen == 0 && nh != 59)) {
		/* Payload length 0 with a payload: a jumbogram (RFC 2675) or
		 * a GSO/BIG TCP packet seen on the sending host.  The frame's
		 * wire length is the best measure of what was sent. */
		size_t wire_left = pkt->wirelen > start + 40 ? pkt->wirelen - start - 40 : 0;
		size_t cap_left = floe_cur_left(c);
		size_t guess = wire_left > cap_left ? wire_left : cap_left;
		plen = guess > 0xffffffffu - 40 ? 0xffffffffu - 40 : (uint32_t)guess;
	}
	pkt->l3len = 40 + plen;

	struct floe_cursor l4 = cur_sub(c, plen);
	uint32_t ipay = plen;   /* payload length left per the header */
	for (int n = 0;; n++) {
		size_t hlen;
		switch (nh) {
		case 0:    /* Hop-by-Hop Options, sec. 4.3 */
		case 43:   /* Routing, sec. 4.4 */
		case 60:   /* Destination Options, sec. 4.6 */
		case 51: { /* Authentication Header, RFC 4302 sec. 2.2 */
			/* Next Header, then a length: for AH in 4-octet units
			 * minus 2, for the others in 8-octet units not counting
			 * the first 8. */
			struct floe_cursor t = l4;
			uint8_t next = floe_cur_u8(&t);
			uint8_t len = floe_cur_u8(&t);
			if (ipay < 2)
				return FLOE_DEC_BAD_IP6EXT;
			if (t.bad)
				goto trunc;
			hlen = nh == 51 ? ((size_t)len + 2) * 4 : ((size_t)len + 1) * 8;
			if (hlen > ipay)
				return FLOE_DEC_BAD_IP6EXT;
			if (!floe_cur_skip(&l4, hlen))
				goto trunc;
			nh = next;
			ipay -= (uint32_t)hlen;
			break;
		}
		case 44: { /* Fragment, sec. 4.5: 8 bytes */
			if (ipay < 8)
				return FLOE_DEC_BAD_IP6EXT;
			uint8_t next = floe_cur_u8(&l4);
			floe_cur_skip(&l4, 1);
			uint16_t offm = floe_cur_be16(&l4);
			uint32_t id = floe_cur_be32(&l4);
			if (l4.bad)
				goto trunc;
			ipay -= 8;
			nh = next;
			pkt->fragid = id;
			pkt->fragoff = (uint16_t)(offm & 0xfff8);  /* 8-octet units << 3 */
			pkt->frag_more = (offm & 1) != 0;
			if (pkt->fragoff == 0 && !pkt->frag_more) {
				/* An atomic fragment (RFC 6946 sec. 4) is a
				 * whole packet: it is not reassembled, so it
				 * is not flagged as a fragment. */
				break;
			}
			pkt->flags |= FLOE_PKT_FRAG;
			if (pkt->fragoff != 0) {
				pkt->proto = nh;
				pkt->paylen = ipay;
				return FLOE_DEC_OK;
			}
			pkt->flags |= FLOE_PKT_FRAG_FIRST;
			break;
		}
		case 50:   /* ESP (RFC 4303): encrypted from here, no ports */
		case 59:   /* No Next Header, sec. 4.7 */
		default:   /* an upper-layer protocol */
			pkt->proto = nh;
			dec_l4(pkt, &l4, ipay);
			return FLOE_DEC_OK;
		}
		if (n + 1 >= MAX_IP6_EXT)
			return FLOE_DEC_BAD_IP6EXT;
	}
trunc:
	pkt->proto = nh;
	pkt->flags |= FLOE_PKT_L4_TRUNC;
	pkt->paylen = 0;
	return FLOE_DEC_OK;
}

/* ------------------------------------------------------------------ ARP */

/*
 * ARP, RFC 826: only Ethernet (hardware type 1, 6-byte addresses) over
 * IPv4 (0x0800, 4-byte addresses), the only kind whose addresses fit a
 * flow record.  saddr/daddr are the sender/target protocol addresses.
 * The MACs stay those of the Ethernet header when there is one; on a
 * cooked link (no Ethernet header) the ARP hardware addresses are used.
 */
static enum floe_dec_result dec_arp(struct floe_pkt *pkt, struct floe_cursor *c)
{
	uint16_t htype = floe_cur_be16(c);
	uint16_t ptype = floe_cur_be16(c);
	uint8_t hlen = floe_cur_u8(c);
	uint8_t plen = floe_cur_u8(c);
	uint16_t op = floe_cur_be16(c);
	const uint8_t *sha = floe_cur_take(c, 6);
	const uint8_t *spa = floe_cur_take(c, 4);
	const uint8_t *tha = floe_cur_take(c, 6);
	const uint8_t *tpa = floe_cur_take(c, 4);
	if (c->bad || htype != 1 || ptype != FLOE_ETH_IPV4 || hlen != 6 || plen != 4)
		return FLOE_DEC_BAD_ARP;
	pkt->etype = FLOE_ETH_ARP;
	pkt->flags |= FLOE_PKT_ARP;
	pkt->arp_op = op > 0xff ? 0 : (uint8_t)op;
	floe_addr_from_v4(pkt->saddr, spa);
	floe_addr_from_v4(pkt->daddr, tpa);
	if (!(pkt->flags & FLOE_PKT_MAC)) {
		memcpy(pkt->smac, sha, 6);
		memcpy(pkt->dmac, tha, 6);
		pkt->flags |= FLOE_PKT_MAC;
	}
	return FLOE_DEC_OK;
}

/* ------------------------------------------------------------------ L2 */

/*
 * An Ethernet header: IEEE 802.3 sec. 3.2 (Ethernet II when the type/length
 * field is >= 0x0600), or 802.3 length + IEEE 802.2 LLC, where only SNAP
 * (AA-AA-03) with an ethertype OUI (RFC 1042 00-00-00, 802.1H 00-00-F8)
 * carries a protocol floe meters.  MACs are recorded only for the
 * outermost header.  Sets *et and returns OK, or the reason to stop.
 */
static inline enum floe_dec_result dec_eth_hdr(struct floe_pkt *pkt, struct floe_cursor *c,
                                               uint16_t *et)
{
	const uint8_t *dmac = floe_cur_take(c, 6);
	const uint8_t *smac = floe_cur_take(c, 6);
	uint16_t t = floe_cur_be16(c);
	if (UNLIKELY(c->bad))
		return FLOE_DEC_TRUNC_L2;
	if (!(pkt->flags & FLOE_PKT_MAC)) {
		memcpy(pkt->dmac, dmac, 6);
		memcpy(pkt->smac, smac, 6);
		pkt->flags |= FLOE_PKT_MAC;
	}
	if (LIKELY(t >= 0x0600)) {
		*et = t;
		return FLOE_DEC_OK;
	}
	if (t > 1500)   /* 1501..1535: neither length nor type */
		return FLOE_DEC_NOT_IP;
	uint8_t dsap = floe_cur_u8(c);
	uint8_t ssap = floe_cur_u8(c);
	uint8_t ctl = floe_cur_u8(c);
	if (c->bad)
		return FLOE_DEC_TRUNC_L2;
	if (dsap != 0xaa || ssap != 0xaa || ctl != 0x03)
		return FLOE_DEC_NOT_IP;   /* plain LLC: STP, NetBIOS, IPX... */
	uint32_t oui = (uint32_t)floe_cur_u8(c) << 16;
	oui |= floe_cur_be16(c);
	t = floe_cur_be16(c);
	if (c->bad)
		return FLOE_DEC_TRUNC_L2;
	if (oui != 0x000000 && oui != 0x0000f8)
		return FLOE_DEC_NOT_IP;   /* vendor protocol (CDP, ...) */
	*et = t;
	return FLOE_DEC_OK;
}

/*
 * Walks link headers by ethertype until a network header.  depth counts
 * nested link headers (VLAN tags, MPLS stacks, PPPoE, pseudowires).
 */
static enum floe_dec_result dec_ethertype(struct floe_pkt *pkt, struct floe_cursor *c,
                                          uint16_t et)
{
	for (unsigned depth = 0;;) {
		if (LIKELY(et == FLOE_ETH_IPV4))
			return dec_ipv4(pkt, c);
		switch (et) {
		case FLOE_ETH_IPV6:
			return dec_ipv6(pkt, c);
		case FLOE_ETH_ARP:
			return dec_arp(pkt, c);
		case ET_VLAN:
		case ET_QINQ:
		case ET_QINQ_OLD: {
			/* IEEE 802.1Q tag: PCP/DEI/VID, then the next type.
			 * VID 0 is a priority tag, not a VLAN (802.1Q
			 * table 9-2), so the outermost non-zero VID is the
			 * one recorded. */
			uint16_t tci = floe_cur_be16(c);
			et = floe_cur_be16(c);
			if (c->bad)
				return FLOE_DEC_TRUNC_L2;
			if (!(pkt->flags & FLOE_PKT_VLAN) && (tci & 0x0fff) != 0) {
				pkt->vlan = tci & 0x0fff;
				pkt->flags |= FLOE_PKT_VLAN;
			}
			break;
		}
		case ET_MPLS:
		case ET_MPLS_MC: {
			/* RFC 3032 sec. 2.1: 4-byte label stack entries until
			 * the bottom-of-stack bit.  The payload type is not
			 * signalled; guess it from the first nibble as routers'
			 * load balancers do (RFC 4928 sec. 2): 4 IPv4, 6
			 * IPv6, 0 a pseudowire control word (RFC 4385 sec. 3)
			 * before an Ethernet frame (RFC 4448). */
			pkt->flags |= FLOE_PKT_MPLS;
			uint32_t lse = 0;
			for (int n = 0; !(lse & 0x100); n++) {
				if (n >= MAX_MPLS_LABELS)
					return FLOE_DEC_TOO_DEEP;
				lse = floe_cur_be32(c);
				if (c->bad)
					return FLOE_DEC_TRUNC_L2;
			}
			uint8_t b;
			if (!cur_peek8(c, &b))
				return FLOE_DEC_TRUNC_L2;
			switch (b >> 4) {
			case 4:
				et = FLOE_ETH_IPV4;
				break;
			case 6:
				et = FLOE_ETH_IPV6;
				break;
			case 0: {
				if (!floe_cur_skip(c, 4))
					return FLOE_DEC_TRUNC_L2;
				enum floe_dec_result r = dec_eth_hdr(pkt, c, &et);
				if (r != FLOE_DEC_OK)
					return r;
				break;
			}
			default:
				return FLOE_DEC_NOT_IP;
			}
			break;
		}
		case ET_PPPOE_SESS: {
			/* RFC 2516 sec. 4: VER/TYPE (1/1), CODE 0 for session
			 * data, SESSION_ID, LENGTH; then the PPP protocol
			 * field (RFC 1661 sec. 2), which may be compressed to
			 * one byte (sec. 6.5: an odd first byte). */
			uint8_t vt = floe_cur_u8(c);
			uint8_t code = floe_cur_u8(c);
			floe_cur_skip(c, 4);
			uint8_t b;
			if (c->bad || !cur_peek8(c, &b))
				return FLOE_DEC_TRUNC_L2;
			if (vt != 0x11 || code != 0)
				return FLOE_DEC_NOT_IP;
			uint16_t pp = (b & 1) ? floe_cur_u8(c) : floe_cur_be16(c);
			if (c->bad)
				return FLOE_DEC_TRUNC_L2;
			if (pp == 0x0021)
				et = FLOE_ETH_IPV4;
			else if (pp == 0x0057)
				et = FLOE_ETH_IPV6;
			else
				return FLOE_DEC_NOT_IP;   /* LCP, IPCP, CHAP... */
			break;
		}
		default:
			/* PPPoE discovery, LLDP, EAPOL, loopback, IPX, ... */
			return FLOE_DEC_NOT_IP;
		}
		if (UNLIKELY(++depth >= MAX_L2_DEPTH))
			return FLOE_DEC_TOO_DEEP;
	}
}

/* Raw IP: the version nibble says which. */
static enum floe_dec_result dec_raw(struct floe_pkt *pkt, struct floe_cursor *c)
{
	uint8_t b;
	if (!cur_peek8(c, &b))
		return FLOE_DEC_TRUNC_L3;
	switch (b >> 4) {
	case 4:
		return dec_ipv4(pkt, c);
	case 6:
		return dec_ipv6(pkt, c);
	default:
		return FLOE_DEC_BAD_IP;
	}
}

/* BSD AF_ values as they appear in NULL/LOOP headers.  AF_INET6 differs
 * between BSDs: 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS). */
static enum floe_dec_result af_to_ip(struct floe_pkt *pkt, struct floe_cursor *c, uint32_t af)
{
	switch (af) {
	case 2:
		return dec_ipv4(pkt, c);
	case 24: case 28: case 30:
		return dec_ipv6(pkt, c);
	default:
		return FLOE_DEC_NOT_IP;
	}
}

/* Linux cooked protocol field: an ethertype, except the small values
 * (ETH_P_802_3 1, ETH_P_802_2 4, ...) that mean "an LLC frame follows" or
 * a protocol with no ethertype; none of those carry IP floe meters.
 * ARPHRD_NETLINK (824) frames carry netlink families, not ethertypes. */
static enum floe_dec_result dec_sll_proto(struct floe_pkt *pkt, struct floe_cursor *c,
                                          uint16_t hatype, uint16_t proto)
{
	if (hatype == 824 || proto < 0x0600)
		return FLOE_DEC_NOT_IP;
	return dec_ethertype(pkt, c, proto);
}

enum floe_dec_result floe_decode(struct floe_pkt *pkt, int linktype,
                                 const uint8_t *p, size_t caplen,
                                 uint32_t wirelen, int64_t ts)
{
	/* Copied from a zero constant, not memset: GCC turns a memset (or a
	 * compound literal) of this size into `rep stosq`, whose start-up
	 * cost was a third of the whole decode; the copy becomes a few
	 * vector moves. */
	static const struct floe_pkt zero_pkt;
	*pkt = zero_pkt;
	pkt->ts = ts;
	pkt->wirelen = wirelen;
	pkt->caplen = caplen > 0xffffffffu ? 0xffffffffu : (uint32_t)caplen;
	struct floe_cursor c = floe_cursor_make(p, p ? caplen : 0);

	if (LIKELY(linktype == DLT_EN10MB_)) {
		uint16_t et = 0;
		enum floe_dec_result r = dec_eth_hdr(pkt, &c, &et);
		if (UNLIKELY(r != FLOE_DEC_OK))
			return r;
		return dec_ethertype(pkt, &c, et);
	}
	switch (linktype) {
	case DLT_LINUX_SLL_: {
		/* LINKTYPE_LINUX_SLL: packet type, ARPHRD_ type, address
		 * length, 8 address bytes, protocol. */
		floe_cur_skip(&c, 2);
		uint16_t hatype = floe_cur_be16(&c);
		floe_cur_skip(&c, 10);
		uint16_t proto = floe_cur_be16(&c);
		if (c.bad)
			return FLOE_DEC_TRUNC_L2;
		return dec_sll_proto(pkt, &c, hatype, proto);
	}
	case DLT_LINUX_SLL2_: {
		/* LINKTYPE_LINUX_SLL2: protocol, reserved, interface index,
		 * ARPHRD_ type, packet type, address length, 8 address
		 * bytes. */
		uint16_t proto = floe_cur_be16(&c);
		floe_cur_skip(&c, 6);
		uint16_t hatype = floe_cur_be16(&c);
		floe_cur_skip(&c, 10);
		if (c.bad)
			return FLOE_DEC_TRUNC_L2;
		return dec_sll_proto(pkt, &c, hatype, proto);
	}
	case DLT_RAW_12:
	case DLT_RAW_14:
	case DLT_RAW_101:
		return dec_raw(pkt, &c);
	case DLT_IPV4_:
		return dec_ipv4(pkt, &c);
	case DLT_IPV6_:
		return dec_ipv6(pkt, &c);
	case DLT_NULL_: {
		/* The AF_ value is in the capturing machine's byte order,
		 * which the file does not record: try both.  The values are
		 * small, so the orders cannot be confused. */
		uint32_t af = floe_cur_le32(&c);
		if (c.bad)
			return FLOE_DEC_TRUNC_L2;
		if (af > 0xffff)
			af = (af >> 24) | ((af >> 8) & 0xff00) |
			     ((af << 8) & 0xff0000) | (af << 24);
		return af_to_ip(pkt, &c, af);
	}
	case DLT_LOOP_: {
		/* OpenBSD loop: the AF_ value in network byte order. */
		uint32_t af = floe_cur_be32(&c);
		if (c.bad)
			return FLOE_DEC_TRUNC_L2;
		return af_to_ip(pkt, &c, af);
	}
	default:
		return FLOE_DEC_LINKTYPE;
	}
}
