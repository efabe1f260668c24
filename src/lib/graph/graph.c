/*
 * graph.c - time series charts (graph.h): bins from query/cluster.h, the
 * top N series by total, SVG and JSON writers.
 */
#include "graph/graph.h"
#include "graph/axis.h"

#include "field.h"
#include "query/cluster.h"
#include "util/mem.h"
#include "util/timefmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS ((int64_t)1000000000)
#define LABEL_LEN 160
#define MAX_KEYS 8

static const struct {
	const char *name, *alias;
	const char *unit;       /* of axis values */
	const char *what;       /* the y axis caption, before the bin */
	bool rate;              /* per second of the bin */
} metrics[] = {
	[FLOE_GM_BYTES] = {"bytes", NULL, "B", "bytes per", false},
	[FLOE_GM_PKTS] = {"pkts", "packets", "", "packets per", false},
	[FLOE_GM_FLOWS] = {"flows", "records", "", "flow records per", false},
	[FLOE_GM_BPS] = {"bps", "bits", "bit/s", "bit/s, mean over", true},
	[FLOE_GM_PPS] = {"pps", "rate", "pkt/s", "packets/s, mean over", true},
};

int floe_graph_metric_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
		if (strcasecmp(name, metrics[i].name) == 0 ||
		    (metrics[i].alias && strcasecmp(name, metrics[i].alias) == 0))
			return (int)i;
	return -1;
}

const char *floe_graph_metric_name(enum floe_graph_metric m)
{
	return (size_t)m < sizeof(metrics) / sizeof(metrics[0]) ? metrics[m].name : "?";
}

/* One drawn series: a top group, "other", the total or the --vs series. */
struct series {
	char label[LABEL_LEN];
	uint64_t hash;          /* of label */
	uint64_t total;         /* raw counter over the period (ranks the top) */
	uint64_t *v;            /* nbins raw counters */
};

struct keypart {
	const struct floe_field *fd;
	int plen;               /* /LEN as typed, or -1 */
};

struct floe_graph {
	struct floe_graph_opts o;    /* strings point into the copies below */
	char *by, *title, *vs;
	struct keypart kp[MAX_KEYS];
	size_t nk;
	struct floe_cluster *bins;   /* keys by (or none) and the time bin */
	struct floe_cluster *totals; /* keys by, no bin: ranks the groups */
	struct floe_cluster *vsbins; /* the --vs records, one series */
	int64_t tmin, tmax;          /* extent of the records added */
	bool any;
	bool computed;
	struct floe_errbuf eb;
	/* computed */
	int64_t b0;                  /* start of the first bin */
	size_t nbins;
	struct series ser[FLOE_GRAPH_MAX_TOP + 1];  /* the top, then "other" */
	size_t nser;
	bool other;                  /* ser[nser - 1] is "other" */
	struct series total, vsser;
	uint64_t *mem;               /* the counters of every series */
	size_t arrays;               /* its bytes (budget) */
};

static uint64_t label_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static char *dupstr(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Splits by into fields (for labels); cluster_create checks the rest. */
static enum floe_err parse_by(struct floe_graph *g, const char *by, struct floe_errbuf *eb)
{
	for (const char *p = by; *p;) {
		p += strspn(p, " ,");
		size_t n = strcspn(p, " ,");
		if (!n)
			break;
		char w[64];
		if (n >= sizeof(w))
			return floe_errbuf_set(eb, FLOE_INVALID, "key '%.*s' is too long", (int)n, p);
		memcpy(w, p, n);
		w[n] = '\0';
		p += n;
		char *slash = strchr(w, '/');
		int plen = -1;
		if (slash) {
			*slash = '\0';
			char *end;
			long l = strtol(slash + 1, &end, 10);
			if (*end || end == slash + 1 || l < 0 || l > 128)
				return floe_errbuf_set(eb, FLOE_INVALID, "bad mask in key '%s/%s'", w, slash + 1);
			plen = (int)l;
		}
		const struct floe_field *fd = floe_field_lookup(w);
		if (!fd || !(fd->kinds & FLOE_FK_KEY))
			return floe_errbuf_set(eb, FLOE_INVALID, "'%s' is not a key field ('floe fields')", w);
		if (fd->kinds & FLOE_FK_LOCAL)
			return floe_errbuf_set(eb, FLOE_INVALID, "'%s' needs --local, which graphs do not take",
			                       w);
		if (g->nk == MAX_KEYS)
			return floe_errbuf_set(eb, FLOE_LIMIT, "more than %d key fields", MAX_KEYS);
		g->kp[g->nk].fd = fd;
		g->kp[g->nk].plen = plen;
		g->nk++;
	}
	if (!g->nk)
		return floe_errbuf_set(eb, FLOE_INVALID, "no key field in '%s'", by);
	return FLOE_OK;
}

struct floe_graph *floe_graph_create(const struct floe_graph_opts *o, struct floe_errbuf *eb)
{
	if (o->bin < NS || o->bin % NS)
		return floe_errbuf_set(eb, FLOE_INVALID, "the bin must be whole seconds, at least 1s"),
		       NULL;
	if ((size_t)o->metric >= sizeof(metrics) / sizeof(metrics[0]))
		return floe_errbuf_set(eb, FLOE_INVALID, "unknown metric"), NULL;
	if (o->top > FLOE_GRAPH_MAX_TOP)
		return floe_errbuf_set(eb, FLOE_INVALID, "at most %d series (--top)",
		                       FLOE_GRAPH_MAX_TOP), NULL;
	struct floe_graph *g = calloc(1, sizeof(*g));
	if (!g)
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory"), NULL;
	g->o = *o;
	if (!g->o.top)
		g->o.top = 8;
	if (!g->o.width)
		g->o.width = 960;
	if (!g->o.height)
		g->o.height = 480;
	if (g->o.width < 320)
		g->o.width = 320;
	if (g->o.height < 200)
		g->o.height = 200;
	if (g->o.width > 10000)
		g->o.width = 10000;
	if (g->o.height > 10000)
		g->o.height = 10000;
	const char *by = o->by && *o->by ? o->by : NULL;
	g->by = dupstr(by);
	g->title = dupstr(o->title);
	g->vs = dupstr(o->vs);
	g->o.by = g->by;
	g->o.title = g->title;
	g->o.vs = g->vs;
	if ((by && !g->by) || (o->title && !g->title) || (o->vs && !g->vs)) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		goto fail;
	}
	if (by && parse_by(g, by, eb) != FLOE_OK)
		goto fail;
	struct floe_cluster_opts co = {
		.keys = by ? by : "", .bin = o->bin, .lean = true,
		.values = FLOE_CLV_PKTS | FLOE_CLV_BYTES | FLOE_CLV_TRANS,
		.budget = o->budget, .tmpdir = o->tmpdir, .log = o->log,
	};
	if (!(g->bins = floe_cluster_create(&co, eb)))
		goto fail;
	if (by) {
		co.bin = 0;
		if (!(g->totals = floe_cluster_create(&co, eb)))
			goto fail;
	}
	if (g->vs) {
		co.keys = "";
		co.bin = o->bin;
		if (!(g->vsbins = floe_cluster_create(&co, eb)))
			goto fail;
	}
	g->tmin = INT64_MAX;
	g->tmax = INT64_MIN;
	return g;
fail:
	floe_graph_destroy(g);
	return NULL;
}

static int64_t floor_bin(int64_t t, int64_t bin)
{
	int64_t q = t / bin;
	if (t % bin < 0)
		q--;
	return q * bin;
}

static enum floe_err too_many_bins(struct floe_graph *g, uint64_t nb)
{
	char bw[32];
	floe_axis_dur(g->o.bin, bw, sizeof(bw));
	return floe_errbuf_set(&g->eb, FLOE_LIMIT, "the period holds %" PRIu64 " bins of %s, more "
	                       "than %d: give a larger bin or a shorter period", nb, bw,
	                       FLOE_GRAPH_MAX_BINS);
}

static bool in_period(const struct floe_graph *g, const struct floe_flow *f)
{
	return g->o.t1 <= g->o.t0 || (f->stime < g->o.t1 && f->ltime >= g->o.t0);
}

static enum floe_err cluster_fail(struct floe_graph *g, struct floe_cluster *c, enum floe_err e)
{
	const char *m = floe_cluster_error(c);
	if (!*m)
		m = e == FLOE_NOMEM ? "out of memory: the groups do not fit in the memory budget" :
		    floe_strerror(e);
	return floe_errbuf_set(&g->eb, e, "%s", m);
}

enum floe_err floe_graph_add(struct floe_graph *g, const struct floe_flow *f)
{
	if (g->eb.code)
		return g->eb.code;
	if (g->computed)
		return floe_errbuf_set(&g->eb, FLOE_INVALID, "record added after the chart was drawn");
	if (!in_period(g, f))
		return FLOE_OK;
	enum floe_err e = floe_cluster_add(g->bins, f);
	if (e != FLOE_OK)
		return cluster_fail(g, g->bins, e);
	if (g->totals && (e = floe_cluster_add(g->totals, f)) != FLOE_OK)
		return cluster_fail(g, g->totals, e);
	bool wider = f->stime < g->tmin || f->ltime > g->tmax;
	if (f->stime < g->tmin)
		g->tmin = f->stime;
	if (f->ltime > g->tmax)
		g->tmax = f->ltime;
	g->any = true;
	/* a period taken from the records: fail as soon as it cannot be drawn,
	 * not after reading the rest */
	if (wider && g->o.t1 <= g->o.t0) {
		uint64_t nb = (uint64_t)(floor_bin(g->tmax, g->o.bin) - floor_bin(g->tmin, g->o.bin)) /
		              (uint64_t)g->o.bin + 1;
		if (nb > FLOE_GRAPH_MAX_BINS)
			return too_many_bins(g, nb);
	}
	return FLOE_OK;
}

enum floe_err floe_graph_add_vs(struct floe_graph *g, const struct floe_flow *f)
{
	if (g->eb.code)
		return g->eb.code;
	if (!g->vsbins)
		return floe_errbuf_set(&g->eb, FLOE_INVALID, "no --vs series in this chart");
	if (g->computed)
		return floe_errbuf_set(&g->eb, FLOE_INVALID, "record added after the chart was drawn");
	if (!in_period(g, f))
		return FLOE_OK;
	enum floe_err e = floe_cluster_add(g->vsbins, f);
	if (e != FLOE_OK)
		return cluster_fail(g, g->vsbins, e);
	return FLOE_OK;
}

const char *floe_graph_error(const struct floe_graph *g)
{
	return g->eb.msg;
}

/* ---- computing the series ---- */

/* The raw counter of the metric in a group (lean groups keep the sums on
 * the source side; both are added for safety). */
static uint64_t raw_of(const struct floe_graph *g, const struct floe_flow *f)
{
	switch (g->o.metric) {
	case FLOE_GM_BYTES:
	case FLOE_GM_BPS:
		return f->sbytes + f->dbytes;
	case FLOE_GM_PKTS:
	case FLOE_GM_PPS:
		return f->spkts + f->dpkts;
	case FLOE_GM_FLOWS:
		return f->trans;
	}
	return 0;
}

/* The label of a group: its key fields as `floe bins` prints them, masks
 * kept ("10.1.2.0/24"), separated by spaces. */
static void make_label(const struct floe_graph *g, const struct floe_flow *f, char *buf, size_t len)
{
	static const struct floe_fmtopts fo = {.timefmt = FLOE_TIME_ISO, .prec = 0};
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < g->nk && n + 1 < len; i++) {
		if (i)
			buf[n++] = ' ';
		n += floe_field_format(g->kp[i].fd, f, &fo, buf + n, len - n);
		if (n >= len)
			n = len - 1;
		if (g->kp[i].plen >= 0 && n + 1 < len) {
			int w = snprintf(buf + n, len - n, "/%d", g->kp[i].plen);
			n = w > 0 && (size_t)w < len - n ? n + (size_t)w : len - 1;
		}
	}
	buf[n] = '\0';
}

/* Ranks groups by total: bigger first, ties by label. */
static bool ranks_before(uint64_t ta, const char *la, uint64_t tb, const char *lb)
{
	return ta != tb ? ta > tb : strcmp(la, lb) < 0;
}

static enum floe_err take_total(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_graph *g = ud;
	char label[LABEL_LEN];
	make_label(g, f, label, sizeof(label));
	uint64_t t = raw_of(g, f);
	size_t n = g->nser;
	if (n == g->o.top && !ranks_before(t, label, g->ser[n - 1].total, g->ser[n - 1].label))
		return FLOE_OK;
	if (n == g->o.top)
		n--;
	size_t i = n;
	while (i > 0 && ranks_before(t, label, g->ser[i - 1].total, g->ser[i - 1].label)) {
		g->ser[i] = g->ser[i - 1];
		i--;
	}
	snprintf(g->ser[i].label, sizeof(g->ser[i].label), "%s", label);
	g->ser[i].total = t;
	g->nser = n + 1;
	return FLOE_OK;
}

static size_t bin_index(const struct floe_graph *g, int64_t t, bool *in)
{
	*in = t >= g->b0 && (uint64_t)(t - g->b0) / (uint64_t)g->o.bin < g->nbins;
	return *in ? (size_t)((uint64_t)(t - g->b0) / (uint64_t)g->o.bin) : 0;
}

static enum floe_err take_bin(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_graph *g = ud;
	bool in;
	size_t b = bin_index(g, f->stime, &in);
	if (!in)
		return FLOE_OK;
	uint64_t v = raw_of(g, f);
	g->total.v[b] += v;
	if (!g->nk) {
		g->ser[0].v[b] += v;
		return FLOE_OK;
	}
	char label[LABEL_LEN];
	make_label(g, f, label, sizeof(label));
	uint64_t h = label_hash(label);
	size_t ntop = g->nser - (g->other ? 1 : 0);
	for (size_t i = 0; i < ntop; i++)
		if (g->ser[i].hash == h && strcmp(g->ser[i].label, label) == 0) {
			g->ser[i].v[b] += v;
			return FLOE_OK;
		}
	if (g->other)
		g->ser[g->nser - 1].v[b] += v;
	return FLOE_OK;
}

static enum floe_err take_vs(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_graph *g = ud;
	bool in;
	size_t b = bin_index(g, f->stime, &in);
	if (in)
		g->vsser.v[b] += raw_of(g, f);
	return FLOE_OK;
}

/* Computes the series once: the period's bins, the top groups, the sums. */
static enum floe_err compute(struct floe_graph *g)
{
	if (g->eb.code || g->computed)
		return g->eb.code;
	g->computed = true;
	int64_t bin = g->o.bin;
	int64_t t0 = g->o.t0, t1 = g->o.t1;
	if (t1 <= t0) {
		t0 = g->any ? g->tmin : 0;
		t1 = g->any ? g->tmax + 1 : bin;
	}
	g->b0 = floor_bin(t0, bin);
	int64_t last = floor_bin(t1 - 1, bin);
	uint64_t nb = (uint64_t)(last - g->b0) / (uint64_t)bin + 1;
	if (nb > FLOE_GRAPH_MAX_BINS)
		return too_many_bins(g, nb);
	g->nbins = (size_t)nb;

	/* the top groups by total, then "other" if any group is left out */
	enum floe_err e;
	if (g->totals) {
		if ((e = floe_cluster_finish(g->totals, take_total, g)) != FLOE_OK)
			return cluster_fail(g, g->totals, e);
		struct floe_cluster_stats st;
		floe_cluster_stats(g->totals, &st);
		g->other = st.groups > g->nser;
		for (size_t i = 0; i < g->nser; i++)
			g->ser[i].hash = label_hash(g->ser[i].label);
		if (g->other) {
			snprintf(g->ser[g->nser].label, LABEL_LEN, "other");
			g->nser++;
		}
	} else {
		snprintf(g->ser[0].label, LABEL_LEN, "total");
		g->nser = 1;
	}
	snprintf(g->total.label, LABEL_LEN, "total");
	if (g->vsbins)
		snprintf(g->vsser.label, LABEL_LEN, "%s", g->vs);

	size_t narr = g->nser + 1 + (g->vsbins ? 1 : 0);
	if (g->nbins > SIZE_MAX / sizeof(uint64_t) / narr)
		return floe_errbuf_set(&g->eb, FLOE_NOMEM, "out of memory");
	g->arrays = g->nbins * narr * sizeof(uint64_t);
	uint64_t *mem = g->mem = floe_calloc(g->o.budget, 1, g->arrays);
	if (!mem) {
		g->arrays = 0;
		return floe_errbuf_set(&g->eb, FLOE_NOMEM, "out of memory: %zu bins of %zu series",
		                       g->nbins, narr);
	}
	for (size_t i = 0; i < g->nser; i++)
		g->ser[i].v = mem + i * g->nbins;
	g->total.v = mem + g->nser * g->nbins;
	if (g->vsbins)
		g->vsser.v = mem + (g->nser + 1) * g->nbins;

	if ((e = floe_cluster_finish(g->bins, take_bin, g)) != FLOE_OK)
		return cluster_fail(g, g->bins, e);
	if (g->vsbins && (e = floe_cluster_finish(g->vsbins, take_vs, g)) != FLOE_OK)
		return cluster_fail(g, g->vsbins, e);
	/* totals of the period as drawn (the top's rank totals may include
	 * bins outside it) */
	struct series *all[FLOE_GRAPH_MAX_TOP + 3];
	size_t na = 0;
	for (size_t i = 0; i < g->nser; i++)
		all[na++] = &g->ser[i];
	all[na++] = &g->total;
	if (g->vsbins)
		all[na++] = &g->vsser;
	for (size_t i = 0; i < na; i++) {
		all[i]->total = 0;
		for (size_t b = 0; b < g->nbins; b++)
			all[i]->total += all[i]->v[b];
	}
	return FLOE_OK;
}

/* The value plotted for raw counter x: x, or per second of the bin. */
static double value_of(const struct floe_graph *g, uint64_t x)
{
	double secs = (double)(g->o.bin / NS);
	switch (g->o.metric) {
	case FLOE_GM_BPS:
		return (double)x * 8 / secs;
	case FLOE_GM_PPS:
		return (double)x / secs;
	default:
		return (double)x;
	}
}

/* Writes a plotted value: exact integers for counters, up to 15
 * significant digits for rates. */
static void put_value(const struct floe_graph *g, FILE *out, uint64_t x)
{
	if (metrics[g->o.metric].rate)
		fprintf(out, "%.15g", value_of(g, x));
	else
		fprintf(out, "%" PRIu64, x);
}

/* Writes a series' total: the sum of a counter, the mean of a rate over
 * the period. */
static void put_total(const struct floe_graph *g, FILE *out, const struct series *s)
{
	if (metrics[g->o.metric].rate)
		fprintf(out, "%.15g", g->nbins ? value_of(g, s->total) / (double)g->nbins : 0.0);
	else
		fprintf(out, "%" PRIu64, s->total);
}

/* ---- text escaping ---- */

/* Length of the valid UTF-8 sequence at s (0 if not valid): no overlong
 * forms, surrogates, code points past U+10FFFF, or U+FFFE and U+FFFF,
 * which XML does not allow (RFC 3629 section 4). */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n = s[0] >= 0xf5 ? 0 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	if (s[0] == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf))
		return 0;
	return n;
}

/* Text as XML character data or attribute value: markup characters as
 * references, control characters and bytes that are not UTF-8 as '?'. */
static void put_xml(FILE *out, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	while (*s) {
		switch (*s) {
		case '&': fputs("&amp;", out); s++; continue;
		case '<': fputs("&lt;", out); s++; continue;
		case '>': fputs("&gt;", out); s++; continue;
		case '"': fputs("&quot;", out); s++; continue;
		case '\'': fputs("&#39;", out); s++; continue;
		}
		size_t n = utf8_len(s);
		if (n == 0 || (n == 1 && *s < 0x20)) {
			fputc('?', out);
			s++;
			continue;
		}
		fwrite(s, 1, n, out);
		s += n;
	}
}

/* Text as a JSON string, quotes included. */
static void put_json(FILE *out, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	fputc('"', out);
	while (*s) {
		if (*s == '"' || *s == '\\') {
			fputc('\\', out);
			fputc(*s++, out);
			continue;
		}
		size_t n = utf8_len(s);
		if (n == 0) {
			fputs("\\ufffd", out);
			s++;
		} else if (n == 1 && *s < 0x20) {
			fprintf(out, "\\u%04x", *s++);
		} else {
			fwrite(s, 1, n, out);
			s += n;
		}
	}
	fputc('"', out);
}

/* ---- JSON ---- */

static void json_series(const struct floe_graph *g, FILE *out, const struct series *s, bool other)
{
	fputs("{\"label\":", out);
	put_json(out, s->label);
	if (other)
		fputs(",\"other\":true", out);
	fputs(",\"total\":", out);
	put_total(g, out, s);
	fputs(",\"values\":[", out);
	for (size_t b = 0; b < g->nbins; b++) {
		if (b)
			fputc(',', out);
		put_value(g, out, s->v[b]);
	}
	fputs("]}", out);
}

static void default_title(const struct floe_graph *g, char *buf, size_t len)
{
	char bw[32];
	floe_axis_dur(g->o.bin, bw, sizeof(bw));
	static const char *const what[] = {
		[FLOE_GM_BYTES] = "Bytes", [FLOE_GM_PKTS] = "Packets", [FLOE_GM_FLOWS] = "Flow records",
		[FLOE_GM_BPS] = "Bit/s", [FLOE_GM_PPS] = "Packets/s",
	};
	int n = snprintf(buf, len, "%s per %s", what[g->o.metric], bw);
	if (g->by && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " by %s", g->by);
	if (g->vs && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", %s against the total", g->vs);
}

enum floe_err floe_graph_json(struct floe_graph *g, FILE *out)
{
	enum floe_err e = compute(g);
	if (e != FLOE_OK)
		return e;
	char title[512];
	if (g->title)
		snprintf(title, sizeof(title), "%s", g->title);
	else
		default_title(g, title, sizeof(title));
	fputs("{\"title\":", out);
	put_json(out, title);
	fprintf(out, ",\"metric\":\"%s\",\"unit\":\"%s\",\"bin\":%" PRId64 ",\"start\":%" PRId64
	        ",\"nbins\":%zu,\"by\":", metrics[g->o.metric].name, metrics[g->o.metric].unit,
	        g->o.bin / NS, g->b0 / NS, g->nbins);
	if (g->by)
		put_json(out, g->by);
	else
		fputs("null", out);
	fprintf(out, ",\"stacked\":%s,\"times\":[", g->o.stacked ? "true" : "false");
	for (size_t b = 0; b < g->nbins; b++)
		fprintf(out, "%s%" PRId64, b ? "," : "", (g->b0 + (int64_t)b * g->o.bin) / NS);
	fputs("],\"series\":[", out);
	for (size_t i = 0; i < g->nser; i++) {
		if (i)
			fputc(',', out);
		json_series(g, out, &g->ser[i], g->other && i == g->nser - 1);
	}
	fputs("],\"total\":", out);
	json_series(g, out, &g->total, false);
	if (g->vsbins) {
		fputs(",\"vs\":", out);
		json_series(g, out, &g->vsser, false);
	}
	fputs("}\n", out);
	if (fflush(out) != 0 || ferror(out))
		return floe_errbuf_set(&g->eb, FLOE_IO, "cannot write the chart");
	return FLOE_OK;
}

/* ---- SVG ---- */

static const char *const palette[] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#17becf",
};
#define OTHER_COLOR "#bab0ac"
#define VS_COLOR "#1a1a1a"
#define TOTAL_COLOR "#7f7f7f"

#define CHAR_W 7.0     /* mean width of a 12 px sans-serif character */
#define LEGEND_ROW 18.0

struct frame {
	double x0, y0, w, h;         /* plot area: left, top, width, height */
	double ymax;                 /* value at the top */
	int64_t t0, t1;              /* time at the left and right edges */
};

static double px_x(const struct frame *fr, int64_t t)
{
	return fr->x0 + fr->w * (double)(t - fr->t0) / (double)(fr->t1 - fr->t0);
}

static double px_y(const struct frame *fr, double v)
{
	return fr->y0 + fr->h - fr->h * (v / fr->ymax);
}

static const char *series_color(const struct floe_graph *g, size_t i)
{
	if (g->other && i == g->nser - 1)
		return OTHER_COLOR;
	return palette[i % (sizeof(palette) / sizeof(palette[0]))];
}

/* The label of a legend entry: "label (total)". */
static void legend_text(const struct floe_graph *g, const struct series *s, char *buf, size_t len)
{
	char tot[48];
	if (metrics[g->o.metric].rate) {
		/* a rate's total is its mean over the period */
		double mean = g->nbins ? value_of(g, s->total) / (double)g->nbins : 0;
		floe_axis_format_value(mean, metrics[g->o.metric].unit, tot, sizeof(tot));
		snprintf(buf, len, "%s (mean %s)", s->label, tot);
	} else {
		floe_axis_format_value((double)s->total, metrics[g->o.metric].unit, tot, sizeof(tot));
		snprintf(buf, len, "%s (%s)", s->label, tot);
	}
}

/* Legend entries: the series, the total when drawn apart, the --vs series. */
struct legend {
	char text[FLOE_GRAPH_MAX_TOP + 3][LABEL_LEN + 64];
	const char *color[FLOE_GRAPH_MAX_TOP + 3];
	bool line[FLOE_GRAPH_MAX_TOP + 3];
	size_t n;
	double x[FLOE_GRAPH_MAX_TOP + 3], y[FLOE_GRAPH_MAX_TOP + 3];
	unsigned rows;
};

static void legend_layout(const struct floe_graph *g, struct legend *lg, double left, double width)
{
	lg->n = 0;
	for (size_t i = 0; i < g->nser; i++) {
		legend_text(g, &g->ser[i], lg->text[lg->n], sizeof(lg->text[0]));
		lg->color[lg->n] = series_color(g, i);
		lg->line[lg->n] = !g->o.stacked;
		lg->n++;
	}
	if (!g->o.stacked && g->nk && g->vsbins) {
		legend_text(g, &g->total, lg->text[lg->n], sizeof(lg->text[0]));
		lg->color[lg->n] = TOTAL_COLOR;
		lg->line[lg->n] = true;
		lg->n++;
	}
	if (g->vsbins) {
		legend_text(g, &g->vsser, lg->text[lg->n], sizeof(lg->text[0]));
		lg->color[lg->n] = VS_COLOR;
		lg->line[lg->n] = true;
		lg->n++;
	}
	double x = left, y = 0;
	lg->rows = lg->n ? 1 : 0;
	for (size_t i = 0; i < lg->n; i++) {
		double w = 22 + CHAR_W * (double)strlen(lg->text[i]) + 18;
		if (x > left && x + w > left + width) {
			x = left;
			y += LEGEND_ROW;
			lg->rows++;
		}
		lg->x[i] = x;
		lg->y[i] = y;
		x += w;
	}
}

static void svg_path_steps(const struct floe_graph *g, FILE *out, const struct frame *fr,
                           const uint64_t *top, const uint64_t *base, const char *fill,
                           const char *stroke, double width, const char *extra)
{
	fputs("<path d=\"", out);
	for (size_t b = 0; b < g->nbins; b++) {
		int64_t ts = g->b0 + (int64_t)b * g->o.bin;
		double y = px_y(fr, value_of(g, top[b]));
		if (b == 0)
			fprintf(out, "M%.1f %.1f", px_x(fr, ts), y);
		else
			fprintf(out, "V%.1f", y);
		fprintf(out, "H%.1f", px_x(fr, ts + g->o.bin));
	}
	if (base) {
		for (size_t b = g->nbins; b-- > 0;) {
			int64_t ts = g->b0 + (int64_t)b * g->o.bin;
			fprintf(out, "V%.1fH%.1f", px_y(fr, value_of(g, base[b])), px_x(fr, ts));
		}
		fputc('Z', out);
	} else if (strcmp(fill, "none") != 0) {
		fprintf(out, "V%.1fH%.1fZ", px_y(fr, 0), px_x(fr, g->b0));
	}
	fprintf(out, "\" fill=\"%s\" stroke=\"%s\" stroke-width=\"%.1f\"%s/>\n", fill, stroke, width,
	        extra ? extra : "");
}

static void svg_data(const struct floe_graph *g, FILE *out, const struct series *s)
{
	fputs(" data-label=\"", out);
	put_xml(out, s->label);
	fputs("\" data-total=\"", out);
	put_total(g, out, s);
	fputs("\" data-values=\"", out);
	for (size_t b = 0; b < g->nbins; b++) {
		if (b)
			fputc(' ', out);
		put_value(g, out, s->v[b]);
	}
	fputc('"', out);
}

enum floe_err floe_graph_svg(struct floe_graph *g, FILE *out)
{
	enum floe_err e = compute(g);
	if (e != FLOE_OK)
		return e;
	double W = g->o.width, H = g->o.height;
	const char *unit = metrics[g->o.metric].unit;
	char title[512], bw[32];
	if (g->title)
		snprintf(title, sizeof(title), "%s", g->title);
	else
		default_title(g, title, sizeof(title));
	floe_axis_dur(g->o.bin, bw, sizeof(bw));

	/* stacked layers: cumulative sums, bottom up in series order */
	size_t cum_bytes = g->o.stacked ? g->nser * g->nbins * sizeof(uint64_t) : 0;
	uint64_t *cum = cum_bytes ? floe_malloc(g->o.budget, cum_bytes) : NULL;
	if (cum_bytes && !cum)
		return floe_errbuf_set(&g->eb, FLOE_NOMEM, "out of memory");
	for (size_t i = 0; cum && i < g->nser; i++)
		for (size_t b = 0; b < g->nbins; b++)
			cum[i * g->nbins + b] = g->ser[i].v[b] + (i ? cum[(i - 1) * g->nbins + b] : 0);

	/* the largest value drawn */
	bool total_line = !g->o.stacked && g->nk && g->vsbins;
	double vmax = 0;
	for (size_t b = 0; b < g->nbins; b++) {
		double v = value_of(g, g->o.stacked || total_line ? g->total.v[b] : 0);
		for (size_t i = 0; !g->o.stacked && i < g->nser; i++)
			v = fmax(v, value_of(g, g->ser[i].v[b]));
		if (g->vsbins)
			v = fmax(v, value_of(g, g->vsser.v[b]));
		vmax = fmax(vmax, v);
	}

	/* layout: title on top, y labels left, time labels and legend below */
	struct legend *lg = malloc(sizeof(*lg));
	if (!lg) {
		floe_free(g->o.budget, cum, cum_bytes);
		return floe_errbuf_set(&g->eb, FLOE_NOMEM, "out of memory");
	}
	struct frame fr = {.x0 = 0, .y0 = 44};
	double yt[64], ystep;
	unsigned ymaxn = (unsigned)fmax(2, fmin(10, (H - 160) / 45));
	size_t nyt = floe_axis_ticks(0, vmax > 0 ? vmax : 1, ymaxn, yt, 64, &ystep);
	fr.ymax = yt[nyt - 1];
	double ylw = 0;
	for (size_t i = 0; i < nyt; i++) {
		char s[48];
		floe_axis_format(yt[i], fr.ymax, ystep, unit, s, sizeof(s));
		ylw = fmax(ylw, CHAR_W * (double)strlen(s));
	}
	fr.x0 = 34 + ylw + 8;
	fr.w = W - fr.x0 - 20;
	legend_layout(g, lg, fr.x0, fr.w);
	fr.h = H - fr.y0 - 66 - LEGEND_ROW * lg->rows;
	if (fr.h < 40)
		fr.h = 40;
	fr.t0 = g->b0;
	fr.t1 = g->b0 + (int64_t)g->nbins * g->o.bin;

	double Ht = fmax(H, fr.y0 + fr.h + 66 + LEGEND_ROW * lg->rows);
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
	        "width=\"%.0f\" height=\"%.0f\" "
	        "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Verdana, sans-serif\" "
	        "font-size=\"12\" data-metric=\"%s\" data-unit=\"%s\" data-bin=\"%" PRId64 "\" "
	        "data-start=\"%" PRId64 "\" data-nbins=\"%zu\">\n",
	        W, Ht, W, Ht, metrics[g->o.metric].name, unit, g->o.bin / NS, g->b0 / NS, g->nbins);
	fputs("<title>", out);
	put_xml(out, title);
	fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", out);
	fprintf(out, "<text class=\"title\" x=\"%.1f\" y=\"24\" font-size=\"16\" font-weight=\"bold\">",
	        fr.x0);
	put_xml(out, title);
	fputs("</text>\n", out);

	/* y axis: grid lines, tick labels, caption */
	fputs("<g class=\"axis y\">\n", out);
	for (size_t i = 0; i < nyt; i++) {
		char s[48];
		double y = px_y(&fr, yt[i]);
		floe_axis_format(yt[i], fr.ymax, ystep, unit, s, sizeof(s));
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
		        fr.x0 - 4, y, fr.x0 + fr.w, y, i ? "#e4e4e4" : "#444444");
		fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
		        "data-value=\"%.15g\">", fr.x0 - 7, y + 4, yt[i]);
		put_xml(out, s);
		fputs("</text>\n", out);
	}
	char ycap[96];
	snprintf(ycap, sizeof(ycap), "%s %s", metrics[g->o.metric].what, bw);
	fprintf(out, "<text class=\"caption\" transform=\"translate(14 %.1f) rotate(-90)\" "
	        "text-anchor=\"middle\">", fr.y0 + fr.h / 2);
	put_xml(out, ycap);
	fputs("</text>\n</g>\n", out);

	/* x axis: time ticks with labels, caption with the period in UTC */
	int64_t xt[64], xstep;
	unsigned xmaxn = (unsigned)fmax(1, fmin(60, fr.w / 90));
	size_t nxt = floe_axis_time_ticks(fr.t0, fr.t1, xmaxn, xt, 64, &xstep);
	fputs("<g class=\"axis x\">\n", out);
	fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/>\n",
	        fr.x0, fr.y0, fr.x0, fr.y0 + fr.h);
	for (size_t i = 0; i < nxt; i++) {
		char lab[32], date[32];
		double x = px_x(&fr, xt[i]);
		floe_axis_time_label(xt[i], xstep, i ? xt[i - 1] : INT64_MIN, lab, sizeof(lab), date,
		                     sizeof(date));
		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/>\n",
		        x, fr.y0 + fr.h, x, fr.y0 + fr.h + 5);
		/* a label that would stand past the chart's right edge ends
		 * at its tick instead of centring on it */
		double half = CHAR_W * (double)strlen(lab) / 2;
		const char *anchor = x + half > W - 2 ? "end" : "middle";
		fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" "
		        "data-time=\"%" PRId64 "\">%s</text>\n", x, fr.y0 + fr.h + 18, anchor, xt[i] / NS,
		        lab);
		if (*date)
			fprintf(out, "<text class=\"date\" x=\"%.1f\" y=\"%.1f\" "
			        "text-anchor=\"%s\">%s</text>\n", x, fr.y0 + fr.h + 32,
			        x + CHAR_W * (double)strlen(date) / 2 > W - 2 ? "end" : "middle", date);
	}
	char from[40], to[40], xcap[160];
	floe_time_format(fr.t0, FLOE_TIME_ISO, 0, from, sizeof(from));
	floe_time_format(fr.t1, FLOE_TIME_ISO, 0, to, sizeof(to));
	snprintf(xcap, sizeof(xcap), "time (UTC), %s to %s, bins of %s", from, to, bw);
	if (CHAR_W * (double)strlen(xcap) > W - 20)
		snprintf(xcap, sizeof(xcap), "time (UTC), bins of %s", bw);
	fprintf(out, "<text class=\"caption\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
	        fr.x0 + fr.w / 2, fr.y0 + fr.h + 50);
	put_xml(out, xcap);
	fputs("</text>\n</g>\n", out);

	/* the series, clipped to the plot area */
	fprintf(out, "<clipPath id=\"plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
	        "height=\"%.1f\"/></clipPath>\n", fr.x0, fr.y0 - 1, fr.w + 1, fr.h + 2);
	fprintf(out, "<g class=\"plot\" clip-path=\"url(#plot)\" data-mode=\"%s\">\n",
	        g->o.stacked ? "stacked" : "overlay");
	for (size_t i = 0; i < g->nser; i++) {
		bool oth = g->other && i == g->nser - 1;
		fprintf(out, "<g class=\"series%s\"", oth ? " other" : "");
		svg_data(g, out, &g->ser[i]);
		fputs(">\n", out);
		if (g->o.stacked)
			svg_path_steps(g, out, &fr, cum + i * g->nbins, i ? cum + (i - 1) * g->nbins : NULL,
			               series_color(g, i), series_color(g, i), 0.5, NULL);
		else
			svg_path_steps(g, out, &fr, g->ser[i].v, NULL, "none", series_color(g, i), 1.5, NULL);
		fputs("</g>\n", out);
	}
	/* the total: the top of a stack, or the one series; a line of its own
	 * when overlaid series are set against it */
	fputs("<g class=\"total\"", out);
	svg_data(g, out, &g->total);
	if (total_line) {
		fputs(">\n", out);
		svg_path_steps(g, out, &fr, g->total.v, NULL, "none", TOTAL_COLOR, 1.5,
		               " stroke-dasharray=\"4 3\"");
		fputs("</g>\n", out);
	} else {
		fputs("/>\n", out);
	}
	if (g->vsbins) {
		fputs("<g class=\"vs\"", out);
		svg_data(g, out, &g->vsser);
		fputs(">\n", out);
		svg_path_steps(g, out, &fr, g->vsser.v, NULL, "none", VS_COLOR, 2, NULL);
		fputs("</g>\n", out);
	}
	fputs("</g>\n", out);
	if (!g->any)
		fprintf(out, "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
		        "fill=\"#888888\">no records in this period</text>\n", fr.x0 + fr.w / 2,
		        fr.y0 + fr.h / 2);

	/* legend */
	double ly = fr.y0 + fr.h + 64;
	fputs("<g class=\"legend\">\n", out);
	for (size_t i = 0; i < lg->n; i++) {
		double x = lg->x[i], y = ly + lg->y[i];
		fputs("<g class=\"legend-item\">", out);
		if (lg->line[i])
			fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
			        "stroke-width=\"3\"/>", x, y + 6, x + 16, y + 6, lg->color[i]);
		else
			fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\" "
			        "fill=\"%s\"/>", x, y, lg->color[i]);
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", x + 22, y + 10);
		put_xml(out, lg->text[i]);
		fputs("</text></g>\n", out);
	}
	fputs("</g>\n</svg>\n", out);
	free(lg);
	floe_free(g->o.budget, cum, cum_bytes);
	if (fflush(out) != 0 || ferror(out))
		return floe_errbuf_set(&g->eb, FLOE_IO, "cannot write the chart");
	return FLOE_OK;
}

void floe_graph_destroy(struct floe_graph *g)
{
	if (!g)
		return;
	floe_cluster_destroy(g->bins);
	floe_cluster_destroy(g->totals);
	floe_cluster_destroy(g->vsbins);
	floe_free(g->o.budget, g->mem, g->arrays);
	free(g->by);
	free(g->title);
	free(g->vs);
	free(g);
}
