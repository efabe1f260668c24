/*
 * meter_int.h - the flow meter's private state (opaque to users of meter.h).
 *
 * Layout, chosen so the per-packet path touches few cache lines:
 *   - flows: one array of struct mflow, allocated once at create time with
 *     max_flows entries.  Entries are handed out by a bump index and
 *     recycled through a free list, so pages the table never needs are
 *     never touched (calloc of a large block maps zero pages lazily).
 *   - table: open addressing, linear probing, power-of-two capacity of at
 *     least twice max_flows (load <= 0.5).  A slot is the low 32 bits of
 *     the flow's SipHash (its home is tag & mask) and the flow index + 1;
 *     the tag is compared before the key, so a probe rarely touches a flow
 *     it does not want.  Deletion shifts back (no tombstones).
 *   - wheel: WHEEL_SLOTS lists of flows by due time (134 ms slots).  A
 *     flow's due time only moves later while it lives, so it is left where
 *     it is and re-filed when its slot comes up (lazy); the one change that
 *     makes it earlier (TCP close) re-files it at once.
 *   - frags: a direct-mapped cache of first fragments' ports.
 *
 * Must not depend on: anything outside meter/ but util/, decode.h, flow.h.
 */
#ifndef FLOE_METER_INT_H
#define FLOE_METER_INT_H

#include <stdint.h>

#include "meter.h"
#include "util/hash.h"
#include "util/mem.h"

#define WHEEL_SHIFT 27            /* slot width 2^27 ns = 134 ms */
#define WHEEL_SLOTS 8192u         /* 18 minutes ahead */
#define WHEEL_MASK (WHEEL_SLOTS - 1)
#define FRAG_SLOTS 4096u          /* first fragments remembered */
#define NIL UINT32_MAX
#define NOSLOT 0xffffu

/* The flow key in canonical order: endpoint a sorts before endpoint b, so
 * both directions of a flow build the same bytes.  Packed and zeroed so
 * SipHash and memcmp see no padding. */
struct mkey {
	uint8_t a[16], b[16];
	uint16_t ap, bp;     /* ports; ICMP: (id, 0) request, (0, id) reply */
	uint16_t vlan;       /* 0 when the meter ignores VLANs */
	uint16_t etype;
	uint8_t proto;
	uint8_t kind;        /* ICMP: type of the request of a pair, or type */
	uint8_t orphan;      /* 1: fragments without their first fragment */
	uint8_t pad;
};

/* One direction of a flow: counters of the current record, plus the TCP
 * sequence tracking that outlives records. */
struct mdir {
	uint64_t pkts, bytes, appbytes;
	uint32_t retrans, ooo;
	uint32_t nxt;        /* next expected sequence number (seqok) */
	uint8_t tcpflags;    /* OR, this record */
	uint8_t ttlmin, ttlmax, tos;
	uint8_t seqok;
	uint8_t pad[3];
	uint32_t hole_lo, hole_hi; /* one gap left by an out-of-order segment */
};

/* TCP connection progress (mflow.tcpst), cumulative over the flow. */
enum {
	TS_SYN = 1u << 0,     /* SYN from the source */
	TS_SYNACK = 1u << 1,  /* SYN/ACK from the destination */
	TS_EST = 1u << 2,     /* ACK from the source after the SYN/ACK */
	TS_FIN_S = 1u << 3,
	TS_FIN_D = 1u << 4,
	TS_RST = 1u << 5,
	TS_MID = 1u << 6,     /* picked up mid-stream */
};

/* 256 bytes (static_assert in meter.c): four cache lines, the first holds
 * everything a lookup and the timers read. */
struct mflow {
	struct mkey key;
	uint32_t hash;        /* low 32 bits of the key's SipHash */
	uint32_t wnext, wprev;/* wheel list links; wnext chains the free list */
	uint16_t wslot;       /* wheel slot the flow is filed in */
	uint16_t flags;       /* enum floe_flow_flag, sticky over the flow */
	uint16_t sport, dport;/* as recorded (ICMP: type, code) */
	uint8_t src_is_a;     /* 1: the source is key endpoint a */
	uint8_t live;
	uint8_t tcpst;
	uint8_t have_mac;
	uint8_t seen;         /* bit 0: source sent, bit 1: destination sent */
	uint8_t ipver;
	uint16_t vlan;        /* as recorded (first tag seen) */
	uint32_t syn_seq;     /* ISN of the source's SYN (TS_SYN) */
	uint8_t smac[6], dmac[6];
	int64_t rec_stime, rec_ltime; /* the current record */
	int64_t last;         /* latest packet time of the flow */
	int64_t syn_ts, synack_ts;
	int64_t synack, ackdat;
	struct mdir d[2];     /* [0] source, [1] destination */
};

struct mfrag {
	uint8_t s[16], d[16];
	uint32_t fragid;
	uint8_t proto, valid;
	uint16_t sport, dport, icmp_id;
	int64_t ts;
};

struct floe_meter {
	struct floe_meter_config cfg;
	floe_flow_sink sink;
	void *ud;
	struct floe_hashkey hkey;
	struct floe_budget own_budget;
	struct floe_budget *budget;

	struct mflow *flows;
	uint32_t nflows;       /* max_flows */
	uint32_t bump;         /* flows[0..bump) have been handed out once */
	uint32_t free_head;
	uint64_t *table;       /* (tag << 32) | (index + 1); 0 = empty */
	uint32_t tmask;

	uint32_t wheel[WHEEL_SLOTS];  /* first flow of each slot */
	uint32_t wtail[WHEEL_SLOTS];  /* last flow of each slot */
	uint64_t wpos;         /* first slot not yet due */
	uint64_t ehint;        /* no flow is filed in [wpos, ehint) */
	int64_t now;           /* latest packet time */
	int clock_set;

	struct mfrag *frags;

	struct floe_meter_stats st;
};

#endif
