/*
 * httpq.c - query string parsing for floe serve's API (httpq.h).
 *
 * The string is split at '&' into name=value pairs (the form encoding of
 * HTML 5 section 4.10.21.7, which the pages' links and forms use); names
 * and values are percent-decoded (RFC 3986 section 2.1) through a checked
 * cursor into bounded buffers, then each value is parsed by a row of the
 * parameter table.
 */
#include "web/httpq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/addr.h"
#include "util/cursor.h"

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the bytes of cur (all of them) into out; '+' is a space when
 * plus is set.  what names the subject in messages. */
static enum floe_err decode(struct floe_cursor *cur, bool plus, char *out, size_t cap,
                            const char *what, struct floe_errbuf *eb)
{
	size_t n = 0;
	out[0] = '\0';  /* terminated at every step: messages may quote it */
	while (floe_cur_left(cur) > 0) {
		uint8_t c = *floe_cur_take(cur, 1);
		if (c == '%') {
			const uint8_t *h = floe_cur_take(cur, 2);
			if (!h || hexval(h[0]) < 0 || hexval(h[1]) < 0)
				return floe_errbuf_set(eb, FLOE_MALFORMED, "%s: bad percent escape at byte %zu",
				                       what, cur->bad ? cur->len : cur->off - 2);
			c = (uint8_t)(hexval(h[0]) * 16 + hexval(h[1]));
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return floe_errbuf_set(eb, FLOE_MALFORMED, "%s: control character 0x%02x", what, c);
		if (c == 0x7f)
			return floe_errbuf_set(eb, FLOE_MALFORMED, "%s: control character 0x7f", what);
		if (n + 1 >= cap)
			return floe_errbuf_set(eb, FLOE_LIMIT, "%s: longer than %zu bytes", what, cap - 1);
		out[n++] = (char)c;
		out[n] = '\0';
	}
	return FLOE_OK;
}

enum floe_err floe_httpq_decode(const char *s, size_t len, char *out, size_t cap,
                                struct floe_errbuf *eb)
{
	if (cap == 0)
		return floe_errbuf_set(eb, FLOE_LIMIT, "path: no room");
	struct floe_cursor cur = floe_cursor_make((const uint8_t *)s, len);
	return decode(&cur, false, out, cap, "path", eb);
}

/* A decimal number without sign, at most max; MALFORMED or LIMIT. */
static enum floe_err parse_uint(const char *name, const char *v, uint64_t max, uint64_t *out,
                                struct floe_errbuf *eb)
{
	uint64_t x = 0;
	if (!*v)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "%s: expected a number", name);
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return floe_errbuf_set(eb, FLOE_MALFORMED, "%s: expected a number, found '%.40s'",
			                       name, v);
		if (x > (UINT64_MAX - 9) / 10)
			return floe_errbuf_set(eb, FLOE_LIMIT, "%s: %.40s is too large", name, v);
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (x > max)
		return floe_errbuf_set(eb, FLOE_LIMIT, "%s: %" PRIu64 " is over the maximum %" PRIu64,
		                       name, x, max);
	*out = x;
	return FLOE_OK;
}

/* "90", "90s", "5m", "1h", "1d" into ns. */
static enum floe_err parse_bin(const char *v, int64_t *out, struct floe_errbuf *eb)
{
	uint64_t x = 0;
	size_t i = 0;
	for (; v[i] >= '0' && v[i] <= '9'; i++) {
		if (x > 1000000000ull)
			return floe_errbuf_set(eb, FLOE_LIMIT, "b: %.40s is too large", v);
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	uint64_t unit = 0;
	if (i > 0 && (!v[i] || (v[i] == 's' && !v[i + 1])))
		unit = 1;
	else if (i > 0 && v[i + 1] == '\0')
		unit = v[i] == 'm' ? 60 : v[i] == 'h' ? 3600 : v[i] == 'd' ? 86400 : 0;
	if (!unit)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "b: expected a duration (60, 90s, 5m, 1h, "
		                       "1d), found '%.40s'", v);
	if (x * unit > 366ull * 86400)
		return floe_errbuf_set(eb, FLOE_LIMIT, "b: %.40s is over a year", v);
	*out = (int64_t)(x * unit) * 1000000000LL;
	if (*out < FLOE_HTTPQ_MIN_BIN)
		return floe_errbuf_set(eb, FLOE_INVALID, "b: the bin must be at least a second");
	return FLOE_OK;
}

/* by= and sort=: field names, masks, ':asc', parentheses; nothing that
 * could mean something else to the query layer's word splitting. */
static enum floe_err check_words(const char *name, const char *v, struct floe_errbuf *eb)
{
	for (const char *p = v; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '/' || c == ':' || c == ',' || c == ' ' || c == '(' || c == ')' ||
		          c == '_' || c == '%';
		if (!ok)
			return floe_errbuf_set(eb, FLOE_INVALID, "%s: unexpected character '%c'", name, c);
	}
	return FLOE_OK;
}

enum param { P_T, P_B, P_M, P_BY, P_SORT, P_TOP, P_LIMIT, P_FORMAT, P_FILTER, P_HOST, P_N };

static const char *const param_names[P_N] = {
	[P_T] = "t", [P_B] = "b", [P_M] = "m", [P_BY] = "by", [P_SORT] = "sort", [P_TOP] = "top",
	[P_LIMIT] = "limit", [P_FORMAT] = "format", [P_FILTER] = "filter", [P_HOST] = "host",
};

static const char *const metric_names[] = {"bytes", "pkts", "flows"};

const char *floe_httpq_metric_name(enum floe_httpq_metric m)
{
	return (unsigned)m < 3 ? metric_names[m] : "?";
}

static enum floe_err set_param(struct floe_httpq *q, enum param p, const char *v, int64_t now,
                               struct floe_errbuf *eb)
{
	uint64_t x = 0;
	enum floe_err e;
	struct floe_errbuf teb = {0};
	switch (p) {
	case P_T:
		if (floe_timerange_parse(v, now, &q->range, &teb) != FLOE_OK)
			return floe_errbuf_set(eb, FLOE_INVALID, "t: %s", teb.msg);
		q->has_t = true;
		return FLOE_OK;
	case P_B:
		return parse_bin(v, &q->bin, eb);
	case P_M:
		for (unsigned i = 0; i < 3; i++)
			if (strcmp(v, metric_names[i]) == 0) {
				q->metric = (enum floe_httpq_metric)i;
				return FLOE_OK;
			}
		return floe_errbuf_set(eb, FLOE_INVALID, "m: expected bytes, pkts or flows, found '%.40s'",
		                       v);
	case P_BY:
	case P_SORT:
		if (strlen(v) >= FLOE_HTTPQ_MAX_WORDS)
			return floe_errbuf_set(eb, FLOE_LIMIT, "%s: longer than %d bytes", param_names[p],
			                       FLOE_HTTPQ_MAX_WORDS - 1);
		if ((e = check_words(param_names[p], v, eb)) != FLOE_OK)
			return e;
		strcpy(p == P_BY ? q->by : q->sort, v);
		return FLOE_OK;
	case P_TOP:
	case P_LIMIT:
		e = parse_uint(param_names[p], v, p == P_TOP ? FLOE_HTTPQ_MAX_TOP : FLOE_HTTPQ_MAX_LIMIT,
		               &x, eb);
		if (e != FLOE_OK)
			return e;
		if (x == 0)
			return floe_errbuf_set(eb, FLOE_INVALID, "%s: must be at least 1", param_names[p]);
		*(p == P_TOP ? &q->top : &q->limit) = (uint32_t)x;
		return FLOE_OK;
	case P_FORMAT:
		if (strcmp(v, "json") == 0)
			q->format = FLOE_HQF_JSON;
		else if (strcmp(v, "csv") == 0)
			q->format = FLOE_HQF_CSV;
		else
			return floe_errbuf_set(eb, FLOE_INVALID, "format: expected json or csv, found '%.40s'",
			                       v);
		return FLOE_OK;
	case P_FILTER:
		strcpy(q->filter, v);  /* v is at most as long as the query string */
		return FLOE_OK;
	case P_HOST:
		if (!floe_addr_parse(v, q->host))
			return floe_errbuf_set(eb, FLOE_MALFORMED, "host: expected an IPv4 or IPv6 address, "
			                       "found '%.60s'", v);
		q->has_host = true;
		return FLOE_OK;
	case P_N:
		break;
	}
	return floe_errbuf_set(eb, FLOE_INVALID, "unknown parameter");
}

static enum floe_err parse(const char *qs, size_t len, int64_t now, struct floe_httpq *q,
                           char *value, struct floe_errbuf *eb)
{
	memset(q, 0, sizeof(*q));
	q->range = FLOE_TIMERANGE_ALL;
	q->metric = FLOE_HQM_BYTES;
	q->top = 10;
	q->limit = 100;
	q->format = FLOE_HQF_JSON;
	if (len >= FLOE_HTTPQ_MAX_QUERY)
		return floe_errbuf_set(eb, FLOE_LIMIT, "query string longer than %d bytes",
		                       FLOE_HTTPQ_MAX_QUERY - 1);
	bool seen[P_N] = {false};
	struct floe_cursor cur = floe_cursor_make((const uint8_t *)qs, len);
	while (floe_cur_left(&cur) > 0) {
		/* one pair: up to the next '&' */
		const uint8_t *start = cur.p + cur.off;
		size_t plen = 0, eq = SIZE_MAX;
		while (plen < floe_cur_left(&cur) && start[plen] != '&') {
			if (start[plen] == '=' && eq == SIZE_MAX)
				eq = plen;
			plen++;
		}
		(void)floe_cur_skip(&cur, plen < floe_cur_left(&cur) ? plen + 1 : plen);
		if (plen == 0)
			continue;  /* "a=1&&b=2", a trailing '&' */
		char name[16];
		struct floe_cursor nc = floe_cursor_make(start, eq == SIZE_MAX ? plen : eq);
		struct floe_errbuf neb = {0};
		enum floe_err e = decode(&nc, true, name, sizeof(name), "parameter name", &neb);
		if (e == FLOE_LIMIT)
			return floe_errbuf_set(eb, FLOE_INVALID, "unknown parameter '%.15s...'", name);
		if (e != FLOE_OK)
			return floe_errbuf_set(eb, e, "%s", neb.msg);
		if (eq == SIZE_MAX)
			return floe_errbuf_set(eb, FLOE_MALFORMED, "parameter '%s' has no '='", name);
		enum param p = P_N;
		for (unsigned i = 0; i < P_N; i++)
			if (strcmp(name, param_names[i]) == 0)
				p = (enum param)i;
		char what[32];
		snprintf(what, sizeof(what), "%s", p == P_N ? "value" : param_names[p]);
		struct floe_cursor vc = floe_cursor_make(start + eq + 1, plen - eq - 1);
		if ((e = decode(&vc, true, value, FLOE_HTTPQ_MAX_QUERY, what, eb)) != FLOE_OK)
			return e;
		if (p == P_N)
			return floe_errbuf_set(eb, FLOE_INVALID, "unknown parameter '%s'", name);
		if (seen[p])
			return floe_errbuf_set(eb, FLOE_INVALID, "parameter '%s' given twice", name);
		seen[p] = true;
		if (value[0] == '\0')
			continue;  /* a form's empty field: as if not given */
		if ((e = set_param(q, p, value, now, eb)) != FLOE_OK)
			return e;
	}
	return FLOE_OK;
}

enum floe_err floe_httpq_parse(const char *qs, size_t len, int64_t now, struct floe_httpq *q,
                               struct floe_errbuf *eb)
{
	char *value = malloc(FLOE_HTTPQ_MAX_QUERY);  /* one decoded value at a time */
	if (!value)
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	enum floe_err e = parse(qs, len, now, q, value, eb);
	free(value);
	return e;
}

size_t floe_httpq_describe(const struct floe_httpq *q, char *buf, size_t len)
{
	char t[64] = "all", h[FLOE_ADDRSTRLEN] = "-";
	if (q->has_host)
		floe_addr_format(q->host, h, sizeof(h));
	if (q->has_t)
		snprintf(t, sizeof(t), "%" PRId64 "/%" PRId64, q->range.start, q->range.end);
	int n = snprintf(buf, len, "t=%s b=%" PRId64 " m=%s by='%s' sort='%s' top=%" PRIu32
	                 " limit=%" PRIu32 " format=%s host=%s filter='%s'",
	                 t, q->bin, floe_httpq_metric_name(q->metric), q->by, q->sort, q->top,
	                 q->limit, q->format == FLOE_HQF_CSV ? "csv" : "json", h, q->filter);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len ? len - 1 : 0;
}
