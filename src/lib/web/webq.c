/*
 * webq.c - the queries of floe serve's API (webq.h).
 *
 * One scan per request: a source over the archive directories with the
 * request's time range (and, when the filter names hosts and nothing else
 * needs every record, the addresses its Bloom filters are asked for), the
 * compiled filter per record, then the request's operators.
 */
#include "web/webq.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive.h"
#include "archive/source.h"
#include "detect/detect.h"
#include "field.h"
#include "graph/graph.h"
#include "filter/filter.h"
#include "query/cluster.h"
#include "query/local.h"
#include "query/output.h"
#include "query/sort.h"
#include "util/addr.h"
#include "util/mem.h"

/* ---- the answer buffer ---- */

void floe_webbuf_init(struct floe_webbuf *b, struct floe_budget *budget)
{
	memset(b, 0, sizeof(*b));
	b->budget = budget;
}

void floe_webbuf_release(struct floe_webbuf *b)
{
	floe_free(b->budget, b->p, b->cap);
	b->p = NULL;
	b->len = b->cap = 0;
}

bool floe_webbuf_add(struct floe_webbuf *b, const void *p, size_t n)
{
	if (b->full)
		return false;
	if (b->len + n + 1 > b->cap) {
		void *np = b->p;
		size_t cap = b->cap;
		if (!floe_grow(b->budget, &np, &cap, b->len + n + 1, 1, 4096)) {
			b->full = true;
			return false;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

bool floe_webbuf_printf(struct floe_webbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	if ((size_t)n < sizeof(tmp))
		return floe_webbuf_add(b, tmp, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->full = true;
		return false;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	bool ok = floe_webbuf_add(b, big, (size_t)n);
	free(big);
	return ok;
}

bool floe_webbuf_json_str(struct floe_webbuf *b, const char *s)
{
	bool ok = FLOE_WEBBUF_LIT(b, "\"");
	for (; *s && ok; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			ok = floe_webbuf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			ok = floe_webbuf_printf(b, "\\u%04x", c);
		else if (c == '<' || c == '>' || c == '&')
			ok = floe_webbuf_printf(b, "\\u%04x", c);  /* safe even inside HTML */
		else
			ok = floe_webbuf_add(b, s, 1);
	}
	return ok && FLOE_WEBBUF_LIT(b, "\"");
}

/* stdio over a webbuf, for the query layer's CSV and JSON writers. */
static ssize_t cookie_write(void *ud, const char *p, size_t n)
{
	return floe_webbuf_add(ud, p, n) ? (ssize_t)n : 0;
}

static FILE *webbuf_file(struct floe_webbuf *b)
{
	cookie_io_functions_t io = {.write = cookie_write};
	return fopencookie(b, "w", io);
}

int64_t floe_webq_now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static enum floe_err out_full(struct floe_errbuf *eb)
{
	return floe_errbuf_set(eb, FLOE_NOMEM, "the answer is larger than the memory a request may "
	                       "use: narrow the time range or the filter, or lower limit or top");
}

/* ---- scanning ---- */

typedef enum floe_err (*rec_fn)(void *ud, const struct floe_flow *f);

static struct floe_filter *compile(const struct floe_webq_ctx *ctx, const char *text,
                                   struct floe_errbuf *eb)
{
	if (strchr(text, '@')) {
		floe_errbuf_set(eb, FLOE_INVALID, "bad filter: lists from files (@file) are not "
		                "accepted over the web");
		return NULL;
	}
	struct floe_errbuf feb = {0};
	struct floe_filter_opts fo = {.local = ctx->local};
	struct floe_filter *f = floe_filter_compile_opts(text, &fo, &feb);
	if (!f)
		floe_errbuf_set(eb, feb.code == FLOE_NOMEM ? FLOE_NOMEM : FLOE_INVALID, "bad filter: %s",
		                feb.msg);
	return f;
}

static bool past(const struct floe_webq_ctx *ctx)
{
	if (ctx->cancel && ctx->cancel(ctx->cancel_ud))
		return true;
	return ctx->deadline && floe_webq_now_mono() > ctx->deadline;
}

static enum floe_err too_slow(struct floe_errbuf *eb)
{
	return floe_errbuf_set(eb, FLOE_LIMIT, "the query ran past the time a request may take: "
	                       "narrow the time range or the filter");
}

/* Feeds every record in q's range that passes filter to fn.  by_addr: the
 * source may skip blocks without the filter's hosts.  fn may return EOF to
 * stop early (not an error). */
static enum floe_err scan(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                          const struct floe_filter *filter, bool by_addr, rec_fn fn, void *ud,
                          struct floe_errbuf *eb)
{
	uint8_t addrs[64][16];
	size_t naddrs = 0;
	if (!by_addr || !floe_filter_required_addrs(filter, addrs, 64, &naddrs))
		naddrs = 0;
	struct floe_source_opts so = {.range = q->range, .addrs = (const uint8_t (*)[16])addrs,
	                              .naddrs = naddrs, .log = ctx->log};
	struct floe_errbuf seb = {0};
	struct floe_source *src = floe_source_create(&so, &seb);
	if (!src)
		return floe_errbuf_set(eb, seb.code, "%s", seb.msg);
	enum floe_err e = FLOE_OK;
	for (size_t i = 0; i < ctx->ndirs && e == FLOE_OK; i++)
		e = floe_source_add_dir(src, ctx->dirs[i], &seb);
	if (e != FLOE_OK) {
		floe_source_destroy(src);
		return floe_errbuf_set(eb, e, "%s", seb.msg);
	}
	bool timed = !floe_timerange_is_all(&q->range);
	while (e == FLOE_OK) {
		if (past(ctx)) {
			e = too_slow(eb);
			break;
		}
		const struct floe_flow *recs;
		size_t n;
		e = floe_source_next(src, &recs, &n);
		if (e == FLOE_EOF) {
			e = FLOE_OK;
			break;
		}
		if (e != FLOE_OK) {
			floe_errbuf_set(eb, e, "%s", floe_source_error(src));
			break;
		}
		for (size_t i = 0; i < n && e == FLOE_OK; i++) {
			if ((i & 4095) == 4095 && past(ctx)) {
				e = too_slow(eb);
				break;
			}
			if (timed && !floe_timerange_overlaps(&q->range, recs[i].stime, recs[i].ltime))
				continue;
			if (!floe_filter_match(filter, &recs[i]))
				continue;
			e = fn(ud, &recs[i]);
		}
		if (e == FLOE_EOF) {
			e = FLOE_OK;
			break;
		}
	}
	floe_source_destroy(src);
	return e;
}

/* ---- operators ---- */

/* Lean groups with the sums the answers show (query/cluster.h): pkts,
 * bytes, trans and the times. */
#define LEAN_SUMS (FLOE_CLV_TIMES | FLOE_CLV_PKTS | FLOE_CLV_BYTES | FLOE_CLV_TRANS)

/* values: the FLOE_CLV_* kept, 0 for full groups (any field can be asked of them). */
static struct floe_cluster *mkcluster_v(const struct floe_webq_ctx *ctx, const char *keys,
                                        int64_t bin, unsigned values, struct floe_errbuf *eb)
{
	struct floe_cluster_opts co = {
		.keys = keys, .bin = bin, .lean = values != 0, .values = values,
		.budget = ctx->budget, .tmpdir = ctx->tmpdir, .log = ctx->log,
	};
	struct floe_errbuf ceb = {0};
	struct floe_cluster *c = floe_cluster_create(&co, &ceb);
	if (!c)
		floe_errbuf_set(eb, ceb.code, "by: %s", ceb.msg);
	return c;
}

static struct floe_cluster *mkcluster(const struct floe_webq_ctx *ctx, const char *keys,
                                      int64_t bin, struct floe_errbuf *eb)
{
	return mkcluster_v(ctx, keys, bin, LEAN_SUMS, eb);
}

static enum floe_err cluster_fail(struct floe_cluster *c, enum floe_err e, struct floe_errbuf *eb)
{
	const char *m = floe_cluster_error(c);
	if (e == FLOE_NOMEM)
		return floe_errbuf_set(eb, e, "the groups do not fit in the memory a request may use: "
		                       "narrow the time range or the filter%s%s", *m ? ": " : "", m);
	return floe_errbuf_set(eb, e, "%s", *m ? m : floe_strerror(e));
}

static const char *metric_field(enum floe_httpq_metric m)
{
	return m == FLOE_HQM_PKTS ? "pkts" : m == FLOE_HQM_FLOWS ? "trans" : "bytes";
}

static double metric_of(enum floe_httpq_metric m, const struct floe_flow *f)
{
	if (m == FLOE_HQM_FLOWS)
		return (double)f->trans;
	if (m == FLOE_HQM_PKTS)
		return (double)f->spkts + (double)f->dpkts;
	return (double)f->sbytes + (double)f->dbytes;
}

/* The key fields of a key list ("saddr/24 dport": saddr, dport). */
static size_t key_fields(const char *keys, const struct floe_field **out, size_t cap)
{
	size_t n = 0;
	for (const char *p = keys; *p && n < cap;) {
		p += strspn(p, " ,");
		size_t k = strcspn(p, " ,/");
		char w[64];
		if (k && k < sizeof(w)) {
			memcpy(w, p, k);
			w[k] = '\0';
			const struct floe_field *fd = floe_field_lookup(w);
			if (fd)
				out[n++] = fd;
		}
		p += k;
		p += strcspn(p, " ,");
	}
	return n;
}

/* The keys of group f as text, "tcp 80". */
static void key_text(const struct floe_field *const *kf, size_t nk, const struct floe_flow *f,
                     char *buf, size_t len)
{
	struct floe_fmtopts fo = {.timefmt = 0, .prec = 6, .numeric = false};
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < nk && at + 1 < len; i++) {
		if (i)
			buf[at++] = ' ';
		at += floe_field_format(kf[i], f, &fo, buf + at, len - at);
	}
	buf[at < len ? at : len - 1] = '\0';
}

/* A top-N list: a cluster, then a sort by the metric and the keys. */
struct topn {
	const char *keys;
	struct floe_cluster *cl;
	struct floe_sort *sort;
	const struct floe_field *kf[FLOE_CLUSTER_MAX_KEYS];
	size_t nk;
	struct floe_flow *rows;    /* the top, in order */
	size_t nrows, cap;
	struct floe_budget *budget;
};

static enum floe_err topn_init(struct topn *t, const struct floe_webq_ctx *ctx, const char *keys,
                               enum floe_httpq_metric m, uint32_t top, struct floe_errbuf *eb)
{
	memset(t, 0, sizeof(*t));
	t->keys = keys;
	t->budget = ctx->budget;
	if (!(t->cl = mkcluster(ctx, keys, 0, eb)))
		return eb->code;
	t->nk = key_fields(keys, t->kf, FLOE_CLUSTER_MAX_KEYS);
	char spec[FLOE_HTTPQ_MAX_WORDS + 16];
	snprintf(spec, sizeof(spec), "%s", metric_field(m));
	for (size_t i = 0; i < t->nk; i++)
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), " %s:asc", t->kf[i]->name);
	struct floe_sortkey sk[FLOE_CLUSTER_MAX_KEYS + 1];
	size_t nsk = 0;
	struct floe_errbuf seb = {0};
	if (floe_sortkeys_parse(spec, NULL, 0, sk, FLOE_CLUSTER_MAX_KEYS + 1, &nsk, &seb) != FLOE_OK)
		return floe_errbuf_set(eb, FLOE_INVALID, "%s", seb.msg);
	if (!(t->sort = floe_sort_create(sk, nsk, 0, top, ctx->budget)))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	return FLOE_OK;
}

static enum floe_err topn_sort_add(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	return floe_sort_add(ud, f, NULL);
}

static enum floe_err topn_keep(void *ud, const struct floe_flow *f, const double *extra)
{
	struct topn *t = ud;
	(void)extra;
	void *p = t->rows;
	if (!floe_grow(t->budget, &p, &t->cap, t->nrows + 1, sizeof(*f), 16))
		return FLOE_NOMEM;
	t->rows = p;
	t->rows[t->nrows++] = *f;
	return FLOE_OK;
}

static enum floe_err topn_finish(struct topn *t, struct floe_errbuf *eb)
{
	enum floe_err e = floe_cluster_finish(t->cl, topn_sort_add, t->sort);
	if (e != FLOE_OK)
		return cluster_fail(t->cl, e, eb);
	if ((e = floe_sort_finish(t->sort, topn_keep, t)) != FLOE_OK)
		return e == FLOE_NOMEM ? out_full(eb) : floe_errbuf_set(eb, e, "cannot sort the groups");
	return FLOE_OK;
}

static void topn_release(struct topn *t)
{
	floe_cluster_destroy(t->cl);
	floe_sort_destroy(t->sort);
	floe_free(t->budget, t->rows, t->cap * sizeof(*t->rows));
	memset(t, 0, sizeof(*t));
}

/* Appends the rows of t as a JSON array of objects: the keys by their
 * names, then bytes, pkts, flows. */
static bool topn_json(struct topn *t, struct floe_webbuf *out)
{
	struct floe_fmtopts fo = {.timefmt = 0, .prec = 6, .numeric = false};
	bool ok = FLOE_WEBBUF_LIT(out, "[");
	for (size_t r = 0; r < t->nrows && ok; r++) {
		const struct floe_flow *f = &t->rows[r];
		ok = floe_webbuf_printf(out, "%s{", r ? "," : "");
		for (size_t i = 0; i < t->nk && ok; i++) {
			char v[128];
			floe_field_format(t->kf[i], f, &fo, v, sizeof(v));
			bool num = (t->kf[i]->type == FLOE_FT_PORT || t->kf[i]->type == FLOE_FT_UINT) && v[0];
			ok = floe_webbuf_printf(out, "\"%s\":", t->kf[i]->name) &&
			     (num ? floe_webbuf_add(out, v, strlen(v)) : floe_webbuf_json_str(out, v));
			if (ok && t->kf[i]->type == FLOE_FT_PROTO)
				ok = floe_webbuf_printf(out, ",\"protonum\":%u", f->proto);
			ok = ok && FLOE_WEBBUF_LIT(out, ",");
		}
		ok = ok && floe_webbuf_printf(out, "\"bytes\":%" PRIu64 ",\"pkts\":%" PRIu64
		                              ",\"flows\":%" PRIu64 "}", f->sbytes + f->dbytes,
		                              f->spkts + f->dpkts, (uint64_t)f->trans);
	}
	return ok && FLOE_WEBBUF_LIT(out, "]");
}

/* ---- summary ---- */

struct summary {
	struct topn hosts, ports, protos;
	uint64_t records, flows, pkts, bytes;
	int64_t first, last;
};

static enum floe_err summary_rec(void *ud, const struct floe_flow *f)
{
	struct summary *s = ud;
	s->records++;
	s->flows += f->trans;
	s->pkts += f->spkts + f->dpkts;
	s->bytes += f->sbytes + f->dbytes;
	if (f->stime < s->first)
		s->first = f->stime;
	if (f->ltime > s->last)
		s->last = f->ltime;
	enum floe_err e = floe_cluster_add(s->hosts.cl, f);
	if (e == FLOE_OK && memcmp(f->saddr, f->daddr, 16) != 0) {
		/* the other side is a host of this record too */
		struct floe_flow r = *f;
		floe_flow_reverse(&r);
		e = floe_cluster_add(s->hosts.cl, &r);
	}
	if (e == FLOE_OK)
		e = floe_cluster_add(s->ports.cl, f);
	if (e == FLOE_OK)
		e = floe_cluster_add(s->protos.cl, f);
	return e;
}

static bool json_time(struct floe_webbuf *out, const char *name, int64_t t, bool valid)
{
	if (!valid)
		return floe_webbuf_printf(out, "\"%s\":null", name);
	return floe_webbuf_printf(out, "\"%s\":%" PRId64 ".%09" PRId64, name,
	                          t / 1000000000 - (t % 1000000000 < 0),
	                          (t % 1000000000 + 1000000000) % 1000000000);
}

enum floe_err floe_webq_summary(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                                struct floe_webbuf *out, struct floe_errbuf *eb)
{
	struct summary s = {.first = INT64_MAX, .last = INT64_MIN};
	struct floe_filter *filter = compile(ctx, q->filter, eb);
	if (!filter)
		return eb->code;
	enum floe_err e = topn_init(&s.hosts, ctx, "saddr", q->metric, q->top, eb);
	if (e == FLOE_OK)
		e = topn_init(&s.ports, ctx, "proto dport", q->metric, q->top, eb);
	if (e == FLOE_OK)
		e = topn_init(&s.protos, ctx, "proto", q->metric, q->top, eb);
	if (e == FLOE_OK) {
		e = scan(ctx, q, filter, true, summary_rec, &s, eb);
		if (e != FLOE_OK && !eb->code)
			e = cluster_fail(s.hosts.cl, e, eb);
	}
	for (int i = 0; i < 3 && e == FLOE_OK; i++)
		e = topn_finish(i == 0 ? &s.hosts : i == 1 ? &s.ports : &s.protos, eb);
	if (e == FLOE_OK) {
		bool any = s.records > 0;
		bool ok = floe_webbuf_printf(out, "{\"records\":%" PRIu64 ",\"flows\":%" PRIu64
		                             ",\"pkts\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"metric\":\"%s\",",
		                             s.records, s.flows, s.pkts, s.bytes,
		                             floe_httpq_metric_name(q->metric)) &&
		          json_time(out, "first", s.first, any) && FLOE_WEBBUF_LIT(out, ",") &&
		          json_time(out, "last", s.last, any) &&
		          FLOE_WEBBUF_LIT(out, ",\"hosts\":") && topn_json(&s.hosts, out) &&
		          FLOE_WEBBUF_LIT(out, ",\"ports\":") && topn_json(&s.ports, out) &&
		          FLOE_WEBBUF_LIT(out, ",\"protos\":") && topn_json(&s.protos, out) &&
		          FLOE_WEBBUF_LIT(out, "}\n");
		if (!ok)
			e = out_full(eb);
	}
	topn_release(&s.hosts);
	topn_release(&s.ports);
	topn_release(&s.protos);
	floe_filter_destroy(filter);
	return e;
}

/* ---- series ---- */

/* A grid of bins: values[series][bin], series 0 = total. */
struct grid {
	struct floe_budget *budget;
	enum floe_httpq_metric metric;
	int64_t bin;
	/* rows as the operator emits them, laid out at the end */
	struct cell {
		int64_t t;
		double v;
		int series;
	} *cells;
	size_t ncells, cap;
	/* series keys: the top groups of topn, matched by their key text */
	const struct floe_field *const *kf;
	size_t nk;
	char (*names)[128];
	size_t nnames;
	int series;       /* the series of a cluster without keys */
	int flows_series; /* > 0: also add each group's records (trans) to it */
};

static enum floe_err grid_push(struct grid *g, int64_t t, double v, int series)
{
	void *p = g->cells;
	if (!floe_grow(g->budget, &p, &g->cap, g->ncells + 1, sizeof(*g->cells), 256))
		return FLOE_NOMEM;
	g->cells = p;
	g->cells[g->ncells++] = (struct cell){t, v, series};
	return FLOE_OK;
}

/* A group of (keys, bin) from the operator: its series is the top key it
 * has, or "other" (nnames + 1), and every group counts in the total (0). */
static enum floe_err grid_emit(void *ud, const struct floe_flow *f, const double *extra)
{
	struct grid *g = ud;
	(void)extra;
	double v = metric_of(g->metric, f);
	enum floe_err e = grid_push(g, f->stime, v, g->series);
	if (e == FLOE_OK && g->flows_series > 0)
		e = grid_push(g, f->stime, (double)f->trans, g->flows_series);
	if (e != FLOE_OK || !g->nk)
		return e;
	char k[128];
	key_text(g->kf, g->nk, f, k, sizeof(k));
	int s = (int)g->nnames + 1;
	for (size_t i = 0; i < g->nnames; i++)
		if (strcmp(g->names[i], k) == 0)
			s = (int)i + 1;
	return grid_push(g, f->stime, v, s);
}

/* Appends "times":[...],"series":[...] (names: one per series after the
 * total, NULL for "other"); series 0 is written as "total" when total. */
static enum floe_err grid_json(struct grid *g, int nseries, const char *const *labels,
                               struct floe_webbuf *out, struct floe_errbuf *eb)
{
	int64_t t0 = INT64_MAX, t1 = INT64_MIN;
	for (size_t i = 0; i < g->ncells; i++) {
		t0 = g->cells[i].t < t0 ? g->cells[i].t : t0;
		t1 = g->cells[i].t > t1 ? g->cells[i].t : t1;
	}
	size_t nb = g->ncells ? (size_t)((t1 - t0) / g->bin) + 1 : 0;
	if (nb > FLOE_WEBQ_MAX_BINS)
		return floe_errbuf_set(eb, FLOE_INVALID, "%zu bins are more than %d: give a larger b",
		                       nb, FLOE_WEBQ_MAX_BINS);
	size_t bytes = nb * (size_t)nseries * sizeof(double);
	double *m = bytes ? floe_calloc(g->budget, nb * (size_t)nseries, sizeof(double)) : NULL;
	if (bytes && !m)
		return out_full(eb);
	for (size_t i = 0; i < g->ncells; i++)
		m[(size_t)g->cells[i].series * nb + (size_t)((g->cells[i].t - t0) / g->bin)] +=
			g->cells[i].v;
	bool ok = floe_webbuf_printf(out, "\"bin\":%" PRId64 ",\"metric\":\"%s\",\"times\":[",
	                             g->bin / 1000000000, floe_httpq_metric_name(g->metric));
	for (size_t b = 0; b < nb && ok; b++)
		ok = floe_webbuf_printf(out, "%s%" PRId64, b ? "," : "",
		                        (t0 + (int64_t)b * g->bin) / 1000000000);
	ok = ok && FLOE_WEBBUF_LIT(out, "],\"series\":[");
	for (int s = 0; s < nseries && ok; s++) {
		ok = floe_webbuf_printf(out, "%s{\"key\":", s ? "," : "") &&
		     floe_webbuf_json_str(out, labels[s]) && FLOE_WEBBUF_LIT(out, ",\"values\":[");
		for (size_t b = 0; b < nb && ok; b++)
			ok = floe_webbuf_printf(out, "%s%.0f", b ? "," : "", m[(size_t)s * nb + b]);
		ok = ok && FLOE_WEBBUF_LIT(out, "]}");
	}
	ok = ok && FLOE_WEBBUF_LIT(out, "]");
	floe_free(g->budget, m, bytes);
	return ok ? FLOE_OK : out_full(eb);
}

static void grid_release(struct grid *g)
{
	floe_free(g->budget, g->cells, g->cap * sizeof(*g->cells));
	g->cells = NULL;
}

/* The period of an archive's files from their names (archive.h): a file
 * named for T holds records of [T, T + FLOE_SOURCE_SLACK). */
struct extent {
	int64_t lo, hi;
};

static enum floe_err extent_walk(void *ud, const char *path, uint64_t size, struct floe_errbuf *eb)
{
	struct extent *x = ud;
	(void)size;
	(void)eb;
	const char *base = strrchr(path, '/');
	int64_t t;
	bool part;
	if (floe_archive_parse_name(base ? base + 1 : path, &t, &part)) {
		x->lo = t < x->lo ? t : x->lo;
		x->hi = t > x->hi ? t : x->hi;
	}
	return FLOE_OK;
}

/* b=, or a default: the period in about 100 bins of a round size.  The
 * period is q->range, its open ends closed by the archive's file names;
 * an hour if neither says. */
static int64_t pick_bin(const struct floe_webq_ctx *ctx, const struct floe_httpq *q)
{
	static const int64_t steps[] = {1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600,
	                                86400, 7 * 86400};
	const size_t nsteps = sizeof(steps) / sizeof(steps[0]);
	if (q->bin)
		return q->bin;
	int64_t lo = q->range.start, hi = q->range.end;
	if (lo == INT64_MIN || hi == INT64_MAX) {
		struct extent x = {INT64_MAX, INT64_MIN};
		struct floe_errbuf eb = {0};
		for (size_t i = 0; i < ctx->ndirs; i++)
			if (floe_archive_walk(ctx->dirs[i], extent_walk, &x, &eb) != FLOE_OK)
				floe_errbuf_clear(&eb);
		if (x.lo > x.hi)
			return 3600LL * 1000000000LL;
		lo = lo == INT64_MIN ? x.lo : lo;
		hi = hi == INT64_MAX ? x.hi + FLOE_SOURCE_SLACK : hi;
		if (hi <= lo)
			return 3600LL * 1000000000LL;
	}
	int64_t want = (hi - lo) / 100;
	for (size_t i = 0; i < nsteps; i++)
		if (steps[i] * 1000000000LL >= want)
			return steps[i] * 1000000000LL;
	/* longer periods: whole weeks */
	return (want / (steps[nsteps - 1] * 1000000000LL) + 1) * steps[nsteps - 1] * 1000000000LL;
}

struct series {
	struct topn top;
	struct floe_cluster *bins;
};

static enum floe_err series_rec(void *ud, const struct floe_flow *f)
{
	struct series *s = ud;
	enum floe_err e = s->top.cl ? floe_cluster_add(s->top.cl, f) : FLOE_OK;
	return e == FLOE_OK ? floe_cluster_add(s->bins, f) : e;
}

enum floe_err floe_webq_series(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                               struct floe_webbuf *out, struct floe_errbuf *eb)
{
	struct series s = {0};
	struct grid g = {.budget = ctx->budget, .metric = q->metric, .bin = pick_bin(ctx, q)};
	struct floe_filter *filter = compile(ctx, q->filter, eb);
	if (!filter)
		return eb->code;
	enum floe_err e = FLOE_OK;
	bool keyed = q->by[0] != '\0';
	if (keyed)
		e = topn_init(&s.top, ctx, q->by, q->metric, q->top, eb);
	if (e == FLOE_OK && !(s.bins = mkcluster(ctx, q->by, g.bin, eb)))
		e = eb->code;
	if (e == FLOE_OK) {
		e = scan(ctx, q, filter, true, series_rec, &s, eb);
		if (e != FLOE_OK && !eb->code)
			e = cluster_fail(s.bins, e, eb);
	}
	if (e == FLOE_OK && keyed)
		e = topn_finish(&s.top, eb);
	char (*names)[128] = NULL;
	const char **labels = NULL;
	size_t nn = keyed ? s.top.nrows : 0;
	if (e == FLOE_OK) {
		names = calloc(nn + 1, sizeof(*names));
		labels = calloc(nn + 2, sizeof(*labels));
		if (!names || !labels)
			e = floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	}
	if (e == FLOE_OK) {
		labels[0] = "total";
		for (size_t i = 0; i < nn; i++) {
			key_text((const struct floe_field *const *)s.top.kf, s.top.nk, &s.top.rows[i],
			         names[i], sizeof(names[i]));
			labels[i + 1] = names[i];
		}
		labels[nn + 1] = "other";
		g.kf = (const struct floe_field *const *)s.top.kf;
		g.nk = keyed ? s.top.nk : 0;
		g.names = names;
		g.nnames = nn;
		e = floe_cluster_finish(s.bins, grid_emit, &g);
		if (e != FLOE_OK)
			e = e == FLOE_NOMEM ? out_full(eb) : cluster_fail(s.bins, e, eb);
	}
	if (e == FLOE_OK) {
		/* "other" only when some group is not in the top */
		bool other = false;
		for (size_t i = 0; i < g.ncells && !other; i++)
			other = g.cells[i].series == (int)nn + 1;
		if (!floe_webbuf_printf(out, "{\"by\":") || !floe_webbuf_json_str(out, q->by) ||
		    !FLOE_WEBBUF_LIT(out, ","))
			e = out_full(eb);
		if (e == FLOE_OK)
			e = grid_json(&g, keyed ? (int)nn + 1 + other : 1, labels, out, eb);
		if (e == FLOE_OK && !FLOE_WEBBUF_LIT(out, "}\n"))
			e = out_full(eb);
	}
	free(names);
	free(labels);
	grid_release(&g);
	if (keyed)
		topn_release(&s.top);
	floe_cluster_destroy(s.bins);
	floe_filter_destroy(filter);
	return e;
}

/* ---- host ---- */

/* The detectors a host page runs over the host's records, with the
 * thresholds `floe detect` uses by default (docs/detect.md).  Watch needs
 * a list and baseline a history period: not here. */
#define HOST_DETECTORS 3

static const struct floe_detect_opts host_detectors[HOST_DETECTORS] = {
	{.kind = FLOE_DETECT_SCAN, .window = 300LL * 1000000000, .scan_hosts = 100, .scan_ports = 100,
	 .scan_max_success = 0.2},
	{.kind = FLOE_DETECT_SMTP, .window = 3600LL * 1000000000, .smtp_servers = 50},
	{.kind = FLOE_DETECT_BEACON, .window = 3600LL * 1000000000, .beacon_min = 10,
	 .beacon_max_cv = 0.2, .beacon_min_interval = 1000000000LL},
};

struct host {
	uint8_t addr[16];
	struct floe_cluster *total, *mine;
	struct topn peers, ports;
	uint64_t records, flows, pkts, bytes;
	struct floe_detect *det[HOST_DETECTORS];
};

/* Appends the findings about addr (as their host, target or remote) as a
 * JSON array, in the detectors' order. */
static bool findings_json(struct host *h, struct floe_webbuf *out)
{
	bool ok = FLOE_WEBBUF_LIT(out, "[");
	bool first = true;
	for (size_t k = 0; k < HOST_DETECTORS && ok; k++) {
		const struct floe_finding *fs;
		size_t n;
		uint64_t more;
		floe_detect_findings(h->det[k], &fs, &n, &more);
		for (size_t i = 0; i < n && ok; i++) {
			const struct floe_finding *f = &fs[i];
			if (memcmp(f->host, h->addr, 16) != 0 && memcmp(f->peer, h->addr, 16) != 0)
				continue;
			char host[FLOE_ADDRSTRLEN], peer[FLOE_ADDRSTRLEN] = "";
			static const uint8_t none[16];
			floe_addr_format(f->host, host, sizeof(host));
			if (memcmp(f->peer, none, 16) != 0)
				floe_addr_format(f->peer, peer, sizeof(peer));
			const char *proto = floe_proto_name(f->proto);
			ok = floe_webbuf_printf(out, "%s{\"finding\":\"%s\",\"host\":", first ? "" : ",",
			                        floe_finding_name(f->type)) &&
			     floe_webbuf_json_str(out, host) && FLOE_WEBBUF_LIT(out, ",\"peer\":") &&
			     floe_webbuf_json_str(out, peer) &&
			     floe_webbuf_printf(out, ",\"proto\":\"%s\",\"port\":%u,", proto ? proto : "",
			                        f->port) &&
			     json_time(out, "start", f->t0, true) && FLOE_WEBBUF_LIT(out, ",") &&
			     json_time(out, "end", f->t1, true) &&
			     floe_webbuf_printf(out, ",\"flows\":%" PRIu64 ",\"targets\":%" PRIu64
			                        ",\"ratio\":%.3f,\"value\":%.3f}", f->flows, f->targets,
			                        f->ratio, f->value);
			first = false;
		}
	}
	return ok && FLOE_WEBBUF_LIT(out, "]");
}

static enum floe_err host_rec(void *ud, const struct floe_flow *f)
{
	struct host *h = ud;
	enum floe_err e = floe_cluster_add(h->total, f);
	bool src = memcmp(f->saddr, h->addr, 16) == 0, dst = memcmp(f->daddr, h->addr, 16) == 0;
	if (e != FLOE_OK || !(src || dst))
		return e;
	h->records++;
	h->flows += f->trans;
	h->pkts += f->spkts + f->dpkts;
	h->bytes += f->sbytes + f->dbytes;
	if ((e = floe_cluster_add(h->mine, f)) != FLOE_OK)
		return e;
	if ((e = floe_cluster_add(h->ports.cl, f)) != FLOE_OK)
		return e;
	for (size_t k = 0; k < HOST_DETECTORS; k++)
		if ((e = floe_detect_add(h->det[k], f)) != FLOE_OK)
			return e;
	if (src)
		return floe_cluster_add(h->peers.cl, f);
	struct floe_flow r = *f;   /* the host as the source: its peer is daddr */
	floe_flow_reverse(&r);
	return floe_cluster_add(h->peers.cl, &r);
}

enum floe_err floe_webq_host(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                             const uint8_t addr[16], struct floe_webbuf *out,
                             struct floe_errbuf *eb)
{
	struct host h = {0};
	memcpy(h.addr, addr, 16);
	struct grid g = {.budget = ctx->budget, .metric = q->metric, .bin = pick_bin(ctx, q)};
	struct floe_filter *filter = compile(ctx, q->filter, eb);
	if (!filter)
		return eb->code;
	enum floe_err e = topn_init(&h.peers, ctx, "daddr", q->metric, q->top, eb);
	if (e == FLOE_OK)
		e = topn_init(&h.ports, ctx, "proto dport", q->metric, q->top, eb);
	if (e == FLOE_OK && !(h.total = mkcluster(ctx, "", g.bin, eb)))
		e = eb->code;
	if (e == FLOE_OK && !(h.mine = mkcluster(ctx, "", g.bin, eb)))
		e = eb->code;
	static const uint16_t mail_ports[] = {25};
	for (size_t k = 0; k < HOST_DETECTORS && e == FLOE_OK; k++) {
		struct floe_detect_opts d = host_detectors[k];
		d.smtp_ports = mail_ports;
		d.nsmtp_ports = 1;
		d.local = ctx->local;
		d.max_findings = 1000;
		d.budget = ctx->budget;
		d.tmpdir = ctx->tmpdir;
		d.log = ctx->log;
		struct floe_errbuf deb = {0};
		if (!(h.det[k] = floe_detect_create(&d, &deb)))
			e = floe_errbuf_set(eb, deb.code, "detect: %s", deb.msg);
	}
	if (e == FLOE_OK) {
		e = scan(ctx, q, filter, false, host_rec, &h, eb);
		if (e != FLOE_OK && !eb->code)
			e = cluster_fail(h.total, e, eb);
	}
	for (size_t k = 0; k < HOST_DETECTORS && e == FLOE_OK; k++)
		if ((e = floe_detect_end_pass(h.det[k])) != FLOE_OK)
			e = floe_errbuf_set(eb, e, "detect: %s", floe_detect_error(h.det[k]));
	if (e == FLOE_OK)
		e = topn_finish(&h.peers, eb);
	if (e == FLOE_OK)
		e = topn_finish(&h.ports, eb);
	/* series: 0 total, 1 the host's metric, 2 the host's records */
	if (e == FLOE_OK) {
		g.series = 0;
		e = floe_cluster_finish(h.total, grid_emit, &g);
		if (e == FLOE_OK) {
			g.series = 1;
			g.flows_series = 2;
			e = floe_cluster_finish(h.mine, grid_emit, &g);
		}
		if (e != FLOE_OK)
			e = e == FLOE_NOMEM ? out_full(eb) : cluster_fail(h.total, e, eb);
	}
	if (e == FLOE_OK) {
		char a[FLOE_ADDRSTRLEN];
		floe_addr_format(addr, a, sizeof(a));
		static const char *const labels[] = {"total", "host", "flows"};
		bool ok = FLOE_WEBBUF_LIT(out, "{\"addr\":") && floe_webbuf_json_str(out, a) &&
		          floe_webbuf_printf(out, ",\"records\":%" PRIu64 ",\"flows\":%" PRIu64
		                             ",\"pkts\":%" PRIu64 ",\"bytes\":%" PRIu64 ",",
		                             h.records, h.flows, h.pkts, h.bytes);
		e = ok ? grid_json(&g, 3, labels, out, eb) : out_full(eb);
		if (e == FLOE_OK &&
		    !(FLOE_WEBBUF_LIT(out, ",\"peers\":") && topn_json(&h.peers, out) &&
		      FLOE_WEBBUF_LIT(out, ",\"ports\":") && topn_json(&h.ports, out) &&
		      FLOE_WEBBUF_LIT(out, ",\"findings\":") && findings_json(&h, out) &&
		      FLOE_WEBBUF_LIT(out, "}\n")))
			e = out_full(eb);
	}
	grid_release(&g);
	topn_release(&h.peers);
	topn_release(&h.ports);
	floe_cluster_destroy(h.total);
	floe_cluster_destroy(h.mine);
	for (size_t k = 0; k < HOST_DETECTORS; k++)
		floe_detect_destroy(h.det[k]);
	floe_filter_destroy(filter);
	return e;
}

/* ---- tables ---- */

struct table {
	struct floe_cluster *cl;
	struct floe_sort *sort;        /* NULL: records in archive order */
	struct floe_output *w;
	uint64_t rows, limit;
	bool more;
	struct floe_webbuf *json;      /* JSON: rows are gathered here, one a line */
};

static enum floe_err table_write(void *ud, const struct floe_flow *f, const double *extra)
{
	struct table *t = ud;
	(void)extra;
	if (t->rows >= t->limit) {
		t->more = true;
		return FLOE_EOF;
	}
	t->rows++;
	return floe_output_write(t->w, f);
}

static enum floe_err table_group(void *ud, const struct floe_flow *f, const double *extra)
{
	struct table *t = ud;
	(void)extra;
	return floe_sort_add(t->sort, f, NULL);
}

static enum floe_err table_rec(void *ud, const struct floe_flow *f)
{
	struct table *t = ud;
	if (t->cl)
		return floe_cluster_add(t->cl, f);
	if (t->sort)
		return floe_sort_add(t->sort, f, NULL);
	return table_write(t, f, NULL);
}

/* Turns the JSON lines in lines into {"columns":[...],"rows":[...],"more":b}. */
static bool table_json(struct floe_webbuf *out, const struct floe_field *const *cols, size_t ncols,
                       const struct floe_webbuf *lines, bool more)
{
	bool ok = FLOE_WEBBUF_LIT(out, "{\"columns\":[");
	for (size_t i = 0; i < ncols && ok; i++)
		ok = (!i || FLOE_WEBBUF_LIT(out, ",")) && floe_webbuf_json_str(out, cols[i]->name);
	ok = ok && FLOE_WEBBUF_LIT(out, "],\"rows\":[");
	bool first = true;
	for (size_t at = 0; at < lines->len && ok;) {
		const char *nl = memchr(lines->p + at, '\n', lines->len - at);
		size_t n = nl ? (size_t)(nl - (lines->p + at)) : lines->len - at;
		if (n)
			ok = (first || FLOE_WEBBUF_LIT(out, ",")) && floe_webbuf_add(out, lines->p + at, n);
		first = first && !n;
		at += n + 1;
	}
	return ok && floe_webbuf_printf(out, "],\"more\":%s}\n", more ? "true" : "false");
}

enum floe_err floe_webq_table(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                              struct floe_webbuf *out, struct floe_errbuf *eb)
{
	struct table t = {.limit = q->limit};
	struct floe_aggcol cols[64];
	const struct floe_field *fcols[64];
	size_t ncols = 0;
	struct floe_errbuf xeb = {0};
	bool keyed = q->by[0] != '\0';
	struct floe_webbuf lines;
	floe_webbuf_init(&lines, ctx->budget);
	struct floe_filter *filter = compile(ctx, q->filter, eb);
	if (!filter)
		return eb->code;
	enum floe_err e = FLOE_OK;
	const struct floe_field *kf[FLOE_CLUSTER_MAX_KEYS];
	size_t nk = key_fields(q->by, kf, FLOE_CLUSTER_MAX_KEYS);
	char spec[FLOE_HTTPQ_MAX_WORDS * 2 + 64] = "";
	if (keyed) {
		/* floe cluster -m KEYS's default columns */
		snprintf(spec, sizeof(spec), "stime dur");
		for (size_t i = 0; i < nk; i++)
			snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), " %s", kf[i]->name);
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), " trans pkts bytes");
		if (floe_aggcol_parse(spec, cols, 64, &ncols, &xeb) != FLOE_OK)
			e = floe_errbuf_set(eb, FLOE_INVALID, "by: %s", xeb.msg);
		for (size_t i = 0; i < ncols; i++)
			fcols[i] = floe_aggcol_field(&cols[i]);
		/* a sort= may name any field (sport, sbytes): full groups then, as
		 * floe cluster keeps when its sort needs more than lean sums */
		unsigned values = q->sort[0] ? 0 : LEAN_SUMS;
		if (e == FLOE_OK && !(t.cl = mkcluster_v(ctx, q->by, 0, values, eb)))
			e = eb->code;
	} else {
		const struct floe_field *const *d = floe_fields_default(&ncols);
		for (size_t i = 0; i < ncols && i < 64; i++)
			fcols[i] = d[i];
		ncols = ncols < 64 ? ncols : 64;
	}
	/* order: sort=, or bytes for groups; ties by the keys, ascending, as
	 * floe cluster orders them */
	char order[FLOE_HTTPQ_MAX_WORDS * 2 + 16];
	snprintf(order, sizeof(order), "%s", q->sort[0] ? q->sort : keyed ? "bytes" : "");
	if (e == FLOE_OK && order[0]) {
		struct floe_sortkey sk[40];
		size_t nsk = 0;
		if (floe_sortkeys_parse(order, cols, ncols, sk, 32, &nsk, &xeb) != FLOE_OK)
			e = floe_errbuf_set(eb, FLOE_INVALID, "sort: %s", xeb.msg);
		for (size_t i = 0; i < nk && e == FLOE_OK; i++) {
			bool have = false;
			for (size_t j = 0; j < nsk; j++)
				have |= sk[j].fd == kf[i];
			if (!have && nsk < 40)
				sk[nsk++] = (struct floe_sortkey){.fd = kf[i], .extra = -1, .desc = false};
		}
		/* one more than the limit tells whether there are more */
		if (e == FLOE_OK)
			t.sort = floe_sort_create(sk, nsk, 0, (uint64_t)q->limit + 1, ctx->budget);
		if (e == FLOE_OK && !t.sort)
			e = floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	}
	FILE *fp = NULL;
	if (e == FLOE_OK) {
		fp = webbuf_file(q->format == FLOE_HQF_CSV ? out : &lines);
		struct floe_fmtopts fo = {.timefmt = 0, .prec = 6, .numeric = false};
		enum floe_outfmt of = q->format == FLOE_HQF_CSV ? FLOE_OUT_CSV : FLOE_OUT_JSON;
		if (fp)
			t.w = floe_output_create(fp, of, fcols, ncols, &fo, true);
		if (!t.w)
			e = floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	}
	if (e == FLOE_OK) {
		e = scan(ctx, q, filter, true, table_rec, &t, eb);
		if (e != FLOE_OK && !eb->code)
			e = t.cl ? cluster_fail(t.cl, e, eb) : out_full(eb);
	}
	if (e == FLOE_OK && t.cl && (e = floe_cluster_finish(t.cl, table_group, &t)) != FLOE_OK)
		e = cluster_fail(t.cl, e, eb);
	if (e == FLOE_OK && t.sort) {
		e = floe_sort_finish(t.sort, table_write, &t);
		if (e == FLOE_EOF)
			e = FLOE_OK;
		else if (e != FLOE_OK)
			e = e == FLOE_NOMEM || e == FLOE_IO ? out_full(eb) :
			    floe_errbuf_set(eb, e, "cannot sort");
	}
	if (t.w) {
		enum floe_err we = floe_output_finish(t.w);
		if (e == FLOE_OK && we != FLOE_OK)
			e = out_full(eb);
	}
	if (fp)
		fclose(fp);
	if (e == FLOE_OK && (out->full || lines.full))
		e = out_full(eb);
	bool json = q->format == FLOE_HQF_JSON;
	if (e == FLOE_OK && json && !table_json(out, fcols, ncols, &lines, t.more))
		e = out_full(eb);
	floe_webbuf_release(&lines);
	floe_sort_destroy(t.sort);
	floe_cluster_destroy(t.cl);
	floe_filter_destroy(filter);
	return e;
}

/* ---- charts ---- */

struct chart {
	struct floe_graph *g;
	const struct floe_httpq *q;
};

static enum floe_err chart_rec(void *ud, const struct floe_flow *f)
{
	struct chart *c = ud;
	enum floe_err e = floe_graph_add(c->g, f);
	if (e == FLOE_OK && c->q->has_host &&
	    (memcmp(f->saddr, c->q->host, 16) == 0 || memcmp(f->daddr, c->q->host, 16) == 0))
		e = floe_graph_add_vs(c->g, f);
	return e;
}

enum floe_err floe_webq_graph(const struct floe_webq_ctx *ctx, const struct floe_httpq *q,
                              struct floe_webbuf *out, struct floe_errbuf *eb)
{
	static const enum floe_graph_metric gm[] = {FLOE_GM_BYTES, FLOE_GM_PKTS, FLOE_GM_FLOWS};
	char vs[FLOE_ADDRSTRLEN + 8] = "";
	if (q->has_host) {
		floe_addr_format(q->host, vs, sizeof(vs));
	}
	bool bounded = q->range.start != INT64_MIN && q->range.end != INT64_MAX;
	struct floe_graph_opts go = {
		.t0 = bounded ? q->range.start : 0, .t1 = bounded ? q->range.end : 0,
		.bin = pick_bin(ctx, q), .metric = gm[q->metric], .by = q->by[0] ? q->by : NULL,
		.top = q->top, .stacked = q->by[0] != '\0', .vs = q->has_host ? vs : NULL,
		.budget = ctx->budget, .tmpdir = ctx->tmpdir, .log = ctx->log,
	};
	struct floe_filter *filter = compile(ctx, q->filter, eb);
	if (!filter)
		return eb->code;
	struct floe_errbuf geb = {0};
	struct chart c = {.g = floe_graph_create(&go, &geb), .q = q};
	enum floe_err e = FLOE_OK;
	if (!c.g)
		e = floe_errbuf_set(eb, geb.code == FLOE_NOMEM ? FLOE_NOMEM : FLOE_INVALID, "%s", geb.msg);
	if (e == FLOE_OK) {
		e = scan(ctx, q, filter, !q->has_host, chart_rec, &c, eb);
		/* LIMIT from the chart (not the deadline): more bins than a chart
		 * holds, the caller's b= */
		if (e != FLOE_OK && !eb->code)
			e = floe_errbuf_set(eb, e == FLOE_LIMIT ? FLOE_INVALID : e, "%s",
			                    floe_graph_error(c.g));
	}
	if (e == FLOE_OK) {
		FILE *fp = webbuf_file(out);
		if (!fp)
			e = floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		else {
			e = floe_graph_svg(c.g, fp);
			if (fclose(fp) != 0 && e == FLOE_OK)
				e = FLOE_IO;
			if (out->full)
				e = out_full(eb);
			else if (e != FLOE_OK)  /* LIMIT: more bins than a chart holds, the caller's b= */
				e = floe_errbuf_set(eb, e == FLOE_LIMIT ? FLOE_INVALID : e, "%s",
				                    *floe_graph_error(c.g) ? floe_graph_error(c.g) :
				                    floe_strerror(e));
		}
	}
	floe_graph_destroy(c.g);
	floe_filter_destroy(filter);
	return e;
}
