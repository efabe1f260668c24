/*
 * cluster.h - group records by key fields and aggregate them, in bounded
 * memory (Argus racluster -m, nfdump -A, SiLK rwuniq; docs/aggregate.md).
 *
 * Keys are catalog fields of kind KEY; addresses may be masked to a prefix
 * ("saddr/24", "daddr/64").  With no keys, records of the same flow (status
 * intervals) are merged into one, as racluster does without -m.  With a
 * time bin, every record is also spread over the bins its interval covers,
 * each counter apportioned to the time overlap so totals are preserved
 * exactly (rabins, rwcount).
 *
 * Values: counters are summed, trans counts the records merged, stime is
 * the earliest, ltime the latest; derived fields (dur, load, rate, bytes)
 * follow from those.  Aggregate columns (floe_aggcol) add percentages of
 * the total, pct(bytes), and distinct counts, dcount(daddr) (hll.h).
 *
 * Memory: groups live in a hash table and an arena of fixed-size entries
 * (the key, with IPv4 addresses in 4 bytes, and only the values asked
 * for: floe_cluster_opts.values), all charged to the caller's budget.  When the budget refuses, every group
 * is written to one of 32 partition files by hash (temporary, unlinked as
 * soon as created, so nothing is left behind even on a crash) and the table
 * starts over; at the end each partition is aggregated alone, partitioned
 * again by other hash bits if it still does not fit.  Results are exact
 * whatever the budget; only their order depends on it.
 *
 * Must not depend on: codec, filter, output, the CLI.
 */
#ifndef FLOE_QUERY_CLUSTER_H
#define FLOE_QUERY_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "field.h"
#include "flow.h"

struct floe_budget;

/* ---- aggregate columns: -s words of cluster, sort and bins ---- */

enum floe_aggop {
	FLOE_AGG_FIELD,   /* a catalog field, printed as the catalog says */
	FLOE_AGG_PCT,     /* pct(F) or %F: percent of the total of counter F */
	FLOE_AGG_DCOUNT,  /* dcount(F): distinct values of F in the group */
};

struct floe_aggcol {
	enum floe_aggop op;
	const struct floe_field *arg;  /* the catalog field (FIELD: itself) */
	struct floe_field synth;       /* name, title, width of PCT/DCOUNT */
	char name[48];
	char title[24];
};

/* Parses a column list: catalog names or aliases, pct(F), %F, dcount(F),
 * separated by spaces or commas.  pct takes a counter (kind VALUE, integer);
 * dcount any field of kind KEY.  Fills cols (capacity cap; the array must
 * not move afterwards: synth points into it) and *n.  INVALID with eb
 * quoting the bad word; LIMIT if more than cap. */
FLOE_WUR enum floe_err floe_aggcol_parse(const char *spec, struct floe_aggcol *cols, size_t cap,
                                         size_t *n, struct floe_errbuf *eb);
/* The field to give an output writer for column c: the catalog row for
 * FIELD, the synthetic row otherwise. */
const struct floe_field *floe_aggcol_field(const struct floe_aggcol *c);

/* ---- the operator ---- */

#define FLOE_CLUSTER_MAX_KEYS 16

struct floe_cluster_opts {
	const char *keys;        /* "saddr/24 dport"; "" = one group (per
	                          * bin); NULL = merge the records of flows */
	int64_t bin;             /* ns; > 0 adds a time-bin key and spreads */
	const struct floe_aggcol *cols; /* borrowed; for pct and dcount */
	size_t ncols;
	bool lean;               /* only stime, ltime, trans, [sd]pkts, [sd]bytes
	                          * and the keys are wanted: smaller groups */
	unsigned values;         /* with lean: FLOE_CLV_* the output needs, the
	                          * others are not kept (0 = all of them) */
	struct floe_budget *budget;  /* borrowed; NULL = unlimited */
	const char *tmpdir;      /* spill directory; NULL = $TMPDIR or /tmp */
	const struct floe_log *log;
};

/* Values of lean groups (floe_cluster_opts.values).  A group emits what
 * it does not keep as 0; PKTS and BYTES keep the sum of both directions
 * and emit it on the source side (spkts, sbytes), so pkts and bytes are
 * right and the per-direction fields are not. */
#define FLOE_CLV_TIMES  0x01u  /* stime and ltime (dur, load, rate) */
#define FLOE_CLV_PKTS   0x02u  /* spkts + dpkts as one sum */
#define FLOE_CLV_SPKTS  0x04u  /* spkts and dpkts apart */
#define FLOE_CLV_BYTES  0x08u  /* sbytes + dbytes as one sum */
#define FLOE_CLV_SBYTES 0x10u  /* sbytes and dbytes apart */
#define FLOE_CLV_TRANS  0x20u  /* trans */

struct floe_cluster;

/* Creates an operator.  NULL with eb set: INVALID (unknown key, key not of
 * kind KEY, bad mask; the message quotes it), NOMEM. */
struct floe_cluster *floe_cluster_create(const struct floe_cluster_opts *o, struct floe_errbuf *eb);

/* Adds one record.  Errors are sticky (floe_cluster_error): IO (cannot
 * write a spill file), NOMEM (the budget cannot hold even one group). */
FLOE_WUR enum floe_err floe_cluster_add(struct floe_cluster *c, const struct floe_flow *f);

/* Receives each group: the record (key fields, sums, times) and, for each
 * of the columns given at creation, extra[i] (percent or distinct count;
 * unused for FIELD columns).  Both are valid during the call only.  A
 * non-OK return stops finish, which returns it. */
typedef enum floe_err (*floe_cluster_emit)(void *ud, const struct floe_flow *f, const double *extra);

/* Emits every group once.  Call once, after the last add. */
FLOE_WUR enum floe_err floe_cluster_finish(struct floe_cluster *c, floe_cluster_emit emit, void *ud);

/* ---- adding from a reading thread ----
 *
 * floe_cluster_add makes a record's group key and hash, then adds it to
 * its group.  A reading thread can do the first half (floe_cluster_prepare)
 * while the aggregating thread does the second (floe_cluster_add_items),
 * and hand over small items instead of records. */

/* Bytes of one prepared item (a multiple of 8); 0 if c takes records only
 * (full groups, distinct counts, time bins, pct() columns, long keys). */
size_t floe_cluster_item_size(const struct floe_cluster *c);

/* Writes the item of f to item (floe_cluster_item_size bytes, 8-byte
 * aligned).  Only reads what create set up: may run in another thread
 * while the owner calls floe_cluster_add_items.  Call only if the size
 * is not 0. */
void floe_cluster_prepare(const struct floe_cluster *c, const struct floe_flow *f, void *item);

/* Adds n prepared items stored one after the other (a batch the reading
 * thread filled), as floe_cluster_add adds their records (same errors). */
FLOE_WUR enum floe_err floe_cluster_add_items(struct floe_cluster *c, const void *items, size_t n);

/* Another operator for the same query (the same opts, its own budget)
 * that takes items prepared by like: two threads can each aggregate a
 * share of the groups, chosen by floe_cluster_item_bits, and the two
 * outputs together are the result (a group is in one share only).
 * NULL with eb set: as floe_cluster_create; INVALID if o differs. */
struct floe_cluster *floe_cluster_create_shard(const struct floe_cluster_opts *o,
                                               const struct floe_cluster *like, struct floe_errbuf *eb);
/* 7 bits of an item's hash, independent of where it goes in a table or
 * partition: items with the same key have the same bits. */
unsigned floe_cluster_item_bits(const void *item);

const char *floe_cluster_error(const struct floe_cluster *c);

struct floe_cluster_stats {
	uint64_t records;        /* records added */
	uint64_t groups;         /* groups emitted */
	uint64_t spills;         /* times the table was written out */
	uint64_t spilled_groups; /* partial groups written to files */
	unsigned max_level;      /* deepest partitioning level used */
};
void floe_cluster_stats(const struct floe_cluster *c, struct floe_cluster_stats *st);

/* Frees everything, closing (and so deleting) spill files.  NULL: no-op. */
void floe_cluster_destroy(struct floe_cluster *c);

#endif
