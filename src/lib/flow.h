/*
 * flow.h - struct floe_flow, the one record type of floe.
 *
 * A record describes one flow, or one interval of a long flow, between an
 * initiator ("source", s) and a responder ("destination", d).  Every stage
 * speaks it: the meter and the collectors produce it, the block codec stores
 * it, queries filter and aggregate it.  Counters cover [stime, ltime] of this
 * record only, so summing records (status intervals included) is correct.
 *
 * This is the in-memory form.  Its layout is not a file format: the block
 * codec (codec/) stores each field as its own column with a pinned width
 * (docs/format.md), so fields can be appended here without breaking files.
 *
 * Must not depend on anything but the C library.
 */
#ifndef FLOE_FLOW_H
#define FLOE_FLOW_H

#include <stdbool.h>
#include <stdint.h>

/* Connection and ICMP states, in Argus's vocabulary (ra's "state" column). */
enum floe_state {
	FLOE_ST_NONE = 0,
	/* TCP and generic */
	FLOE_ST_REQ,   /* request seen, no answer (TCP SYN only, UDP one way) */
	FLOE_ST_ACC,   /* accepted: SYN/ACK seen, handshake not finished */
	FLOE_ST_CON,   /* connected: traffic both ways / handshake done */
	FLOE_ST_CLO,   /* closed: FIN seen one way */
	FLOE_ST_FIN,   /* finished: FINs both ways */
	FLOE_ST_RST,   /* reset */
	FLOE_ST_TIM,   /* timed out (TCP, after the handshake) */
	FLOE_ST_INT,   /* initial: one-way traffic, not a request */
	/* ICMP (RFC 792) and ICMPv6 (RFC 4443, 4861) */
	FLOE_ST_ECO,   /* echo request (and reply) */
	FLOE_ST_ECR,   /* echo reply only */
	FLOE_ST_URN,   /* net unreachable */
	FLOE_ST_URH,   /* host unreachable */
	FLOE_ST_URP,   /* port unreachable */
	FLOE_ST_URF,   /* fragmentation needed */
	FLOE_ST_URO,   /* protocol / other unreachable */
	FLOE_ST_SRC,   /* source quench */
	FLOE_ST_RED,   /* redirect */
	FLOE_ST_RTA,   /* router advertisement */
	FLOE_ST_RTS,   /* router solicitation */
	FLOE_ST_TXD,   /* time exceeded */
	FLOE_ST_PAR,   /* parameter problem */
	FLOE_ST_TST,   /* timestamp request */
	FLOE_ST_TSR,   /* timestamp reply */
	FLOE_ST_IRQ,   /* information request */
	FLOE_ST_IRR,   /* information reply */
	FLOE_ST_MSK,   /* address mask request */
	FLOE_ST_MSR,   /* address mask reply */
	FLOE_ST_NNS,   /* neighbor solicitation */
	FLOE_ST_NNA,   /* neighbor advertisement */
	FLOE_ST_NRS,   /* router solicitation (v6) */
	FLOE_ST_NRA,   /* router advertisement (v6) */
	FLOE_ST_NRED,  /* redirect (v6) */
	FLOE_ST_MRQ,   /* multicast listener query */
	FLOE_ST_MHR,   /* multicast listener report */
	FLOE_ST_MHD,   /* multicast listener done */
	FLOE_ST_UNK,   /* ICMP type we do not name */
	/* ARP */
	FLOE_ST_RSP,   /* ARP reply without a request */
	FLOE_ST__COUNT
};

/* flags: what the sensor knows about the record's quality and kind. */
enum floe_flow_flag {
	FLOE_F_DIRUNK   = 1u << 0,  /* initiator not seen: direction is a guess */
	FLOE_F_FRAG     = 1u << 1,  /* fragments were seen */
	FLOE_F_FRAGPART = 1u << 2,  /* fragments without a first fragment */
	FLOE_F_RETRANS  = 1u << 3,  /* retransmissions seen */
	FLOE_F_MULTIMAC = 1u << 4,  /* more than one MAC pair seen */
	FLOE_F_SAMPLED  = 1u << 5,  /* counters are estimates from sampling */
	FLOE_F_STATUS   = 1u << 6,  /* interval record: the flow goes on */
	FLOE_F_VLAN     = 1u << 7,  /* vlan is valid */
	FLOE_F_EVICTED  = 1u << 8,  /* flushed early: the flow table was full */
	FLOE_F_MAC      = 1u << 9,  /* smac/dmac are valid */
	FLOE_F_OOO      = 1u << 10, /* out-of-order segments seen */
	FLOE_F_MPLS     = 1u << 11, /* carried in MPLS */
	FLOE_F_TUNNEL   = 1u << 12, /* inner flow of a tunnel */
};

/* Ethertypes floe names (etype field). */
#define FLOE_ETH_IPV4 0x0800
#define FLOE_ETH_ARP  0x0806
#define FLOE_ETH_IPV6 0x86dd

struct floe_flow {
	int64_t stime;          /* first packet, ns since the epoch, UTC */
	int64_t ltime;          /* last packet, ns since the epoch, UTC */
	uint8_t saddr[16];      /* IPv4 stored v4-mapped (::ffff:a.b.c.d) */
	uint8_t daddr[16];
	uint8_t exporter[16];   /* exporting router or agent (exports); :: if none */
	uint8_t nexthop[16];    /* next-hop router (exports); :: if none */
	uint64_t spkts, dpkts;
	uint64_t sbytes, dbytes;       /* bytes on the wire (see docs/records.md) */
	uint64_t sappbytes, dappbytes; /* L4 payload, retransmissions excluded */
	int64_t synack;         /* TCP: SYN -> SYN/ACK, ns; 0 = not measured */
	int64_t ackdat;         /* TCP: SYN/ACK -> ACK, ns; 0 = not measured */
	uint32_t sretrans, dretrans;   /* retransmitted segments */
	uint32_t sooo, dooo;           /* out-of-order segments */
	uint32_t trans;         /* records merged into this one (1 when metered) */
	uint32_t sensor;        /* sensor or exporter id */
	uint32_t inif, outif;   /* router interfaces (exports) */
	uint32_t sas, das;      /* AS numbers (exports) */
	uint32_t sampling;      /* 1-in-N sampling rate; 0 = not sampled */
	uint16_t sport, dport;  /* ICMP: sport = type, dport = code */
	uint16_t etype;         /* ethertype: IPv4, IPv6, ARP */
	uint16_t vlan;          /* 802.1Q id (outermost), valid with FLOE_F_VLAN */
	uint16_t flags;         /* enum floe_flow_flag */
	uint8_t proto;          /* IP protocol; 0 for ARP */
	uint8_t ipver;          /* 4 or 6; 0 for ARP */
	uint8_t state;          /* enum floe_state */
	uint8_t stcpflags, dtcpflags;  /* TCP flags seen, OR per direction */
	uint8_t sttlmin, sttlmax, dttlmin, dttlmax;
	uint8_t stos, dtos;     /* first TOS/traffic class seen */
	uint8_t smac[6], dmac[6];
	uint64_t seq;           /* per-source sequence number (1, 2, ... per sensor id and
	                           producer run), assigned where records are first served;
	                           0 = not numbered (docs/records.md) */
};

/* Argus's three-letter state name ("CON"); "" for FLOE_ST_NONE. */
const char *floe_state_name(unsigned state);
/* Parses a state name, case-insensitive; returns FLOE_ST__COUNT if unknown. */
unsigned floe_state_parse(const char *name);

/* True if the address is an IPv4-mapped IPv6 address. */
static inline bool floe_addr_is_v4(const uint8_t a[16])
{
	static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	for (int i = 0; i < 12; i++)
		if (a[i] != pfx[i])
			return false;
	return true;
}

/* Stores an IPv4 address (network order bytes) v4-mapped into a. */
static inline void floe_addr_from_v4(uint8_t a[16], const uint8_t v4[4])
{
	for (int i = 0; i < 10; i++)
		a[i] = 0;
	a[10] = 0xff;
	a[11] = 0xff;
	a[12] = v4[0];
	a[13] = v4[1];
	a[14] = v4[2];
	a[15] = v4[3];
}

/* Duration in ns, never negative. */
static inline int64_t floe_flow_dur(const struct floe_flow *f)
{
	return f->ltime > f->stime ? f->ltime - f->stime : 0;
}

#endif
