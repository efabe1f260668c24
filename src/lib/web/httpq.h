/*
 * httpq.h - the request parameters of floe serve's HTTP API (docs/web.md
 * "API"): the raw query string of a URL, percent-decoded (RFC 3986 section
 * 2.1; '+' as a space, as HTML forms send it) and checked parameter by
 * parameter into a plain struct floe_httpq.
 *
 * The string comes from the network: it is read only through a length-
 * checked cursor, every value is bounded, and anything unexpected is an
 * error with a message for the HTTP 400 answer, never a crash.  Filters,
 * keys and sort keys are only checked for size and characters here; the
 * filter compiler and the query layer give them meaning (webq.h).
 *
 * Must not depend on: libmicrohttpd, the archive, the query layer.
 */
#ifndef FLOE_WEB_HTTPQ_H
#define FLOE_WEB_HTTPQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "util/timerange.h"

#define FLOE_HTTPQ_MAX_QUERY 16384   /* bytes of a whole query string */
#define FLOE_HTTPQ_MAX_WORDS 256     /* bytes of by= and sort= */
#define FLOE_HTTPQ_MAX_TOP 32        /* rows of a top list, series of a graph (top=) */
#define FLOE_HTTPQ_MAX_LIMIT 10000   /* rows of a table (limit=) */
#define FLOE_HTTPQ_MIN_BIN 1000000000LL  /* b= at least one second */

/* What a series or graph counts (m=). */
enum floe_httpq_metric { FLOE_HQM_BYTES, FLOE_HQM_PKTS, FLOE_HQM_FLOWS };

enum floe_httpq_format { FLOE_HQF_JSON, FLOE_HQF_CSV };

/* A parsed query string.  Fields not given keep the defaults that
 * floe_httpq_parse sets (see docs/web.md); has_* say what was given. */
struct floe_httpq {
	struct floe_timerange range;   /* t=; FLOE_TIMERANGE_ALL if absent */
	bool has_t;
	int64_t bin;                   /* b= in ns; 0 = absent */
	enum floe_httpq_metric metric; /* m=; bytes */
	char by[FLOE_HTTPQ_MAX_WORDS]; /* by=: key fields, "" = none */
	char sort[FLOE_HTTPQ_MAX_WORDS]; /* sort=: sort keys, "" = default */
	uint32_t top;                  /* top=; 10 */
	uint32_t limit;                /* limit=; 100 */
	enum floe_httpq_format format; /* format=; json */
	char filter[FLOE_HTTPQ_MAX_QUERY]; /* filter=, decoded; "" = all */
	bool has_host;                 /* host=: a graph's series against the total */
	uint8_t host[16];              /* its address, v4-mapped */
};

/*
 * Parses qs[0..len) (the part of a URL after '?', without '#'; may hold any
 * bytes).  now (ns) anchors relative -t ranges.  Returns OK with *q filled,
 * or with eb set (the message quotes the parameter):
 *   MALFORMED  a bad percent escape, a decoded NUL or control character,
 *              a parameter without '=', a bad number, duration or host=
 *              address
 *   INVALID    an unknown parameter, one given twice, a bad value (t=
 *              that does not parse, m= or format= not in the list, b=
 *              under a second, top= or limit= of 0)
 *   LIMIT      qs longer than FLOE_HTTPQ_MAX_QUERY, a value longer than
 *              its field, top= or limit= over their maximum
 *   NOMEM      no memory for the decoding buffer
 * The HTTP layer answers 400 with eb->msg for each.
 */
FLOE_WUR enum floe_err floe_httpq_parse(const char *qs, size_t len, int64_t now,
                                        struct floe_httpq *q, struct floe_errbuf *eb);

/* Decodes a percent-encoded path segment s[0..len) into out (cap bytes,
 * always terminated); MALFORMED as above, LIMIT if it does not fit. */
FLOE_WUR enum floe_err floe_httpq_decode(const char *s, size_t len, char *out, size_t cap,
                                         struct floe_errbuf *eb);

/* Writes q as one canonical line ("t=S/E b=N m=bytes ...") for golden
 * tests and logs.  Returns the length (truncated to len - 1). */
size_t floe_httpq_describe(const struct floe_httpq *q, char *buf, size_t len);

/* "bytes", "pkts", "flows". */
const char *floe_httpq_metric_name(enum floe_httpq_metric m);

#endif
