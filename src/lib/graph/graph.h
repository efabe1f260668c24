/*
 * graph.h - time series charts of records: an SVG chart for people, the
 * series as JSON for programs (floe graph, the web UI; docs/graph.md).
 *
 * A graph sums one metric (bytes, packets, flows, bit/s, packet/s) per
 * time bin, over all records or, with `by` (key fields as for cluster -m:
 * "proto", "dport", "saddr/24"), one series per key group: the top N
 * groups by their total over the period, the rest summed as "other".  A
 * second, optional series (--vs) of a subset of the records is drawn
 * against the total: one host's share of a link.
 *
 * Memory: the bins come from the query layer (query/cluster.h with bin >
 * 0, which spreads each record's counters over the bins it covers,
 * exactly, as `floe bins` does), and the per-group totals that choose the
 * top N from a second cluster without bins; both hold their groups within
 * the budget and spill to temporary files beyond it.  The chart keeps
 * top + 3 series of nbins counters, nbins <= FLOE_GRAPH_MAX_BINS.
 *
 * Life cycle: create, add (and add_vs) every record, then svg and/or json,
 * in any order and as often as wanted: the first of them computes the
 * series (adds after it fail with INVALID).  Ownership: opts and its
 * strings are copied; records are borrowed for the call.
 *
 * Must not depend on: codec, filter, archive, the CLI.
 */
#ifndef FLOE_GRAPH_GRAPH_H
#define FLOE_GRAPH_GRAPH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "flow.h"

struct floe_budget;

#define FLOE_GRAPH_MAX_BINS 20000  /* bins of one chart (LIMIT beyond) */
#define FLOE_GRAPH_MAX_TOP 32      /* series of one chart besides "other" */

enum floe_graph_metric {
	FLOE_GM_BYTES,  /* bytes per bin (both directions, on the wire) */
	FLOE_GM_PKTS,   /* packets per bin */
	FLOE_GM_FLOWS,  /* records per bin (trans, spread as counters are) */
	FLOE_GM_BPS,    /* bit/s: bytes * 8 / bin seconds */
	FLOE_GM_PPS,    /* packet/s: packets / bin seconds */
};

/* "bytes", "pkts" ("packets"), "flows", "bps", "pps"; -1 if unknown. */
int floe_graph_metric_parse(const char *name);
const char *floe_graph_metric_name(enum floe_graph_metric m);

struct floe_graph_opts {
	int64_t t0, t1;           /* ns: the period drawn, [t0, t1); t1 <= t0: the
	                           * extent of the records added */
	int64_t bin;              /* ns, whole seconds, > 0 */
	enum floe_graph_metric metric;
	const char *by;           /* NULL: one series; else key fields ("proto",
	                           * "saddr/24 dport") */
	unsigned top;             /* series kept with by (0: 8), <= FLOE_GRAPH_MAX_TOP */
	bool stacked;             /* areas stacked; false: lines overlaid */
	const char *title;        /* NULL: made from the metric, bin and by */
	const char *vs;           /* name of the --vs series; NULL: none (add_vs
	                           * then fails) */
	unsigned width, height;   /* px of the SVG; 0: 960 x 480 */
	struct floe_budget *budget;  /* borrowed; NULL: unlimited */
	const char *tmpdir;       /* spill directory; NULL: $TMPDIR or /tmp */
	const struct floe_log *log;
};

struct floe_graph;

/* Creates a graph.  NULL with eb set: INVALID (bad bin, top, key field;
 * the message quotes it), NOMEM. */
struct floe_graph *floe_graph_create(const struct floe_graph_opts *o, struct floe_errbuf *eb);

/* Adds a record to the chart (every record the chart shows).  Records
 * that miss [t0, t1) are ignored.  Sticky errors (floe_graph_error): IO
 * (a spill file), NOMEM (the budget cannot hold one group), LIMIT
 * (without t0/t1: the records so far span more than FLOE_GRAPH_MAX_BINS
 * bins; stop reading), INVALID after svg or json. */
FLOE_WUR enum floe_err floe_graph_add(struct floe_graph *g, const struct floe_flow *f);
/* Adds a record to the --vs series (the caller chooses them: records that
 * match both the chart's filter and the --vs filter, so the series stays
 * under the total).  Errors as add; INVALID if opts.vs was NULL. */
FLOE_WUR enum floe_err floe_graph_add_vs(struct floe_graph *g, const struct floe_flow *f);

/* Writes the chart as a standalone SVG 1.1 document: title, axes with
 * units and nice ticks, UTC time labels, legend; every plotted value is
 * also in data-values attributes (docs/graph.md).  IO if out fails;
 * LIMIT if the period holds more than FLOE_GRAPH_MAX_BINS bins; NOMEM,
 * IO from the clusters. */
FLOE_WUR enum floe_err floe_graph_svg(struct floe_graph *g, FILE *out);
/* Writes the series as one JSON object (docs/graph.md).  Errors as svg. */
FLOE_WUR enum floe_err floe_graph_json(struct floe_graph *g, FILE *out);

/* The message of the first error ("" if none). */
const char *floe_graph_error(const struct floe_graph *g);

/* Frees everything, deleting spill files.  NULL: no-op. */
void floe_graph_destroy(struct floe_graph *g);

#endif
