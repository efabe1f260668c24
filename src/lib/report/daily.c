/*
 * daily.c - the daily traffic report engine (report.h): per-host totals in
 * pass 1, the top hosts' peers, ports and time bins in pass 2, every
 * aggregate through the cluster operator so the report stays in budget.
 */
#include "report/report.h"

#include "query/cluster.h"
#include "report/prefixes.h"
#include "report/report_int.h"
#include "report/topk.h"
#include "util/mem.h"
#include "util/netset.h"

#include <stdlib.h>
#include <string.h>

#define DEF_TOP 30
#define DEF_PEERS 10
#define DEF_PORTS 5
#define DEF_BINS 24

/* A top host's address and its slot, sorted by address (pass 2 lookups). */
struct hidx {
	uint8_t addr[16];
	uint32_t i;
};

/* A chosen (host, peer) and its slot in the host's peers. */
struct pidx {
	uint32_t host;
	uint8_t addr[16];
	uint32_t slot;
};

struct floe_daily {
	struct floe_daily_opts o;
	int pass;                     /* 1, 2; 0 done */
	struct floe_errbuf eb;
	struct floe_budget cb[2];     /* the cluster operators' shares */
	struct floe_cluster *cl[2];
	struct floe_daily_result res;
	int64_t tmin, tmax;
	struct floe_topk hosts;       /* pass 1: the top N */
	struct floe_daily_host *harr; size_t hcap;
	struct hidx *hidx;
	uint8_t (*haddrs)[16];
	struct floe_daily_peer *parr; /* N x M */
	struct floe_topk *pheap;      /* N of them */
	struct pidx *pidx; size_t npidx;
	struct floe_daily_port *qarr; /* N x M x K */
	struct floe_topk *qheap;      /* N x M */
	uint64_t *bins;               /* N x nbins */
	struct floe_daily_stats st;
};

static size_t or_default(size_t v, size_t d)
{
	return v ? v : d;
}

struct floe_daily *floe_daily_create(const struct floe_daily_opts *o, struct floe_errbuf *eb)
{
	struct floe_daily *d = floe_calloc(o->budget, 1, sizeof(*d));
	if (!d) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	d->o = *o;
	d->o.top = or_default(o->top, DEF_TOP);
	d->o.peers = or_default(o->peers, DEF_PEERS);
	d->o.ports = or_default(o->ports, DEF_PORTS);
	d->o.bins = o->bins ? o->bins : DEF_BINS;
	d->res.top = d->o.top;
	d->res.peers = d->o.peers;
	d->res.ports = d->o.ports;
	d->tmin = INT64_MAX;
	d->tmax = INT64_MIN;
	d->pass = 1;
	size_t nm, nmk;
	if (__builtin_mul_overflow(d->o.top, d->o.peers, &nm) || __builtin_mul_overflow(nm, d->o.ports, &nmk) ||
	    nmk > ((size_t)1 << 32) || d->o.top > UINT32_MAX) {
		floe_errbuf_set(eb, FLOE_LIMIT, "--top %zu x --peers %zu x --ports %zu is too many", d->o.top,
		                d->o.peers, d->o.ports);
		floe_daily_destroy(d);
		return NULL;
	}
	d->hcap = d->o.top;
	d->harr = floe_calloc(o->budget, d->hcap, sizeof(*d->harr));
	if (!d->harr) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory: --top %zu hosts do not fit in the budget", d->o.top);
		floe_daily_destroy(d);
		return NULL;
	}
	/* pass 1 has one operator: all the budget left */
	size_t left = 0;
	if (o->budget && o->budget->limit)
		left = o->budget->limit > o->budget->used ? o->budget->limit - o->budget->used : 1;
	floe_budget_init(&d->cb[0], left);
	struct floe_cluster_opts co = {.keys = "saddr", .lean = true,
	                               .values = FLOE_CLV_SBYTES | FLOE_CLV_SPKTS | FLOE_CLV_TRANS,
	                               .budget = &d->cb[0], .tmpdir = o->tmpdir, .log = o->log};
	d->cl[0] = floe_cluster_create(&co, eb);
	if (!d->cl[0]) {
		floe_daily_destroy(d);
		return NULL;
	}
	return d;
}

void floe_daily_destroy(struct floe_daily *d)
{
	if (!d)
		return;
	struct floe_budget *b = d->o.budget;
	size_t n = d->o.top, m = d->o.peers, k = d->o.ports;
	floe_cluster_destroy(d->cl[0]);
	floe_cluster_destroy(d->cl[1]);
	floe_free(b, d->harr, d->hcap * sizeof(*d->harr));
	floe_free(b, d->hidx, n * sizeof(*d->hidx));
	floe_free(b, d->haddrs, n * sizeof(*d->haddrs));
	floe_free(b, d->parr, n * m * sizeof(*d->parr));
	floe_free(b, d->pheap, n * sizeof(*d->pheap));
	floe_free(b, d->pidx, n * m * sizeof(*d->pidx));
	floe_free(b, d->qarr, n * m * k * sizeof(*d->qarr));
	floe_free(b, d->qheap, n * m * sizeof(*d->qheap));
	floe_free(b, d->bins, n * d->o.bins * sizeof(*d->bins));
	floe_free(b, d, sizeof(*d));
}

int floe_daily_pass(const struct floe_daily *d)
{
	return d->pass;
}

const uint8_t (*floe_daily_hosts(const struct floe_daily *d, size_t *n))[16]
{
	*n = d->pass == 2 ? d->res.nhosts : 0;
	return (const uint8_t (*)[16])d->haddrs;
}

const char *floe_daily_error(const struct floe_daily *d)
{
	return d->eb.msg;
}

const struct floe_daily_result *floe_daily_result(const struct floe_daily *d)
{
	return d->pass == 0 ? &d->res : NULL;
}

void floe_daily_stats(const struct floe_daily *d, struct floe_daily_stats *st)
{
	*st = d->st;
}

static enum floe_err fail_cluster(struct floe_daily *d, struct floe_cluster *c, enum floe_err e)
{
	const char *m = floe_cluster_error(c);
	if (m && *m)
		return floe_errbuf_set(&d->eb, e, "%s", m);
	return floe_errbuf_set(&d->eb, e, "%s", e == FLOE_NOMEM ? "out of memory: the report does not fit "
	                       "in --memory" : floe_strerror(e));
}

/* ---- pass 1 ---- */

/* A record as one endpoint sees it: what it sent in s*, received in d*. */
static void side(struct floe_flow *r, const struct floe_flow *f, bool from_d)
{
	memset(r, 0, sizeof(*r));
	r->stime = f->stime;
	r->ltime = f->ltime;
	r->proto = f->proto;
	r->ipver = f->ipver;
	r->etype = f->etype;
	r->trans = 1;
	memcpy(r->saddr, from_d ? f->daddr : f->saddr, 16);
	memcpy(r->daddr, from_d ? f->saddr : f->daddr, 16);
	r->sbytes = from_d ? f->dbytes : f->sbytes;
	r->dbytes = from_d ? f->sbytes : f->dbytes;
	r->spkts = from_d ? f->dpkts : f->spkts;
	r->dpkts = from_d ? f->spkts : f->dpkts;
	r->dport = floe_rep_service_port(f);
}

static bool is_local(const struct floe_daily *d, const uint8_t a[16])
{
	return d->o.local && floe_netset_contains(d->o.local, a);
}

static enum floe_err add1(struct floe_daily *d, const struct floe_flow *f)
{
	struct floe_daily_result *r = &d->res;
	uint64_t bytes = f->sbytes + f->dbytes;
	r->flows++;
	r->total += bytes;
	r->pkts += f->spkts + f->dpkts;
	bool ls = is_local(d, f->saddr), ld = is_local(d, f->daddr);
	if (ls && ld) {
		r->internal += bytes;
	} else if (ls) {
		r->out += f->sbytes;
		r->in += f->dbytes;
	} else if (ld) {
		r->out += f->dbytes;
		r->in += f->sbytes;
	} else {
		r->transit += bytes;
	}
	if (f->stime < d->tmin)
		d->tmin = f->stime;
	if (f->ltime > d->tmax)
		d->tmax = f->ltime;
	struct floe_flow h;
	side(&h, f, false);
	enum floe_err e = floe_cluster_add(d->cl[0], &h);
	if (e == FLOE_OK && memcmp(f->saddr, f->daddr, 16) != 0) {
		side(&h, f, true);
		e = floe_cluster_add(d->cl[0], &h);
	}
	return e == FLOE_OK ? e : fail_cluster(d, d->cl[0], e);
}

static int host_cmp(const void *a, const void *b)
{
	const struct floe_daily_host *x = a, *y = b;
	uint64_t tx = x->out + x->in, ty = y->out + y->in;
	if (tx != ty)
		return tx > ty ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

static enum floe_err emit_host(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_daily *d = ud;
	struct floe_daily_host h = {0};
	memcpy(h.addr, f->saddr, 16);
	h.out = f->sbytes;
	h.in = f->dbytes;
	h.pkts_out = f->spkts;
	h.pkts_in = f->dpkts;
	h.flows = f->trans;
	d->res.hosts_seen++;
	floe_topk_push(&d->hosts, &h);
	return FLOE_OK;
}

static int hidx_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static long find_host(const struct floe_daily *d, const uint8_t a[16])
{
	size_t lo = 0, hi = d->res.nhosts;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(d->hidx[mid].addr, a, 16);
		if (c == 0)
			return d->hidx[mid].i;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int peer_cmp(const void *a, const void *b)
{
	const struct floe_daily_peer *x = a, *y = b;
	uint64_t tx = x->out + x->in, ty = y->out + y->in;
	if (tx != ty)
		return tx > ty ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

static int port_cmp(const void *a, const void *b)
{
	const struct floe_daily_port *x = a, *y = b;
	uint64_t tx = x->out + x->in, ty = y->out + y->in;
	if (tx != ty)
		return tx > ty ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* After pass 1: the top hosts, their lookup index, the pass-2 operators. */
static enum floe_err start_pass2(struct floe_daily *d)
{
	struct floe_budget *b = d->o.budget;
	struct floe_daily_result *r = &d->res;
	size_t n = d->o.top, m = d->o.peers, k = d->o.ports;
	floe_topk_sort(&d->hosts);
	r->nhosts = d->hosts.n;
	r->hosts = d->harr;
	r->start = d->o.range.start != INT64_MIN ? d->o.range.start : d->tmin;
	r->end = d->o.range.end != INT64_MAX ? d->o.range.end : d->tmax;
	if (!r->flows)
		r->start = r->end = 0;
	else if (r->end < r->start)
		r->end = r->start;
	r->nbins = d->o.bins;
	int64_t span = r->end - r->start;
	r->bin_ns = span / (int64_t)r->nbins + (span % (int64_t)r->nbins != 0);
	if (r->bin_ns < 1)
		r->bin_ns = 1;
	d->hidx = floe_calloc(b, n, sizeof(*d->hidx));
	d->haddrs = floe_calloc(b, n, sizeof(*d->haddrs));
	d->parr = floe_calloc(b, n * m, sizeof(*d->parr));
	d->pheap = floe_calloc(b, n, sizeof(*d->pheap));
	d->pidx = floe_calloc(b, n * m, sizeof(*d->pidx));
	d->qarr = floe_calloc(b, n * m * k, sizeof(*d->qarr));
	d->qheap = floe_calloc(b, n * m, sizeof(*d->qheap));
	d->bins = floe_calloc(b, n * d->o.bins, sizeof(*d->bins));
	if (!d->hidx || !d->haddrs || !d->parr || !d->pheap || !d->pidx || !d->qarr || !d->qheap || !d->bins)
		return floe_errbuf_set(&d->eb, FLOE_NOMEM, "out of memory: --top %zu x --peers %zu x --ports %zu "
		                       "do not fit in --memory", n, m, k);
	for (size_t i = 0; i < r->nhosts; i++) {
		struct floe_daily_host *h = &r->hosts[i];
		memcpy(d->hidx[i].addr, h->addr, 16);
		d->hidx[i].i = (uint32_t)i;
		memcpy(d->haddrs[i], h->addr, 16);
		h->local = is_local(d, h->addr);
		h->note = floe_prefixes_lookup(d->o.notes, h->addr);
		h->bins = d->bins + i * d->o.bins;
		h->peers = d->parr + i * m;
		floe_topk_init(&d->pheap[i], h->peers, sizeof(*h->peers), m, peer_cmp);
	}
	qsort(d->hidx, r->nhosts, sizeof(*d->hidx), hidx_cmp);
	floe_cluster_destroy(d->cl[0]);
	d->cl[0] = NULL;
	d->st.peak = d->cb[0].peak;
	/* pass 2: (host, peer) gets a third of what is left, (host, peer,
	 * port) two thirds: it has more groups */
	size_t left = 0;
	if (b && b->limit)
		left = b->limit > b->used ? b->limit - b->used : 3;
	floe_budget_init(&d->cb[0], left / 3);
	floe_budget_init(&d->cb[1], left - left / 3);
	struct floe_cluster_opts co = {.keys = "saddr daddr", .lean = true,
	                               .values = FLOE_CLV_SBYTES | FLOE_CLV_TRANS,
	                               .budget = &d->cb[0], .tmpdir = d->o.tmpdir, .log = d->o.log};
	d->cl[0] = floe_cluster_create(&co, &d->eb);
	co.keys = "saddr daddr proto dport";
	co.budget = &d->cb[1];
	if (d->cl[0])
		d->cl[1] = floe_cluster_create(&co, &d->eb);
	return d->cl[0] && d->cl[1] ? FLOE_OK : d->eb.code;
}

/* ---- pass 2 ---- */

static void add_bin(void *ud, int64_t bin, uint64_t v1, uint64_t v2)
{
	uint64_t *bins = ud;
	bins[bin] += v1 + v2;
}

static enum floe_err add2(struct floe_daily *d, const struct floe_flow *f)
{
	long hs = find_host(d, f->saddr), hd = find_host(d, f->daddr);
	if (hs < 0 && hd < 0)
		return FLOE_OK;
	d->st.records[1]++;
	for (int s = 0; s < 2; s++) {
		long h = s ? hd : hs;
		if (h < 0 || (s && hs >= 0 && memcmp(f->saddr, f->daddr, 16) == 0))
			continue;
		struct floe_flow r;
		side(&r, f, s == 1);
		for (int c = 0; c < 2; c++) {
			enum floe_err e = floe_cluster_add(d->cl[c], &r);
			if (e != FLOE_OK)
				return fail_cluster(d, d->cl[c], e);
		}
		const struct floe_daily_result *res = &d->res;
		floe_rep_spread(f->stime, f->ltime, res->start, res->bin_ns, 0, (int64_t)res->nbins - 1,
		                f->sbytes, f->dbytes, add_bin, d->bins + (size_t)h * d->o.bins);
	}
	return FLOE_OK;
}

static enum floe_err emit_peer(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_daily *d = ud;
	long h = find_host(d, f->saddr);
	if (h < 0)
		return FLOE_OK;
	struct floe_daily_peer p = {0};
	memcpy(p.addr, f->daddr, 16);
	p.out = f->sbytes;
	p.in = f->dbytes;
	p.flows = f->trans;
	floe_topk_push(&d->pheap[h], &p);
	return FLOE_OK;
}

static int pidx_cmp(const void *a, const void *b)
{
	const struct pidx *x = a, *y = b;
	if (x->host != y->host)
		return x->host < y->host ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

static long find_peer(const struct floe_daily *d, uint32_t host, const uint8_t a[16])
{
	struct pidx key = {.host = host};
	memcpy(key.addr, a, 16);
	const struct pidx *p = bsearch(&key, d->pidx, d->npidx, sizeof(*d->pidx), pidx_cmp);
	return p ? (long)(p - d->pidx) : -1;
}

static enum floe_err emit_port(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct floe_daily *d = ud;
	long h = find_host(d, f->saddr);
	long p = h < 0 ? -1 : find_peer(d, (uint32_t)h, f->daddr);
	if (p < 0)
		return FLOE_OK;
	struct floe_daily_port q = {.proto = f->proto, .port = f->dport, .out = f->sbytes, .in = f->dbytes,
	                            .flows = f->trans};
	const struct pidx *pi = &d->pidx[p];
	floe_topk_push(&d->qheap[pi->host * d->o.peers + pi->slot], &q);
	return FLOE_OK;
}

static enum floe_err end_pass2(struct floe_daily *d)
{
	struct floe_daily_result *r = &d->res;
	size_t m = d->o.peers, k = d->o.ports;
	enum floe_err e = floe_cluster_finish(d->cl[0], emit_peer, d);
	if (e != FLOE_OK)
		return fail_cluster(d, d->cl[0], e);
	d->npidx = 0;
	for (size_t i = 0; i < r->nhosts; i++) {
		struct floe_daily_host *h = &r->hosts[i];
		floe_topk_sort(&d->pheap[i]);
		h->npeers = d->pheap[i].n;
		for (size_t j = 0; j < h->npeers; j++) {
			struct floe_daily_peer *p = &h->peers[j];
			p->local = is_local(d, p->addr);
			p->note = floe_prefixes_lookup(d->o.notes, p->addr);
			p->ports = d->qarr + (i * m + j) * k;
			floe_topk_init(&d->qheap[i * m + j], p->ports, sizeof(*p->ports), k, port_cmp);
			struct pidx *x = &d->pidx[d->npidx++];
			x->host = (uint32_t)i;
			memcpy(x->addr, p->addr, 16);
			x->slot = (uint32_t)j;
		}
	}
	qsort(d->pidx, d->npidx, sizeof(*d->pidx), pidx_cmp);
	e = floe_cluster_finish(d->cl[1], emit_port, d);
	if (e != FLOE_OK)
		return fail_cluster(d, d->cl[1], e);
	for (size_t i = 0; i < r->nhosts; i++)
		for (size_t j = 0; j < r->hosts[i].npeers; j++) {
			struct floe_topk *t = &d->qheap[i * m + j];
			floe_topk_sort(t);
			r->hosts[i].peers[j].nports = t->n;
		}
	return FLOE_OK;
}

/* ---- passes ---- */

enum floe_err floe_daily_add(struct floe_daily *d, const struct floe_flow *f)
{
	if (d->eb.code != FLOE_OK)
		return d->eb.code;
	if (d->pass == 1) {
		d->st.records[0]++;
		return add1(d, f);
	}
	if (d->pass == 2)
		return add2(d, f);
	return floe_errbuf_set(&d->eb, FLOE_INVALID, "the report is finished");
}

static void count_stats(struct floe_daily *d, struct floe_cluster *c)
{
	struct floe_cluster_stats cs;
	floe_cluster_stats(c, &cs);
	d->st.spills += cs.spills;
	d->st.groups += cs.groups;
}

enum floe_err floe_daily_end_pass(struct floe_daily *d)
{
	if (d->eb.code != FLOE_OK)
		return d->eb.code;
	enum floe_err e = FLOE_OK;
	if (d->pass == 1) {
		floe_topk_init(&d->hosts, d->harr, sizeof(*d->harr), d->hcap, host_cmp);
		e = floe_cluster_finish(d->cl[0], emit_host, d);
		if (e != FLOE_OK)
			return fail_cluster(d, d->cl[0], e);
		count_stats(d, d->cl[0]);
		e = start_pass2(d);
		if (e == FLOE_OK)
			d->pass = d->res.nhosts ? 2 : 0;
	} else if (d->pass == 2) {
		e = end_pass2(d);
		if (d->cb[0].peak + d->cb[1].peak > d->st.peak)
			d->st.peak = d->cb[0].peak + d->cb[1].peak;
		count_stats(d, d->cl[0]);
		count_stats(d, d->cl[1]);
		if (e == FLOE_OK)
			d->pass = 0;
	}
	return e;
}
