/*
 * sort.h - order records by several keys, or keep the top N with a heap
 * (Argus rasort -m, nfdump -O / -n, SiLK rwsort / rwstats).
 *
 * Keys are catalog fields or aggregate columns (pct(), dcount()), each
 * ascending or descending.  Without a direction, counters, rates, durations
 * and aggregate columns sort descending (the biggest first, as operators
 * want from `-m bytes`), everything else ascending; "F:asc" / "F:desc"
 * say it explicitly.  Ties keep input order, so sorting is stable.
 *
 * A full sort holds the records in memory (budget-charged) while they
 * fit; past the budget it writes sorted runs to temporary files ($TMPDIR,
 * unlinked at once) and merges them at the end, so its memory is bounded
 * too.  With top N it holds N and costs O(records * log N).
 *
 * Must not depend on: codec, filter, output, the CLI.
 */
#ifndef FLOE_QUERY_SORT_H
#define FLOE_QUERY_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "field.h"
#include "flow.h"
#include "query/cluster.h"

struct floe_budget;

struct floe_sortkey {
	const struct floe_field *fd;   /* catalog field, or NULL for extra */
	int extra;                     /* index into the extra values, or -1 */
	bool desc;
};

/* Parses "bytes saddr:asc pct(bytes)" into keys (capacity cap).  Aggregate
 * columns are looked up in cols (may be NULL) by name.  INVALID with eb
 * quoting the bad word, LIMIT past cap. */
FLOE_WUR enum floe_err floe_sortkeys_parse(const char *spec, const struct floe_aggcol *cols,
                                           size_t ncols, struct floe_sortkey *keys, size_t cap,
                                           size_t *n, struct floe_errbuf *eb);

struct floe_sort;

/* keys are copied.  nextra: how many extra values come with each record.
 * top: 0 = keep all.  NULL on NOMEM. */
struct floe_sort *floe_sort_create(const struct floe_sortkey *keys, size_t nkeys, size_t nextra,
                                   uint64_t top, struct floe_budget *budget);
/* Adds a record and its extra values (may be NULL if nextra is 0); both
 * are copied.  NOMEM if the budget cannot hold even a few records; IO if
 * a run cannot be written. */
FLOE_WUR enum floe_err floe_sort_add(struct floe_sort *s, const struct floe_flow *f, const double *extra);
/* Emits the records in order (cluster.h's callback type).  NOMEM, IO
 * (a run file), or what emit returned. */
FLOE_WUR enum floe_err floe_sort_finish(struct floe_sort *s, floe_cluster_emit emit, void *ud);
/* Records written to sorted runs on disk so far (0: all in memory). */
uint64_t floe_sort_spilled(const struct floe_sort *s);
void floe_sort_destroy(struct floe_sort *s);

#endif
