/*
 * webq.h - the queries behind floe serve's JSON API (docs/web.md "API"):
 * a summary (totals, top hosts, ports, protocols), time series, a host's
 * drill-down, and a filter + group-by table in JSON or CSV.
 *
 * Every query reads the archive through a source (archive/source.h) with
 * the request's time range, compiles the request's filter with the one
 * filter compiler (filter/filter.h) and aggregates with the query layer's
 * operators (query/cluster.h, query/sort.h), so its numbers are those of
 * `floe cluster` with the same filter and keys.  Nothing runs a shell.
 *
 * Bounds: every table, operator and the answer itself are charged to the
 * request's budget (util/mem.h); the operators spill past it as they do
 * for the CLI, the answer cannot (NOMEM).  The source is asked for the
 * time once per block and every few thousand records; past the deadline
 * the query stops with LIMIT.
 *
 * Must not depend on: libmicrohttpd, the CLI.
 */
#ifndef FLOE_WEB_WEBQ_H
#define FLOE_WEB_WEBQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "web/httpq.h"

struct floe_budget;
struct floe_netset;

/* A growing answer, charged to a budget. */
struct floe_webbuf {
	char *p;                    /* NUL-terminated when not NULL */
	size_t len, cap;
	struct floe_budget *budget; /* borrowed; NULL = unlimited */
	bool full;                  /* an append was refused: the answer is incomplete */
};

void floe_webbuf_init(struct floe_webbuf *b, struct floe_budget *budget);
void floe_webbuf_release(struct floe_webbuf *b);
/* Appends; false (and full set) when the budget refuses. */
bool floe_webbuf_add(struct floe_webbuf *b, const void *p, size_t n);
/* Appends a string literal. */
#define FLOE_WEBBUF_LIT(b, lit) floe_webbuf_add((b), (lit), sizeof(lit) - 1)
bool floe_webbuf_printf(struct floe_webbuf *b, const char *fmt, ...) FLOE_PRINTF(2, 3);
/* Appends s as a JSON string, quotes included (RFC 8259 section 7). */
bool floe_webbuf_json_str(struct floe_webbuf *b, const char *s);

/* Where and how a request runs. */
struct floe_webq_ctx {
	const char *const *dirs;        /* archive directories (-R), borrowed */
	size_t ndirs;
	const struct floe_netset *local; /* --local for `local`/`remote` in filters; may be NULL */
	struct floe_budget *budget;     /* this request's; borrowed */
	int64_t deadline;               /* CLOCK_MONOTONIC ns; 0 = none */
	const char *tmpdir;             /* spill files; NULL = $TMPDIR or /tmp */
	const struct floe_log *log;     /* damaged blocks, unreadable files */
	/* Optional: true when the query is to stop now (the server is
	 * stopping); asked as often as the deadline.  LIMIT then. */
	bool (*cancel)(void *ud);
	void *cancel_ud;
};

/* The monotonic clock in ns, as deadlines are given. */
int64_t floe_webq_now_mono(void);

/*
 * Each query writes its answer to out (JSON unless q->format says CSV for
 * floe_webq_table).  Errors, with eb set to a message for the user:
 *   INVALID    the filter does not compile, an unknown key or sort key,
 *              a filter naming a file (@file: the server's files are not
 *              the web user's), `local` without --local, a series or chart
 *              of more than FLOE_WEBQ_MAX_BINS (FLOE_GRAPH_MAX_BINS) bins
 *   LIMIT      the deadline passed while reading
 *   NOMEM      the request's budget cannot hold the answer
 *   IO         the archive cannot be read
 * The HTTP layer answers 400 for INVALID, 503 for LIMIT and NOMEM, 500 for
 * the rest.  out is left incomplete on error (the caller discards it).
 */
#define FLOE_WEBQ_MAX_BINS 5000

/* {"records","flows","pkts","bytes","first","last","hosts":[...],
 *  "ports":[...],"protos":[...]}: q->top of each by q->metric.  A host's
 * numbers count the records it is either side of. */
FLOE_WUR enum floe_err floe_webq_summary(const struct floe_webq_ctx *ctx,
                                         const struct floe_httpq *q, struct floe_webbuf *out,
                                         struct floe_errbuf *eb);

/* {"bin","metric","times":[...],"series":[{"key","values":[...]}...],
 *  "total":[...]}: q->metric per bin of q->bin (default: the range in about
 * 100 bins, or an hour), one series per value of the q->by keys, the top
 * q->top of them and "other"; with no keys one series, "total". */
FLOE_WUR enum floe_err floe_webq_series(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                                        struct floe_webbuf *out, struct floe_errbuf *eb);

/* A host's drill-down: its q->metric per bin against the total, its flows
 * (records) per bin, its top peers and ports. */
FLOE_WUR enum floe_err floe_webq_host(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                                      const uint8_t addr[16], struct floe_webbuf *out,
                                      struct floe_errbuf *eb);

/* A table: with q->by, the groups of `floe cluster -m BY` (columns stime
 * dur KEYS trans pkts bytes), ordered by q->sort (default bytes, then the
 * keys), the first q->limit; without, the records (`floe read`'s default
 * columns), in archive order or by q->sort.  JSON: {"columns":[...],
 * "rows":[{...}...],"more":bool}; CSV: a header and rows, as `floe
 * cluster -o csv` prints them. */
FLOE_WUR enum floe_err floe_webq_table(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                                       struct floe_webbuf *out, struct floe_errbuf *eb);

/* A chart as SVG (graph/graph.h, the same code as `floe graph`): q->metric
 * per bin of q->bin, one series per q->by group (the top q->top and
 * "other") or the total, and with q->has_host that host's records drawn
 * against it.  The period is q->range, or the records' extent. */
FLOE_WUR enum floe_err floe_webq_graph(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                                       struct floe_webbuf *out, struct floe_errbuf *eb);

#endif
