/*
 * tops.c - the one-pass top lists of `floe report` (report.h): ports by
 * bytes and by rate, talkers per subnet, broadcasters.  Aggregation goes
 * through the cluster operator (spilling past the budget); the lists kept
 * are bounded by --top (and per subnet).
 */
#include "report/report.h"

#include "query/cluster.h"
#include "report/render_int.h"
#include "report/report_int.h"
#include "report/topk.h"
#include "util/addr.h"
#include "util/mem.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct floe_rtop {
	struct floe_rtop_opts o;
	struct floe_errbuf eb;
	struct floe_budget cb[2];
	struct floe_cluster *cl[2];   /* PORTS, BROADCAST: [0]; TALKERS: subnets, sources */
	struct floe_aggcol col;       /* BROADCAST: dcount(daddr) */
	struct floe_rtop_row *rows, *rows2, *rows3;
	size_t cap, cap2, cap3;
	struct floe_topk t1, t2;
	struct floe_topk *per;        /* TALKERS: a heap per subnet */
	size_t nsub;
};

static unsigned plen_of(const struct floe_rtop *t, const uint8_t a[16])
{
	return floe_addr_is_v4(a) ? 96 + t->o.subnet4 : t->o.subnet6;
}

static int by_bytes(const void *a, const void *b)
{
	const struct floe_rtop_row *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	int c = memcmp(x->net, y->net, 16);
	return c ? c : memcmp(x->addr, y->addr, 16);
}

static int by_rate(const void *a, const void *b)
{
	const struct floe_rtop_row *x = a, *y = b;
	if (x->rate != y->rate)
		return x->rate > y->rate ? -1 : 1;
	return by_bytes(a, b);
}

static void budgets(struct floe_rtop *t, unsigned n)
{
	struct floe_budget *b = t->o.budget;
	size_t left = 0;
	if (b && b->limit)
		left = b->limit > b->used ? b->limit - b->used : n;
	for (unsigned i = 0; i < n; i++)
		floe_budget_init(&t->cb[i], left / n);
}

struct floe_rtop *floe_rtop_create(const struct floe_rtop_opts *o, struct floe_errbuf *eb)
{
	struct floe_rtop *t = floe_calloc(o->budget, 1, sizeof(*t));
	if (!t) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	t->o = *o;
	t->o.top = o->top ? o->top : 20;
	t->o.per = o->per ? o->per : 5;
	t->o.subnet4 = o->subnet4 ? o->subnet4 : 24;
	t->o.subnet6 = o->subnet6 ? o->subnet6 : 64;
	size_t tp;
	if (__builtin_mul_overflow(t->o.top, t->o.per, &tp) || tp > ((size_t)1 << 32) ||
	    (o->kind == FLOE_RTOP_TALKERS && t->o.top > UINT16_MAX)) {
		floe_errbuf_set(eb, FLOE_LIMIT, "--top %zu is too many%s", t->o.top,
		                o->kind == FLOE_RTOP_TALKERS ? " (at most 65535 subnets)" : "");
		floe_free(o->budget, t, sizeof(*t));
		return NULL;
	}
	t->cap = t->o.top;
	t->cap2 = o->kind == FLOE_RTOP_PORTS ? t->o.top : 0;
	t->cap3 = o->kind == FLOE_RTOP_TALKERS ? t->o.top * t->o.per : 0;
	t->rows = floe_calloc(o->budget, t->cap, sizeof(*t->rows));
	t->rows2 = t->cap2 ? floe_calloc(o->budget, t->cap2, sizeof(*t->rows2)) : NULL;
	t->rows3 = t->cap3 ? floe_calloc(o->budget, t->cap3, sizeof(*t->rows3)) : NULL;
	t->per = t->cap3 ? floe_calloc(o->budget, t->o.top, sizeof(*t->per)) : NULL;
	if (!t->rows || (t->cap2 && !t->rows2) || (t->cap3 && (!t->rows3 || !t->per))) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory: --top %zu does not fit in --memory", t->o.top);
		floe_rtop_destroy(t);
		return NULL;
	}
	struct floe_cluster_opts co = {.lean = true, .tmpdir = o->tmpdir, .log = o->log};
	size_t ncl = 1;
	switch (o->kind) {
	case FLOE_RTOP_PORTS:
		co.keys = "proto dport";
		co.values = FLOE_CLV_BYTES | FLOE_CLV_PKTS | FLOE_CLV_TIMES | FLOE_CLV_TRANS;
		break;
	case FLOE_RTOP_TALKERS:
		co.keys = "saddr";
		co.values = FLOE_CLV_BYTES | FLOE_CLV_PKTS | FLOE_CLV_TIMES | FLOE_CLV_TRANS;
		ncl = 2;
		break;
	case FLOE_RTOP_BROADCAST: {
		size_t n = 0;
		if (floe_aggcol_parse("dcount(daddr)", &t->col, 1, &n, eb) != FLOE_OK) {
			floe_rtop_destroy(t);
			return NULL;
		}
		co.keys = "saddr";
		co.lean = false;
		co.cols = &t->col;
		co.ncols = 1;
		break;
	}
	}
	budgets(t, (unsigned)ncl);
	for (size_t i = 0; i < ncl; i++) {
		co.budget = &t->cb[i];
		if (!(t->cl[i] = floe_cluster_create(&co, eb))) {
			floe_rtop_destroy(t);
			return NULL;
		}
	}
	floe_topk_init(&t->t1, t->rows, sizeof(*t->rows), t->cap, by_bytes);
	if (t->rows2)
		floe_topk_init(&t->t2, t->rows2, sizeof(*t->rows2), t->cap2, by_rate);
	return t;
}

void floe_rtop_destroy(struct floe_rtop *t)
{
	if (!t)
		return;
	struct floe_budget *b = t->o.budget;
	floe_cluster_destroy(t->cl[0]);
	floe_cluster_destroy(t->cl[1]);
	floe_free(b, t->rows, t->cap * sizeof(*t->rows));
	floe_free(b, t->rows2, t->cap2 * sizeof(*t->rows2));
	floe_free(b, t->rows3, t->cap3 * sizeof(*t->rows3));
	floe_free(b, t->per, t->cap3 ? t->o.top * sizeof(*t->per) : 0);
	floe_free(b, t, sizeof(*t));
}

const char *floe_rtop_error(const struct floe_rtop *t)
{
	return t->eb.msg;
}

bool floe_rtop_is_broadcast(const struct floe_flow *f)
{
	static const uint8_t bcast[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	if (memcmp(f->daddr, bcast, 16) == 0)
		return true;
	if (floe_addr_is_v4(f->daddr) ? (f->daddr[12] & 0xf0) == 0xe0 : f->daddr[0] == 0xff)
		return f->etype == FLOE_ETH_IPV4 || f->etype == FLOE_ETH_IPV6 || f->ipver != 0;
	return (f->flags & FLOE_F_MAC) && (f->dmac[0] & 1);
}

static enum floe_err fail(struct floe_rtop *t, struct floe_cluster *c, enum floe_err e)
{
	const char *m = floe_cluster_error(c);
	return floe_errbuf_set(&t->eb, e, "%s", m && *m ? m : e == FLOE_NOMEM ?
	                       "out of memory: the report does not fit in --memory" : floe_strerror(e));
}

enum floe_err floe_rtop_add(struct floe_rtop *t, const struct floe_flow *f)
{
	if (t->eb.code != FLOE_OK)
		return t->eb.code;
	if (t->o.kind == FLOE_RTOP_BROADCAST && !floe_rtop_is_broadcast(f))
		return FLOE_OK;
	struct floe_flow sp;
	if (t->o.kind == FLOE_RTOP_PORTS) {
		sp = *f;
		sp.dport = floe_rep_service_port(f);
		f = &sp;
	}
	enum floe_err e = floe_cluster_add(t->cl[0], f);
	if (e != FLOE_OK)
		return fail(t, t->cl[0], e);
	if (t->o.kind == FLOE_RTOP_TALKERS) {
		struct floe_flow m = *f;
		floe_addr_mask(m.saddr, plen_of(t, f->saddr));
		e = floe_cluster_add(t->cl[1], &m);
		if (e != FLOE_OK)
			return fail(t, t->cl[1], e);
	}
	return FLOE_OK;
}

static void fill(struct floe_rtop_row *r, const struct floe_flow *f)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->addr, f->saddr, 16);
	r->bytes = f->sbytes + f->dbytes;
	r->pkts = f->spkts + f->dpkts;
	r->flows = f->trans;
	r->stime = f->stime;
	r->ltime = f->ltime;
	int64_t dur = f->ltime - f->stime;
	r->rate = dur > 0 ? (double)r->bytes * 8e9 / (double)dur : 0.0;
}

static enum floe_err emit_port(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_rtop *t = ud;
	struct floe_rtop_row r;
	fill(&r, f);
	memset(r.addr, 0, 16);
	r.proto = f->proto;
	r.port = f->dport;
	floe_topk_push(&t->t1, &r);
	floe_topk_push(&t->t2, &r);
	return FLOE_OK;
}

static enum floe_err emit_bcast(void *ud, const struct floe_flow *f, const double *extra)
{
	struct floe_rtop *t = ud;
	struct floe_rtop_row r;
	fill(&r, f);
	r.dests = (uint64_t)(extra[0] + 0.5);
	floe_topk_push(&t->t1, &r);
	return FLOE_OK;
}

static enum floe_err emit_subnet(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_rtop *t = ud;
	struct floe_rtop_row r;
	fill(&r, f);
	memcpy(r.net, f->saddr, 16);
	memset(r.addr, 0, 16);
	r.plen = plen_of(t, f->saddr);
	r.net_bytes = r.bytes;
	floe_topk_push(&t->t1, &r);
	return FLOE_OK;
}

static int net_cmp(const void *a, const void *b)
{
	return memcmp(((const struct floe_rtop_row *)a)->net, ((const struct floe_rtop_row *)b)->net, 16);
}

static enum floe_err emit_source(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_rtop *t = ud;
	struct floe_rtop_row key = {0};
	memcpy(key.net, f->saddr, 16);
	floe_addr_mask(key.net, plen_of(t, f->saddr));
	/* rows2 holds the top subnets sorted by address here */
	const struct floe_rtop_row *s = bsearch(&key, t->rows2, t->nsub, sizeof(key), net_cmp);
	if (!s)
		return FLOE_OK;
	struct floe_rtop_row r;
	fill(&r, f);
	memcpy(r.net, s->net, 16);
	r.plen = s->plen;
	r.net_bytes = s->net_bytes;
	floe_topk_push(&t->per[s->port], &r);
	return FLOE_OK;
}

enum floe_err floe_rtop_finish(struct floe_rtop *t, const struct floe_rtop_row **rows, size_t *n,
                               const struct floe_rtop_row **rows2, size_t *n2)
{
	*rows = *rows2 = NULL;
	*n = *n2 = 0;
	if (t->eb.code != FLOE_OK)
		return t->eb.code;
	enum floe_err e = FLOE_OK;
	switch (t->o.kind) {
	case FLOE_RTOP_PORTS:
		if ((e = floe_cluster_finish(t->cl[0], emit_port, t)) != FLOE_OK)
			return fail(t, t->cl[0], e);
		floe_topk_sort(&t->t1);
		floe_topk_sort(&t->t2);
		*rows = t->rows;
		*n = t->t1.n;
		*rows2 = t->rows2;
		*n2 = t->t2.n;
		return FLOE_OK;
	case FLOE_RTOP_BROADCAST:
		if ((e = floe_cluster_finish(t->cl[0], emit_bcast, t)) != FLOE_OK)
			return fail(t, t->cl[0], e);
		floe_topk_sort(&t->t1);
		*rows = t->rows;
		*n = t->t1.n;
		return FLOE_OK;
	case FLOE_RTOP_TALKERS:
		break;
	}
	/* subnets first, then their sources; rows2 is scratch for the lookup
	 * (port: the subnet's rank) */
	if ((e = floe_cluster_finish(t->cl[1], emit_subnet, t)) != FLOE_OK)
		return fail(t, t->cl[1], e);
	floe_topk_sort(&t->t1);
	t->nsub = t->t1.n;
	t->rows2 = floe_calloc(t->o.budget, t->nsub ? t->nsub : 1, sizeof(*t->rows2));
	if (!t->rows2)
		return floe_errbuf_set(&t->eb, FLOE_NOMEM, "out of memory");
	t->cap2 = t->nsub ? t->nsub : 1;
	for (size_t i = 0; i < t->nsub; i++) {
		t->rows2[i] = t->rows[i];
		t->rows2[i].port = (uint16_t)0;
		floe_topk_init(&t->per[i], t->rows3 + i * t->o.per, sizeof(*t->rows3), t->o.per, by_bytes);
	}
	for (size_t i = 0; i < t->nsub; i++)
		t->rows2[i].port = (uint16_t)i;
	qsort(t->rows2, t->nsub, sizeof(*t->rows2), net_cmp);
	if ((e = floe_cluster_finish(t->cl[0], emit_source, t)) != FLOE_OK)
		return fail(t, t->cl[0], e);
	/* the result: each subnet's sources, subnets in rank order, packed */
	size_t k = 0;
	for (size_t i = 0; i < t->nsub; i++) {
		floe_topk_sort(&t->per[i]);
		for (size_t j = 0; j < t->per[i].n; j++)
			t->rows3[k++] = t->rows3[i * t->o.per + j];
	}
	*rows = t->rows3;
	*n = k;
	*rows2 = t->rows;     /* the subnets themselves */
	*n2 = t->nsub;
	return FLOE_OK;
}

/* ---- output ---- */

static const char *const kind_names[] = {"ports", "talkers", "broadcast"};

static void csv_or_text_header(FILE *fp, enum floe_report_fmt fmt, enum floe_rtop_kind kind, bool second)
{
	if (fmt == FLOE_REPORT_CSV) {
		if (kind == FLOE_RTOP_PORTS)
			fprintf(fp, "list,rank,port,proto,dport,bytes,pkts,flows,rate_bps\n");
		else if (kind == FLOE_RTOP_TALKERS)
			fprintf(fp, "subnet,subnet_bytes,rank,saddr,bytes,pkts,flows\n");
		else
			fprintf(fp, "rank,saddr,bytes,pkts,flows,dests\n");
		return;
	}
	if (kind == FLOE_RTOP_PORTS)
		fprintf(fp, "%s%s\n%4s  %-12s %19s %10s %15s %9s %15s\n", second ? "\n" : "",
		        second ? "Top destination ports by rate (bits/s over the time each was active)"
		               : "Top destination ports by bytes",
		        "#", "Port", "Bytes", "", "Packets", "Flows", "Rate bit/s");
	else if (kind == FLOE_RTOP_BROADCAST)
		fprintf(fp, "Top broadcast and multicast senders\n%4s  %-39s %19s %10s %15s %9s %9s\n", "#",
		        "Source", "Bytes", "", "Packets", "Flows", "Dests");
}

enum floe_err floe_rtop_write(FILE *fp, enum floe_report_fmt fmt, enum floe_rtop_kind kind,
                              const struct floe_rtop_row *rows, size_t n, const struct floe_rtop_row *rows2,
                              size_t n2)
{
	char a[FLOE_ADDRSTRLEN], net[FLOE_ADDRSTRLEN], pn[32], t1[32], t2[32], t3[32], h[32];
	if (fmt == FLOE_REPORT_HTML)
		return FLOE_INVALID;
	if (fmt == FLOE_REPORT_JSON)
		fprintf(fp, "{\"report\": \"%s\", \"%s\": [", kind_names[kind],
		        kind == FLOE_RTOP_PORTS ? "by_bytes" : kind == FLOE_RTOP_TALKERS ? "subnets" : "senders");
	else
		csv_or_text_header(fp, fmt, kind, false);
	for (int list = 0; list < (kind == FLOE_RTOP_PORTS ? 2 : 1); list++) {
		const struct floe_rtop_row *rs = list ? rows2 : rows;
		size_t rn = list ? n2 : n;
		if (list && fmt == FLOE_REPORT_JSON)
			fputs("],\n \"by_rate\": [", fp);
		else if (list && fmt == FLOE_REPORT_TEXT)
			csv_or_text_header(fp, fmt, kind, true);
		size_t sub = 0;   /* TALKERS: the subnet being printed, in rows2 */
		for (size_t i = 0; i < rn; i++) {
			const struct floe_rtop_row *r = &rs[i];
			floe_addr_format(r->addr, a, sizeof(a));
			floe_addr_format(r->net, net, sizeof(net));
			unsigned pl = floe_addr_is_v4(r->net) && r->plen >= 96 ? r->plen - 96 : r->plen;
			bool first_of_net = kind == FLOE_RTOP_TALKERS && (i == 0 || memcmp(r->net, rs[i - 1].net, 16));
			if (first_of_net && i)
				sub++;
			if (kind == FLOE_RTOP_PORTS)
				floe_rep_port_name(r->proto, r->port, pn, sizeof(pn));
			if (fmt == FLOE_REPORT_CSV) {
				if (kind == FLOE_RTOP_PORTS)
					fprintf(fp, "%s,%zu,%s,%u,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.0f\n",
					        list ? "rate" : "bytes", i + 1, pn, r->proto, r->port, r->bytes, r->pkts,
					        r->flows, r->rate);
				else if (kind == FLOE_RTOP_TALKERS)
					fprintf(fp, "%s/%u,%" PRIu64 ",%zu,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", net, pl,
					        r->net_bytes, i + 1, a, r->bytes, r->pkts, r->flows);
				else
					fprintf(fp, "%zu,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", i + 1, a,
					        r->bytes, r->pkts, r->flows, r->dests);
			} else if (fmt == FLOE_REPORT_JSON) {
				if (kind == FLOE_RTOP_TALKERS) {
					if (first_of_net)
						fprintf(fp, "%s\n  {\"subnet\": \"%s/%u\", \"bytes\": %" PRIu64 ", \"sources\": [",
						        i ? "]}," : "", net, pl, r->net_bytes);
					fprintf(fp, "%s{\"saddr\": \"%s\", \"bytes\": %" PRIu64 ", \"packets\": %" PRIu64
					        ", \"flows\": %" PRIu64 "}", first_of_net ? "" : ", ", a, r->bytes, r->pkts,
					        r->flows);
					continue;
				}
				fprintf(fp, "%s\n  {", i ? "," : "");
				if (kind == FLOE_RTOP_PORTS)
					fprintf(fp, "\"port\": \"%s\", \"proto\": %u, \"dport\": %u, ", pn, r->proto, r->port);
				else
					fprintf(fp, "\"saddr\": \"%s\", \"dests\": %" PRIu64 ", ", a, r->dests);
				fprintf(fp, "\"bytes\": %" PRIu64 ", \"packets\": %" PRIu64 ", \"flows\": %" PRIu64, r->bytes,
				        r->pkts, r->flows);
				if (kind == FLOE_RTOP_PORTS)
					fprintf(fp, ", \"rate_bps\": %.0f", r->rate);
				fputc('}', fp);
			} else {
				floe_report_thousands(t1, sizeof(t1), r->bytes);
				floe_report_thousands(t2, sizeof(t2), r->pkts);
				floe_report_thousands(t3, sizeof(t3), r->flows);
				floe_report_human(h, sizeof(h), r->bytes);
				if (kind == FLOE_RTOP_TALKERS) {
					if (first_of_net) {
						char nb[32], nh[32];
						fprintf(fp, "%s%s/%u  %s (%s)\n", i ? "\n" : "Top sources per subnet (bytes, "
						        "packets, flows)\n\n", net, pl,
						        floe_report_thousands(nb, sizeof(nb), r->net_bytes),
						        floe_report_human(nh, sizeof(nh), r->net_bytes));
					}
					fprintf(fp, "    %-39s %19s %10s %15s %9s\n", a, t1, h, t2, t3);
				} else if (kind == FLOE_RTOP_PORTS) {
					fprintf(fp, "%4zu  %-12s %19s %10s %15s %9s %15.0f\n", i + 1, pn, t1, h, t2, t3, r->rate);
				} else {
					fprintf(fp, "%4zu  %-39s %19s %10s %15s %9s %9" PRIu64 "\n", i + 1, a, t1, h, t2, t3,
					        r->dests);
				}
			}
		}
		if (fmt == FLOE_REPORT_JSON && kind == FLOE_RTOP_TALKERS && rn)
			fputs("]}", fp);
		(void)sub;
	}
	if (fmt == FLOE_REPORT_JSON)
		fprintf(fp, "\n]}\n");
	return ferror(fp) ? FLOE_IO : FLOE_OK;
}
