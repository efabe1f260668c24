/*
 * top.h - the table behind a live top view (floe top, like Argus ratop;
 * docs/top.md): flows seen recently, with their counters and their rate
 * over the last interval, shown grouped by a key chosen at view time.
 *
 * Records are merged per flow (protocol, addresses, ports) into a table
 * of at most max_flows rows; when it is full the flow idle longest is
 * evicted (least recently updated; counted in stats), so memory is
 * bounded: 152 bytes a flow (an array grown by doubling) plus 4 per hash
 * bucket, charged to the budget.  A view groups the flows by the key asked for (the flow itself,
 * saddr, daddr, dport, proto), keeps those a predicate accepts (a compiled
 * filter, applied to each flow's merged record), sorts the groups by any
 * column and returns the first ones, with totals of all of them.  Since
 * the table keeps flows, switching the key or the filter shows the past
 * at once.
 *
 * Rates: floe_top_tick closes an interval; a flow's bit/s and packet/s
 * are what it added during the last closed interval over that interval's
 * length (times are the caller's: record time when replaying, the clock
 * when live).  A record counts whole in the interval it arrives in.
 *
 * Must not depend on: codec, filter, archive, the CLI.
 */
#ifndef FLOE_GRAPH_TOP_H
#define FLOE_GRAPH_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flow.h"

struct floe_budget;

#define FLOE_TOP_DEFAULT_FLOWS 100000

enum floe_top_key {
	FLOE_TOPK_FLOW,   /* proto saddr sport daddr dport */
	FLOE_TOPK_SADDR,
	FLOE_TOPK_DADDR,
	FLOE_TOPK_DPORT,
	FLOE_TOPK_PROTO,
	FLOE_TOPK__COUNT
};

/* The columns a view sorts on. */
enum floe_top_col {
	FLOE_TOPC_PROTO, FLOE_TOPC_SADDR, FLOE_TOPC_SPORT, FLOE_TOPC_DADDR, FLOE_TOPC_DPORT,
	FLOE_TOPC_FLOWS, FLOE_TOPC_RECS, FLOE_TOPC_PKTS, FLOE_TOPC_BYTES, FLOE_TOPC_BPS, FLOE_TOPC_PPS,
	FLOE_TOPC_STIME, FLOE_TOPC_LTIME,
	FLOE_TOPC__COUNT
};

/* "flow", "saddr", "daddr", "dport", "proto"; -1 if unknown. */
int floe_top_key_parse(const char *name);
const char *floe_top_key_name(enum floe_top_key k);

struct floe_top_opts {
	size_t max_flows;           /* 0: FLOE_TOP_DEFAULT_FLOWS */
	struct floe_budget *budget; /* borrowed; NULL: unlimited */
};

struct floe_top;

/* NULL with eb set: NOMEM (the budget cannot hold the hash buckets),
 * UNSUPPORTED (no random source for the hash key). */
struct floe_top *floe_top_create(const struct floe_top_opts *o, struct floe_errbuf *eb);
void floe_top_destroy(struct floe_top *t);

/* Merges a record into its flow's row (a new row, evicting the idlest if
 * the table is full).  NOMEM if the budget cannot hold a row even after
 * evicting (the table then keeps what it has). */
FLOE_WUR enum floe_err floe_top_add(struct floe_top *t, const struct floe_flow *f);

/* Closes the rate interval at time now (ns): each flow's rate becomes
 * what it added since the previous tick over now - previous.  The first
 * tick only starts the interval; a tick not after the previous one
 * changes nothing. */
void floe_top_tick(struct floe_top *t, int64_t now);

/* Forgets every flow (counts and rates start over). */
void floe_top_clear(struct floe_top *t);

/* One group of a view. */
struct floe_top_row {
	struct floe_flow rec;   /* the key fields; counters summed over the group's
	                         * flows; stime the earliest, ltime the latest;
	                         * trans the records merged */
	uint64_t flows;         /* flows in the group */
	double bps, pps;        /* bit/s and packet/s of the last interval */
};

struct floe_top_totals {
	uint64_t groups;        /* groups that pass (rows of the whole view) */
	uint64_t flows, records, pkts, bytes;
	double bps, pps;
};

struct floe_top_view_opts {
	enum floe_top_key key;
	enum floe_top_col sort;
	bool asc;               /* ascending (default: descending) */
	/* Keeps a flow if this returns true (NULL: all); rec is the flow's
	 * merged record, valid during the call. */
	bool (*match)(void *ud, const struct floe_flow *rec);
	void *ud;
};

/* Groups the flows, sorts the groups (ties in key order) and writes the
 * first cap of them to rows (*n of them) and the totals of all to *tot.
 * NOMEM if the budget cannot hold the grouping's scratch space. */
FLOE_WUR enum floe_err floe_top_view(struct floe_top *t, const struct floe_top_view_opts *v,
                                     struct floe_top_row *rows, size_t cap, size_t *n,
                                     struct floe_top_totals *tot);

struct floe_top_stats {
	uint64_t records;       /* records added */
	uint64_t flows;         /* rows in the table now */
	uint64_t evicted;       /* rows evicted because the table was full */
	size_t max_flows;
	double interval;        /* seconds of the last closed interval (0: none yet) */
};
void floe_top_stats(const struct floe_top *t, struct floe_top_stats *st);

#endif
