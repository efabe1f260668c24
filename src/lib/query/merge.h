/*
 * merge.h - joining two half-duplex captures of one link into
 * bidirectional flows (two taps on a full-duplex link, each seeing one
 * direction; SiLK's rwmatch and Argus's racluster over two sensors do
 * similar work).
 *
 * Each record is first turned so that the packets its tap saw are on the
 * source side (a record with only destination packets is reversed: a tap
 * that saw only SYN/ACKs may have guessed the other side as initiator).
 * A record of A then joins the first unused record of B whose key is its
 * reverse (proto, saddr <-> daddr, sport <-> dport; ports ignored for ICMP,
 * whose reply has another type) and whose time interval overlaps A's,
 * widened by a slack for clock offsets between the taps.  The joined
 * record is A's, with B's source counters and attributes as destination,
 * the earliest stime, the latest ltime, trans added, and state CON if A's
 * was only a request (REQ, INT) and B answered (RST if either says so).
 * Records that find no partner pass through as they are (turned).
 *
 * B is held in memory (charged to the budget; NOMEM past it): give the
 * smaller capture as B.
 *
 * Must not depend on: codec, filter, output, the CLI.
 */
#ifndef FLOE_QUERY_MERGE_H
#define FLOE_QUERY_MERGE_H

#include <stdint.h>

#include "err.h"
#include "flow.h"
#include "query/cluster.h"

struct floe_budget;
struct floe_merge;

/* slack: ns added on both sides of intervals when matching (e.g. 1 s).
 * NULL on NOMEM. */
struct floe_merge *floe_merge_create(int64_t slack, struct floe_budget *budget);
/* Holds a record of B (copied).  NOMEM if the budget refuses. */
FLOE_WUR enum floe_err floe_merge_add_b(struct floe_merge *m, const struct floe_flow *f);
/* Joins a record of A with its partner in B, if any, and emits the result
 * (extra values: none).  Returns what emit returns. */
FLOE_WUR enum floe_err floe_merge_join(struct floe_merge *m, const struct floe_flow *a,
                                       floe_cluster_emit emit, void *ud);
/* Emits the records of B that joined nothing, in B's order. */
FLOE_WUR enum floe_err floe_merge_finish(struct floe_merge *m, floe_cluster_emit emit, void *ud);

struct floe_merge_stats {
	uint64_t a, b, joined;
};
void floe_merge_stats(const struct floe_merge *m, struct floe_merge_stats *st);
void floe_merge_destroy(struct floe_merge *m);

#endif
