/*
 * meter.h - decoded packets -> bidirectional flow records.
 *
 * The flow table is open addressing with a keyed hash (util/hash.h) and a
 * hard size limit: when full it flushes the least recently active flows
 * early (FLOE_F_EVICTED) and counts them; its memory never grows past the
 * limit.  Idle timeouts per protocol and the status interval are driven by
 * packet time (so a pcap replays the same way it ran live), through a timer
 * wheel.  IPv4/IPv6 fragments after the first are attributed to their flow
 * through a small bounded fragment table.
 *
 * Direction: the initiator is the sender of the first SYN (TCP), else the
 * sender of the first packet seen; when the TCP start was not seen the
 * record carries FLOE_F_DIRUNK.  States follow Argus (flow.h).
 *
 * Must not depend on: codec, libpcap.
 */
#ifndef FLOE_METER_H
#define FLOE_METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"
#include "err.h"
#include "flow.h"

struct floe_meter;
struct floe_budget;

/* Memory the default table is sized for: flow array + hash table. */
#define FLOE_METER_DEFAULT_MEM ((uint64_t)256 << 20)
/* Largest max_flows accepted (flow indexes are 32-bit). */
#define FLOE_METER_MAX_FLOWS ((uint64_t)1 << 30)

struct floe_meter_config {
	uint64_t max_flows;         /* hard limit of live flows; 0 = default
	                             * (sized for 256 MB) */
	int64_t status_interval;    /* ns; 0 = one record per flow */
	int64_t timeout_tcp;        /* idle timeouts, ns; 0 = defaults */
	int64_t timeout_tcp_closed; /* after FIN/RST both done */
	int64_t timeout_udp;
	int64_t timeout_icmp;
	int64_t timeout_other;
	uint32_t sensor;            /* copied into every record */
	const struct floe_log *log; /* may be NULL */
	/* Appended fields. */
	struct floe_budget *budget; /* charged for the table; may be NULL */
	bool ignore_vlan;           /* true: flows on different VLANs merge
	                             * (Argus's default key); false (default):
	                             * the outer VLAN id is part of the key */
};

/* Fills cfg with the defaults (Argus-like: 60 s status interval,
 * TCP 60 s idle, UDP/other 30 s). */
void floe_meter_config_default(struct floe_meter_config *cfg);

/* Called for every finished or interval record; the record is borrowed for
 * the duration of the call. */
typedef void (*floe_flow_sink)(void *ud, const struct floe_flow *flow);

/* Creates a meter.  Returns NULL and sets *err (NOMEM, INVALID). */
struct floe_meter *floe_meter_create(const struct floe_meter_config *cfg,
                                     floe_flow_sink sink, void *ud,
                                     enum floe_err *err);
void floe_meter_destroy(struct floe_meter *m);

/* Accounts one decoded packet (pkt->ts drives the clock; time going
 * backwards is tolerated and counted).  Emits records whose timers expired. */
void floe_meter_add(struct floe_meter *m, const struct floe_pkt *pkt);

/* Advances the clock without a packet (live capture idle), expiring flows. */
void floe_meter_tick(struct floe_meter *m, int64_t now);

/* Emits every live flow (end of input) and empties the table. */
void floe_meter_flush(struct floe_meter *m);

struct floe_meter_stats {
	uint64_t packets;        /* packets accounted into flows */
	uint64_t flows_created;
	uint64_t records;        /* records emitted */
	uint64_t evicted;        /* flows flushed early because the table was full */
	uint64_t frag_orphans;   /* later fragments with no first fragment */
	uint64_t time_backwards; /* packets older than the clock */
	uint64_t live;           /* flows in the table now */
	uint64_t max_flows;      /* the table's limit */
	size_t mem_bytes;        /* memory held by the table */
};

void floe_meter_stats(const struct floe_meter *m, struct floe_meter_stats *st);

#endif
