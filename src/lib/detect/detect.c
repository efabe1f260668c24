/*
 * detect.c - the detectors (detect.h): each turns records into small
 * synthetic records that the query layer's cluster and sort operators
 * count in bounded memory, then reads the thresholds off their groups.
 *
 *   scan      cluster (saddr, dport, proto, window) dcount(daddr) and
 *             cluster (saddr, daddr, proto, window) dcount(dport); spkts of
 *             the synthetic record is 1 when the handshake completed, so the
 *             group's spkts / trans is the success ratio.
 *   smtp      cluster (saddr, window) dcount(daddr) over mail flows.
 *   watch     cluster (host, entry) of flows hitting the list, then sorted
 *             by host so each host's entries come together.
 *   beacon    sort by (saddr, daddr, dport, proto, stime): each connection
 *             key's start times arrive in order and their intervals are
 *             summed as they pass (Welford), nothing kept per key.
 *   baseline  cluster (host, day) dcount(peer) and cluster (host, proto,
 *             port, side) over history and period, both sorted by host:
 *             a host's history days come before its period days.
 */
#include "detect/detect.h"
#include "query/cluster.h"
#include "query/local.h"
#include "query/sort.h"
#include "util/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TCP header bits (RFC 9293 section 3.1). */
#define TCP_ACK 0x10

#define NS 1000000000LL
/* Beacon series: after this many connections an interval longer than
 * BEACON_GAP times the mean so far ends the series and starts another. */
#define BEACON_SETTLED 4
#define BEACON_GAP 10.0
#define MAX_PASS2_ADDRS 256

static const char *const finding_names[FLOE_FIND__COUNT] = {
	[FLOE_FIND_HSCAN] = "hscan", [FLOE_FIND_VSCAN] = "vscan", [FLOE_FIND_SMTP] = "smtp",
	[FLOE_FIND_WATCH] = "watch", [FLOE_FIND_BEACON] = "beacon", [FLOE_FIND_TOP] = "top",
	[FLOE_FIND_VOLUME] = "volume", [FLOE_FIND_PEERS] = "peers", [FLOE_FIND_SERVICE] = "service",
};

const char *floe_finding_name(enum floe_finding_type t)
{
	return (unsigned)t < FLOE_FIND__COUNT ? finding_names[t] : "?";
}

struct topent {
	uint8_t host[16];
	uint64_t bytes;
};

/* Per host state of the baseline stream. */
struct basehost {
	bool valid;
	uint8_t host[16];
	double sb, sb2, sp, sp2;   /* history: sums of daily bytes, peers, squares */
	uint64_t hist_bytes, period_bytes;
	bool has_hist;
};

/* Per key state of the beacon stream. */
struct beaconkey {
	bool valid;
	struct floe_flow key;      /* saddr daddr dport proto */
	uint64_t n;                /* connections */
	int64_t first, prev;
	uint16_t prev_sport;
	double mean, m2;           /* intervals (s): Welford */
};

struct floe_detect {
	struct floe_detect_opts o;
	struct floe_errbuf eb;
	struct floe_cluster *c1, *c2;
	struct floe_aggcol col1, col2;
	struct floe_sort *sort;
	struct floe_finding *fs;
	size_t nfs, capfs;
	uint64_t more;
	uint8_t (*addrs)[16];
	size_t naddrs, capaddrs;
	bool pass2;
	struct basehost bh;
	struct beaconkey bk;
	struct topent *top_p, *top_h;   /* period and history top lists */
	size_t ntop_p, ntop_h;
	struct floe_finding cur;        /* watch: the host being gathered */
	bool cur_valid;
	uint64_t spills;                /* cluster spills, counted at finish */
	/* The caller's budget split: each operator gets a share of its own
	 * (one operator spilling cannot free what another holds), the
	 * findings a quarter. */
	struct floe_budget share[3], own;
	struct floe_budget *parent;
};

bool floe_flow_completed(const struct floe_flow *f)
{
	static const uint8_t none[16];
	/* a one-way record of a router export (NetFlow v5, most v9/IPFIX):
	 * the answer is in another record, so the initiator's ACK must do */
	bool oneway = f->dpkts == 0 && f->dtcpflags == 0 && memcmp(f->exporter, none, 16) != 0;
	if (f->proto == 6)
		return (f->stcpflags & TCP_ACK) && ((f->dtcpflags & TCP_ACK) || oneway);
	return f->dpkts > 0 || oneway;
}

static int addr_cmp(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 16);
}

static bool is_local(const struct floe_detect *d, const uint8_t a[16])
{
	return d->o.local && floe_netset_contains(d->o.local, a);
}

/* ---- findings ---- */

static enum floe_err add_finding(struct floe_detect *d, const struct floe_finding *x)
{
	if (d->nfs >= d->o.max_findings) {
		d->more++;
		return FLOE_OK;
	}
	if (!floe_grow(d->o.budget, (void **)&d->fs, &d->capfs, d->nfs + 1, sizeof(*d->fs), 16))
		return floe_errbuf_set(&d->eb, FLOE_NOMEM, "no memory for %zu findings", d->nfs + 1);
	d->fs[d->nfs++] = *x;
	return FLOE_OK;
}

static int finding_cmp(const void *a, const void *b)
{
	const struct floe_finding *x = a, *y = b;
	int c = addr_cmp(x->host, y->host);
	if (c)
		return c;
	if (x->t0 != y->t0)
		return x->t0 < y->t0 ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return addr_cmp(x->peer, y->peer);
}

/* Keeps the FLOE_FINDING_EXAMPLES smallest addresses (or ports), so the
 * examples do not depend on the order records arrive in. */
static void add_example(struct floe_finding *x, const uint8_t a[16], uint16_t port, bool ports)
{
	unsigned n = x->nexamples, i;
	for (i = 0; i < n; i++) {
		int c = ports ? (int)port - (int)x->ex_ports[i] : addr_cmp(a, x->examples[i]);
		if (c == 0)
			return;
		if (c < 0)
			break;
	}
	if (i == FLOE_FINDING_EXAMPLES)
		return;
	unsigned last = n < FLOE_FINDING_EXAMPLES ? n : FLOE_FINDING_EXAMPLES - 1;
	for (unsigned k = last; k > i; k--) {
		memcpy(x->examples[k], x->examples[k - 1], 16);
		x->ex_ports[k] = x->ex_ports[k - 1];
	}
	if (ports) {
		memset(x->examples[i], 0, 16);
		x->ex_ports[i] = port;
	} else {
		memcpy(x->examples[i], a, 16);
		x->ex_ports[i] = 0;
	}
	if (n < FLOE_FINDING_EXAMPLES)
		x->nexamples++;
}

/* ---- creating ---- */

static struct floe_budget *share(struct floe_detect *d, int k)
{
	return d->parent ? &d->share[k] : NULL;
}

static enum floe_err make_cluster(struct floe_detect *d, struct floe_cluster **c, const char *keys,
                                  int64_t bin, const char *dcount, struct floe_aggcol *col,
                                  unsigned lean_values, int k)
{
	size_t n = 0;
	if (dcount && floe_aggcol_parse(dcount, col, 1, &n, &d->eb) != FLOE_OK)
		return d->eb.code;
	struct floe_cluster_opts co = {.keys = keys, .bin = bin, .cols = dcount ? col : NULL,
	                               .ncols = n, .lean = lean_values != 0, .values = lean_values,
	                               .budget = share(d, k), .tmpdir = d->o.tmpdir, .log = d->o.log};
	*c = floe_cluster_create(&co, &d->eb);
	return *c ? FLOE_OK : d->eb.code;
}

static enum floe_err make_sort(struct floe_detect *d, const char *keys, size_t nextra, int k)
{
	struct floe_sortkey sk[8];
	size_t n;
	if (floe_sortkeys_parse(keys, NULL, 0, sk, 8, &n, &d->eb) != FLOE_OK)
		return d->eb.code;
	d->sort = floe_sort_create(sk, n, nextra, 0, share(d, k));
	if (!d->sort)
		return floe_errbuf_set(&d->eb, FLOE_NOMEM, "no memory for a sort");
	return FLOE_OK;
}

static enum floe_err setup(struct floe_detect *d)
{
	const struct floe_detect_opts *o = &d->o;
	if (o->window <= 0)
		return floe_errbuf_set(&d->eb, FLOE_INVALID, "the window must be positive");
	switch (o->kind) {
	case FLOE_DETECT_SCAN:
		if (make_cluster(d, &d->c1, "saddr dport proto", o->window, "dcount(daddr)", &d->col1, 0,
		                 0) ||
		    make_cluster(d, &d->c2, "saddr daddr proto", o->window, "dcount(dport)", &d->col2, 0,
		                 1))
			return d->eb.code;
		return FLOE_OK;
	case FLOE_DETECT_SMTP:
		if (o->nsmtp_ports == 0)
			return floe_errbuf_set(&d->eb, FLOE_INVALID, "no mail ports");
		return make_cluster(d, &d->c1, "saddr", o->window, "dcount(daddr)", &d->col1, 0, 0);
	case FLOE_DETECT_WATCH:
		if (!o->watch)
			return floe_errbuf_set(&d->eb, FLOE_INVALID, "no watchlist");
		if (make_cluster(d, &d->c1, "saddr sid", 0, NULL, NULL,
		                 FLOE_CLV_TIMES | FLOE_CLV_BYTES | FLOE_CLV_TRANS, 0))
			return d->eb.code;
		return make_sort(d, "saddr:asc sid:asc", 0, 1);
	case FLOE_DETECT_BEACON:
		if (o->beacon_min < 3)
			return floe_errbuf_set(&d->eb, FLOE_INVALID, "a beacon needs at least 3 connections");
		return make_sort(d, "saddr:asc daddr:asc dport:asc proto:asc stime:asc", 0, 0);
	case FLOE_DETECT_BASELINE:
		if (!o->local)
			return floe_errbuf_set(&d->eb, FLOE_INVALID,
			                       "baselines are per local host: give the local networks");
		if (o->history < o->window || o->period_end <= o->period_start)
			return floe_errbuf_set(&d->eb, FLOE_INVALID,
			                       "a baseline needs a period and at least a window of history");
		if (make_cluster(d, &d->c1, "saddr", o->window, "dcount(daddr)", &d->col1, 0, 0) ||
		    make_cluster(d, &d->c2, "saddr proto dport sport", 0, NULL, NULL,
		                 FLOE_CLV_TIMES | FLOE_CLV_TRANS, 1))
			return d->eb.code;
		if (o->base_top) {
			d->top_p = floe_calloc(o->budget, o->base_top + 1, sizeof(*d->top_p));
			d->top_h = floe_calloc(o->budget, o->base_top + 1, sizeof(*d->top_h));
			if (!d->top_p || !d->top_h)
				return floe_errbuf_set(&d->eb, FLOE_NOMEM, "no memory for the top lists");
		}
		return make_sort(d, "saddr:asc sid:asc stime:asc", 1, 2);
	}
	return floe_errbuf_set(&d->eb, FLOE_INVALID, "unknown detector");
}

struct floe_detect *floe_detect_create(const struct floe_detect_opts *o, struct floe_errbuf *eb)
{
	struct floe_detect *d = calloc(1, sizeof(*d));
	if (!d) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	d->o = *o;
	if (!d->o.max_findings)
		d->o.max_findings = 10000;
	if (o->budget) {
		/* operators: scan 2, smtp 1, watch 2, beacon 1, baseline 3 */
		static const unsigned parts[] = {2, 1, 2, 1, 3};
		size_t limit = o->budget->limit;
		size_t np = (unsigned)o->kind < 5 ? parts[o->kind] : 1;
		d->parent = o->budget;
		for (int k = 0; k < 3; k++)
			floe_budget_init(&d->share[k], limit ? limit / 4 * 3 / np : 0);
		floe_budget_init(&d->own, limit ? limit / 4 : 0);
		d->o.budget = &d->own;
	}
	if (setup(d) != FLOE_OK) {
		floe_errbuf_set(eb, d->eb.code, "%s", d->eb.msg);
		floe_detect_destroy(d);
		return NULL;
	}
	return d;
}

void floe_detect_destroy(struct floe_detect *d)
{
	if (!d)
		return;
	floe_cluster_destroy(d->c1);
	floe_cluster_destroy(d->c2);
	floe_sort_destroy(d->sort);
	floe_free(d->o.budget, d->fs, d->capfs * sizeof(*d->fs));
	floe_free(d->o.budget, d->addrs, d->capaddrs * sizeof(*d->addrs));
	if (d->top_p)
		floe_free(d->o.budget, d->top_p, (d->o.base_top + 1) * sizeof(*d->top_p));
	if (d->top_h)
		floe_free(d->o.budget, d->top_h, (d->o.base_top + 1) * sizeof(*d->top_h));
	free(d);
}

const char *floe_detect_error(const struct floe_detect *d)
{
	return d->eb.msg;
}

uint64_t floe_detect_spills(const struct floe_detect *d)
{
	uint64_t n = d->spills;
	if (d->sort)
		n += floe_sort_spilled(d->sort);
	return n;
}

/* The first operator message, as ": message", or "". */
static const char *op_error(const struct floe_detect *d)
{
	static const char none[] = "";
	for (int k = 0; k < 2; k++) {
		const struct floe_cluster *c = k ? d->c2 : d->c1;
		const char *m = c ? floe_cluster_error(c) : NULL;
		if (m && *m) {
			/* the handle's buffer outlives the call */
			return m;
		}
	}
	return none;
}

/* ---- pass 1 ---- */

/* The record the operators see: only what the detector counts. */
static void synth(struct floe_flow *r, const struct floe_flow *f)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->saddr, f->saddr, 16);
	memcpy(r->daddr, f->daddr, 16);
	r->stime = r->ltime = f->stime;  /* one bin: the flow counts where it starts */
	r->proto = f->proto;
	r->ipver = f->ipver;
	r->etype = f->etype;
	r->trans = 1;
}

static bool tcp_udp(const struct floe_flow *f)
{
	return (f->proto == 6 || f->proto == 17) && !(f->flags & FLOE_F_DIRUNK);
}

static bool mail_port(const struct floe_detect *d, uint16_t p)
{
	for (size_t i = 0; i < d->o.nsmtp_ports; i++)
		if (d->o.smtp_ports[i] == p)
			return true;
	return false;
}

/* The watch hit of f: the local host (the side not on the list, or the
 * local one when both are) and the entry; false if neither side is listed. */
static bool watch_hit(const struct floe_detect *d, const struct floe_flow *f, uint8_t host[16],
                      long *entry)
{
	long ls = floe_watchlist_lookup(d->o.watch, f->saddr);
	long ld = floe_watchlist_lookup(d->o.watch, f->daddr);
	if (ls < 0 && ld < 0)
		return false;
	bool src_host = ls < 0 || (ld >= 0 && !(is_local(d, f->daddr) && !is_local(d, f->saddr)));
	memcpy(host, src_host ? f->saddr : f->daddr, 16);
	*entry = src_host ? ld : ls;
	return true;
}

static enum floe_err add_baseline(struct floe_detect *d, const struct floe_flow *f)
{
	const struct floe_detect_opts *o = &d->o;
	if (f->stime < o->period_start - o->history || f->stime >= o->period_end)
		return FLOE_OK;
	struct floe_flow g = *f, r;
	bool swapped = floe_flow_orient_local(&g, o->local);
	if (!is_local(d, g.saddr))
		return FLOE_OK;
	synth(&r, &g);
	r.sbytes = g.sbytes + g.dbytes;
	enum floe_err e = floe_cluster_add(d->c1, &r);
	if (e != FLOE_OK || !tcp_udp(f) || !floe_flow_completed(f))
		return e;
	synth(&r, &g);
	memset(r.daddr, 0, 16);
	r.dport = swapped ? g.sport : g.dport;   /* the service's port */
	r.sport = swapped;                       /* 1: the host served it */
	return floe_cluster_add(d->c2, &r);
}

enum floe_err floe_detect_add(struct floe_detect *d, const struct floe_flow *f)
{
	if (d->eb.code)
		return d->eb.code;
	struct floe_flow r;
	enum floe_err e = FLOE_OK;
	switch (d->o.kind) {
	case FLOE_DETECT_SCAN:
		if (!tcp_udp(f))
			return FLOE_OK;
		synth(&r, f);
		r.dport = f->dport;
		r.spkts = floe_flow_completed(f);
		e = floe_cluster_add(d->c1, &r);
		if (e == FLOE_OK)
			e = floe_cluster_add(d->c2, &r);
		break;
	case FLOE_DETECT_SMTP:
		if (f->proto != 6 || (f->flags & FLOE_F_DIRUNK) || !mail_port(d, f->dport) ||
		    (d->o.local && !is_local(d, f->saddr)))
			return FLOE_OK;
		synth(&r, f);
		e = floe_cluster_add(d->c1, &r);
		break;
	case FLOE_DETECT_WATCH: {
		long entry;
		if (!watch_hit(d, f, r.saddr, &entry))
			return FLOE_OK;
		uint8_t host[16];
		memcpy(host, r.saddr, 16);
		synth(&r, f);
		memcpy(r.saddr, host, 16);
		memset(r.daddr, 0, 16);
		r.ltime = f->ltime;
		r.sensor = (uint32_t)entry;
		r.sbytes = f->sbytes + f->dbytes;
		r.spkts = f->spkts + f->dpkts;
		e = floe_cluster_add(d->c1, &r);
		break;
	}
	case FLOE_DETECT_BEACON:
		if (!tcp_udp(f) || (d->o.local && (!is_local(d, f->saddr) || is_local(d, f->daddr))))
			return FLOE_OK;
		synth(&r, f);
		r.sport = f->sport;
		r.dport = f->dport;
		e = floe_sort_add(d->sort, &r, NULL);
		break;
	case FLOE_DETECT_BASELINE:
		e = add_baseline(d, f);
		break;
	}
	if (e != FLOE_OK)
		floe_errbuf_set(&d->eb, e, "counting: %s%s%s", floe_strerror(e),
		                *op_error(d) ? ": " : "", op_error(d));
	return e;
}

/* ---- thresholds ---- */

static enum floe_err scan_h_emit(void *ud, const struct floe_flow *g, const double *extra)
{
	struct floe_detect *d = ud;
	double ratio = g->trans ? (double)g->spkts / g->trans : 0;
	if (extra[0] < (double)d->o.scan_hosts || ratio > d->o.scan_max_success)
		return FLOE_OK;
	struct floe_finding x = {.type = FLOE_FIND_HSCAN, .port = g->dport, .proto = g->proto,
	                         .t0 = g->stime, .t1 = g->ltime, .flows = g->trans,
	                         .targets = (uint64_t)llround(extra[0]), .ratio = ratio};
	memcpy(x.host, g->saddr, 16);
	return add_finding(d, &x);
}

static enum floe_err scan_v_emit(void *ud, const struct floe_flow *g, const double *extra)
{
	struct floe_detect *d = ud;
	double ratio = g->trans ? (double)g->spkts / g->trans : 0;
	if (extra[0] < (double)d->o.scan_ports || ratio > d->o.scan_max_success)
		return FLOE_OK;
	struct floe_finding x = {.type = FLOE_FIND_VSCAN, .proto = g->proto, .t0 = g->stime,
	                         .t1 = g->ltime, .flows = g->trans,
	                         .targets = (uint64_t)llround(extra[0]), .ratio = ratio};
	memcpy(x.host, g->saddr, 16);
	memcpy(x.peer, g->daddr, 16);
	return add_finding(d, &x);
}

static enum floe_err smtp_emit(void *ud, const struct floe_flow *g, const double *extra)
{
	struct floe_detect *d = ud;
	if (extra[0] <= (double)d->o.smtp_servers)
		return FLOE_OK;
	struct floe_finding x = {.type = FLOE_FIND_SMTP, .proto = 6, .t0 = g->stime, .t1 = g->ltime,
	                         .flows = g->trans, .targets = (uint64_t)llround(extra[0])};
	memcpy(x.host, g->saddr, 16);
	return add_finding(d, &x);
}

static enum floe_err to_sort(void *ud, const struct floe_flow *g, const double *extra)
{
	struct floe_detect *d = ud;
	return floe_sort_add(d->sort, g, extra);
}

/* Baseline: a host's days (sid 0, the distinct peers as the extra value)
 * and its services (sid 1) go into one sort, days first. */
static enum floe_err day_to_sort(void *ud, const struct floe_flow *g, const double *extra)
{
	struct floe_detect *d = ud;
	struct floe_flow r = *g;
	r.sensor = 0;
	return floe_sort_add(d->sort, &r, extra);
}

static enum floe_err service_to_sort(void *ud, const struct floe_flow *g, const double *extra)
{
	(void)extra;
	struct floe_detect *d = ud;
	struct floe_flow r = *g;
	double none = 0;
	r.sensor = 1;
	return floe_sort_add(d->sort, &r, &none);
}

static enum floe_err watch_flush(struct floe_detect *d)
{
	if (!d->cur_valid)
		return FLOE_OK;
	d->cur_valid = false;
	return add_finding(d, &d->cur);
}

static enum floe_err watch_emit(void *ud, const struct floe_flow *g, const double *extra)
{
	(void)extra;
	struct floe_detect *d = ud;
	struct floe_finding *x = &d->cur;
	if (d->cur_valid && addr_cmp(x->host, g->saddr) != 0) {
		enum floe_err e = watch_flush(d);
		if (e != FLOE_OK)
			return e;
	}
	if (!d->cur_valid) {
		memset(x, 0, sizeof(*x));
		x->type = FLOE_FIND_WATCH;
		memcpy(x->host, g->saddr, 16);
		x->t0 = g->stime;
		x->t1 = g->ltime;
		d->cur_valid = true;
	}
	x->t0 = g->stime < x->t0 ? g->stime : x->t0;
	x->t1 = g->ltime > x->t1 ? g->ltime : x->t1;
	x->flows += g->trans;
	x->bytes += g->sbytes;   /* lean BYTES: both directions on the source side */
	if (x->nentries < FLOE_FINDING_EXAMPLES)
		x->entries[x->nentries] = g->sensor;
	x->nentries++;
	return FLOE_OK;
}

static enum floe_err beacon_flush(struct floe_detect *d)
{
	struct beaconkey *k = &d->bk;
	if (!k->valid)
		return FLOE_OK;
	k->valid = false;
	if (k->n < d->o.beacon_min)
		return FLOE_OK;
	double var = k->m2 / (double)(k->n - 1);   /* n - 1 intervals */
	double cv = k->mean > 0 ? sqrt(var) / k->mean : INFINITY;
	if (cv > d->o.beacon_max_cv || k->mean * NS < (double)d->o.beacon_min_interval)
		return FLOE_OK;
	struct floe_finding x = {.type = FLOE_FIND_BEACON, .port = k->key.dport,
	                         .proto = k->key.proto, .t0 = k->first, .t1 = k->prev,
	                         .flows = k->n, .ratio = cv, .value = k->mean};
	memcpy(x.host, k->key.saddr, 16);
	memcpy(x.peer, k->key.daddr, 16);
	return add_finding(d, &x);
}

static enum floe_err beacon_emit(void *ud, const struct floe_flow *g, const double *extra)
{
	(void)extra;
	struct floe_detect *d = ud;
	struct beaconkey *k = &d->bk;
	if (k->valid && (addr_cmp(k->key.saddr, g->saddr) || addr_cmp(k->key.daddr, g->daddr) ||
	                 k->key.dport != g->dport || k->key.proto != g->proto)) {
		enum floe_err e = beacon_flush(d);
		if (e != FLOE_OK)
			return e;
	}
	if (!k->valid) {
		memset(k, 0, sizeof(*k));
		k->valid = true;
		k->key = *g;
		k->n = 1;
		k->first = k->prev = g->stime;
		k->prev_sport = g->sport;
		return FLOE_OK;
	}
	/* the next interval of a long flow (same source port) or a repeat */
	if (g->sport == k->prev_sport || g->stime <= k->prev)
		return FLOE_OK;
	double iv = (double)(g->stime - k->prev) / NS;
	if (k->n > BEACON_SETTLED && iv > BEACON_GAP * k->mean) {
		/* a pause (the host was off): what came before is a series of
		 * its own, and a new one starts here */
		struct floe_flow key = k->key;
		enum floe_err e = beacon_flush(d);
		if (e != FLOE_OK)
			return e;
		memset(k, 0, sizeof(*k));
		k->valid = true;
		k->key = key;
		k->n = 1;
		k->first = k->prev = g->stime;
		k->prev_sport = g->sport;
		return FLOE_OK;
	}
	k->n++;
	double delta = iv - k->mean;
	k->mean += delta / (double)(k->n - 1);
	k->m2 += delta * (iv - k->mean);
	k->prev = g->stime;
	k->prev_sport = g->sport;
	return FLOE_OK;
}

/* ---- baseline ---- */

/* Inserts (host, bytes) into a top list of base_top, biggest first, ties
 * by address. */
static void top_insert(struct topent *t, size_t *n, size_t cap, const uint8_t host[16],
                       uint64_t bytes)
{
	if (bytes == 0)
		return;
	size_t i = *n;
	while (i > 0 && (t[i - 1].bytes < bytes ||
	                 (t[i - 1].bytes == bytes && addr_cmp(t[i - 1].host, host) > 0)))
		i--;
	if (i >= cap)
		return;
	size_t end = *n < cap ? *n : cap - 1;
	memmove(&t[i + 1], &t[i], (end - i) * sizeof(*t));
	memcpy(t[i].host, host, 16);
	t[i].bytes = bytes;
	if (*n < cap)
		(*n)++;
}

static double hist_days(const struct floe_detect *d)
{
	return (double)(d->o.history / d->o.window);
}

static void stats(double s, double s2, double n, double *mean, double *sd)
{
	*mean = s / n;
	double var = s2 / n - *mean * *mean;
	*sd = var > 0 ? sqrt(var) : 0;
}

static bool unusual(const struct floe_detect *d, double v, double mean, double sd, double floor)
{
	return v >= floor && v > mean + d->o.base_k * sd && v > 2 * mean;
}

static void base_host_end(struct floe_detect *d)
{
	struct basehost *h = &d->bh;
	if (!h->valid)
		return;
	h->valid = false;
	top_insert(d->top_p, &d->ntop_p, d->o.base_top, h->host, h->period_bytes);
	top_insert(d->top_h, &d->ntop_h, d->o.base_top, h->host, h->hist_bytes);
}

static enum floe_err base_emit(void *ud, const struct floe_flow *g, const double *extra)
{
	struct floe_detect *d = ud;
	struct basehost *h = &d->bh;
	const struct floe_detect_opts *o = &d->o;
	if (h->valid && addr_cmp(h->host, g->saddr) != 0)
		base_host_end(d);
	if (!h->valid) {
		memset(h, 0, sizeof(*h));
		h->valid = true;
		memcpy(h->host, g->saddr, 16);
	}
	bool period = g->stime >= o->period_start;
	if (g->sensor == 1) {  /* a service: stime is its first use */
		if (!period || !h->has_hist)
			return FLOE_OK;
		struct floe_finding x = {.type = FLOE_FIND_SERVICE, .port = g->dport, .proto = g->proto,
		                         .dir = (uint8_t)g->sport, .t0 = g->stime, .t1 = g->ltime,
		                         .flows = g->trans};
		memcpy(x.host, g->saddr, 16);
		return add_finding(d, &x);
	}
	uint64_t bytes = g->sbytes;
	double peers = extra[0];
	if (!period) {
		h->has_hist = true;
		h->hist_bytes += bytes;
		h->sb += (double)bytes;
		h->sb2 += (double)bytes * (double)bytes;
		h->sp += peers;
		h->sp2 += peers * peers;
		return FLOE_OK;
	}
	h->period_bytes += bytes;
	if (!h->has_hist)
		return FLOE_OK;
	double n = hist_days(d), mean, sd;
	struct floe_finding x = {.t0 = g->stime, .t1 = g->ltime, .flows = g->trans, .bytes = bytes};
	memcpy(x.host, g->saddr, 16);
	stats(h->sb, h->sb2, n, &mean, &sd);
	if (unusual(d, (double)bytes, mean, sd, (double)o->base_min_bytes)) {
		x.type = FLOE_FIND_VOLUME;
		x.value = (double)bytes;
		x.usual = mean;
		x.spread = sd;
		enum floe_err e = add_finding(d, &x);
		if (e != FLOE_OK)
			return e;
	}
	stats(h->sp, h->sp2, n, &mean, &sd);
	if (unusual(d, peers, mean, sd, (double)o->base_min_peers)) {
		x.type = FLOE_FIND_PEERS;
		x.value = peers;
		x.targets = (uint64_t)llround(peers);
		x.usual = mean;
		x.spread = sd;
		return add_finding(d, &x);
	}
	return FLOE_OK;
}

static enum floe_err base_tops(struct floe_detect *d)
{
	for (size_t i = 0; i < d->ntop_p; i++) {
		size_t j = 0;
		while (j < d->ntop_h && addr_cmp(d->top_h[j].host, d->top_p[i].host) != 0)
			j++;
		if (j < d->ntop_h)
			continue;
		struct floe_finding x = {.type = FLOE_FIND_TOP, .t0 = d->o.period_start,
		                         .t1 = d->o.period_end, .bytes = d->top_p[i].bytes,
		                         .rank = (unsigned)i + 1};
		memcpy(x.host, d->top_p[i].host, 16);
		enum floe_err e = add_finding(d, &x);
		if (e != FLOE_OK)
			return e;
	}
	return FLOE_OK;
}

/* ---- ending a pass ---- */

static enum floe_err collect_addrs(struct floe_detect *d)
{
	d->naddrs = 0;
	for (size_t i = 0; i < d->nfs; i++) {
		if (d->naddrs && addr_cmp(d->addrs[d->naddrs - 1], d->fs[i].host) == 0)
			continue;
		if (d->naddrs == MAX_PASS2_ADDRS) {
			d->naddrs = 0;  /* too many for skipping by address: read all */
			return FLOE_OK;
		}
		if (!floe_grow(d->o.budget, (void **)&d->addrs, &d->capaddrs, d->naddrs + 1,
		               sizeof(*d->addrs), 16))
			return floe_errbuf_set(&d->eb, FLOE_NOMEM, "no memory for the second pass");
		memcpy(d->addrs[d->naddrs++], d->fs[i].host, 16);
	}
	return FLOE_OK;
}

static void count_spills(struct floe_detect *d)
{
	struct floe_cluster_stats st;
	if (d->c1) {
		floe_cluster_stats(d->c1, &st);
		d->spills += st.spills;
	}
	if (d->c2) {
		floe_cluster_stats(d->c2, &st);
		d->spills += st.spills;
	}
}

enum floe_err floe_detect_end_pass(struct floe_detect *d)
{
	if (d->eb.code)
		return d->eb.code;
	enum floe_err e = FLOE_OK;
	switch (d->o.kind) {
	case FLOE_DETECT_SCAN:
		e = floe_cluster_finish(d->c1, scan_h_emit, d);
		if (e == FLOE_OK)
			e = floe_cluster_finish(d->c2, scan_v_emit, d);
		d->pass2 = true;
		break;
	case FLOE_DETECT_SMTP:
		e = floe_cluster_finish(d->c1, smtp_emit, d);
		d->pass2 = true;
		break;
	case FLOE_DETECT_WATCH:
		e = floe_cluster_finish(d->c1, to_sort, d);
		if (e == FLOE_OK)
			e = floe_sort_finish(d->sort, watch_emit, d);
		if (e == FLOE_OK)
			e = watch_flush(d);
		break;
	case FLOE_DETECT_BEACON:
		e = floe_sort_finish(d->sort, beacon_emit, d);
		if (e == FLOE_OK)
			e = beacon_flush(d);
		break;
	case FLOE_DETECT_BASELINE:
		e = floe_cluster_finish(d->c1, day_to_sort, d);
		if (e == FLOE_OK)
			e = floe_cluster_finish(d->c2, service_to_sort, d);
		if (e == FLOE_OK)
			e = floe_sort_finish(d->sort, base_emit, d);
		base_host_end(d);
		if (e == FLOE_OK)
			e = base_tops(d);
		break;
	}
	count_spills(d);
	if (d->parent) {  /* what the shares and the findings took at most */
		size_t peak = d->own.peak;
		for (int k = 0; k < 3; k++)
			peak += d->share[k].peak;
		if (peak > d->parent->peak)
			d->parent->peak = peak;
	}
	if (e != FLOE_OK)
		return floe_errbuf_set(&d->eb, e, "counting: %s%s%s", floe_strerror(e),
		                       *op_error(d) ? ": " : "", op_error(d));
	if (d->nfs)
		qsort(d->fs, d->nfs, sizeof(*d->fs), finding_cmp);
	if (d->pass2 && d->nfs == 0)
		d->pass2 = false;
	if (d->pass2)
		return collect_addrs(d);
	return FLOE_OK;
}

bool floe_detect_pass2(const struct floe_detect *d, const uint8_t (**addrs)[16], size_t *n)
{
	*addrs = (const uint8_t (*)[16])d->addrs;
	*n = d->naddrs;
	return d->pass2;
}

/* The first finding of host in the sorted findings, or nfs. */
static size_t first_of(const struct floe_detect *d, const uint8_t host[16])
{
	size_t l = 0, r = d->nfs;
	while (l < r) {
		size_t m = l + (r - l) / 2;
		if (addr_cmp(d->fs[m].host, host) < 0)
			l = m + 1;
		else
			r = m;
	}
	return l;
}

static void add_file(struct floe_finding *x, const char *path)
{
	if (!path)
		return;
	for (unsigned i = 0; i < x->nfiles; i++)
		if (strcmp(x->files[i], path) == 0)
			return;
	if (x->nfiles < FLOE_FINDING_FILES)
		snprintf(x->files[x->nfiles++], sizeof(x->files[0]), "%s", path);
}

void floe_detect_add2(struct floe_detect *d, const struct floe_flow *f, const char *path)
{
	if (!d->pass2 || !tcp_udp(f))
		return;
	if (d->o.kind == FLOE_DETECT_SMTP &&
	    (f->proto != 6 || !mail_port(d, f->dport) || (d->o.local && !is_local(d, f->saddr))))
		return;
	int64_t t = f->stime;
	for (size_t i = first_of(d, f->saddr); i < d->nfs && !addr_cmp(d->fs[i].host, f->saddr); i++) {
		struct floe_finding *x = &d->fs[i];
		if (t < x->t0 || t >= x->t1 || x->proto != f->proto)
			continue;
		switch (x->type) {
		case FLOE_FIND_HSCAN:
			if (x->port == f->dport)
				add_example(x, f->daddr, 0, false);
			break;
		case FLOE_FIND_VSCAN:
			if (!addr_cmp(x->peer, f->daddr))
				add_example(x, NULL, f->dport, true);
			break;
		case FLOE_FIND_SMTP:
			add_example(x, f->daddr, 0, false);
			add_file(x, path);
			break;
		default:
			break;
		}
	}
}

void floe_detect_findings(const struct floe_detect *d, const struct floe_finding **fs, size_t *n,
                          uint64_t *more)
{
	*fs = d->fs;
	*n = d->nfs;
	*more = d->more;
}
