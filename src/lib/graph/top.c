/*
 * top.c - the flow table of a live top view (top.h).
 *
 * Rows live in one array (grown by doubling up to max_flows, indices not
 * pointers), chained from a fixed bucket array by a keyed hash, and kept
 * in a doubly linked list by last update, most recent first: the tail is
 * the row evicted when the table is full.
 */
#include "graph/top.h"

#include "util/hash.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NONE UINT32_MAX

struct frow {
	uint8_t saddr[16], daddr[16];
	uint16_t sport, dport, etype;
	uint8_t proto, ipver, state;
	uint32_t next;              /* hash chain */
	uint32_t newer, older;      /* the list by last update */
	uint64_t spkts, dpkts, sbytes, dbytes, trans;
	uint64_t cur_bytes, cur_pkts;    /* since the last tick */
	uint64_t last_bytes, last_pkts;  /* during the last closed interval */
	int64_t stime, ltime;
	uint32_t bucket;
};

_Static_assert(sizeof(struct frow) == 152, "a flow row is the size top.h and docs/top.md state");

struct floe_top {
	struct floe_budget *budget;
	struct floe_hashkey hk;
	size_t max;
	uint32_t *buckets;
	size_t nbuckets;            /* a power of two */
	struct frow *rows;
	size_t nrows, cap;
	uint32_t newest, oldest;
	int64_t last_tick;
	bool ticked;
	double interval;            /* seconds of the last closed interval */
	uint64_t records, evicted;
};

static const char *const key_names[] = {"flow", "saddr", "daddr", "dport", "proto"};

int floe_top_key_parse(const char *name)
{
	for (size_t i = 0; i < FLOE_TOPK__COUNT; i++)
		if (strcasecmp(name, key_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *floe_top_key_name(enum floe_top_key k)
{
	return (size_t)k < FLOE_TOPK__COUNT ? key_names[k] : "?";
}

struct floe_top *floe_top_create(const struct floe_top_opts *o, struct floe_errbuf *eb)
{
	struct floe_top *t = calloc(1, sizeof(*t));
	if (!t) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	t->budget = o->budget;
	t->max = o->max_flows ? o->max_flows : FLOE_TOP_DEFAULT_FLOWS;
	if (t->max > NONE - 1)
		t->max = NONE - 1;
	t->nbuckets = 1024;
	while (t->nbuckets < t->max)
		t->nbuckets <<= 1;
	t->buckets = floe_malloc(t->budget, t->nbuckets * sizeof(uint32_t));
	if (!t->buckets) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory: %zu hash buckets", t->nbuckets);
		free(t);
		return NULL;
	}
	memset(t->buckets, 0xff, t->nbuckets * sizeof(uint32_t));
	if (floe_hashkey_random(&t->hk) != 0) {
		floe_errbuf_set(eb, FLOE_UNSUPPORTED, "no random source for the hash key");
		floe_top_destroy(t);
		return NULL;
	}
	t->newest = t->oldest = NONE;
	return t;
}

void floe_top_destroy(struct floe_top *t)
{
	if (!t)
		return;
	floe_free(t->budget, t->buckets, t->nbuckets * sizeof(uint32_t));
	floe_free(t->budget, t->rows, t->cap * sizeof(struct frow));
	free(t);
}

void floe_top_clear(struct floe_top *t)
{
	memset(t->buckets, 0xff, t->nbuckets * sizeof(uint32_t));
	t->nrows = 0;
	t->newest = t->oldest = NONE;
	t->records = t->evicted = 0;
	t->ticked = false;
	t->interval = 0;
}

/* The flow key of a record, as hashed. */
struct fkey {
	uint8_t saddr[16], daddr[16];
	uint16_t sport, dport;
	uint8_t proto, pad[3];
};

static void key_of(const struct floe_flow *f, struct fkey *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->saddr, f->saddr, 16);
	memcpy(k->daddr, f->daddr, 16);
	k->sport = f->sport;
	k->dport = f->dport;
	k->proto = f->proto;
}

static bool same(const struct frow *r, const struct fkey *k)
{
	return r->sport == k->sport && r->dport == k->dport && r->proto == k->proto &&
	       memcmp(r->saddr, k->saddr, 16) == 0 && memcmp(r->daddr, k->daddr, 16) == 0;
}

static void list_unlink(struct floe_top *t, uint32_t i)
{
	struct frow *r = &t->rows[i];
	if (r->newer != NONE)
		t->rows[r->newer].older = r->older;
	else
		t->newest = r->older;
	if (r->older != NONE)
		t->rows[r->older].newer = r->newer;
	else
		t->oldest = r->newer;
}

static void list_push(struct floe_top *t, uint32_t i)
{
	struct frow *r = &t->rows[i];
	r->newer = NONE;
	r->older = t->newest;
	if (t->newest != NONE)
		t->rows[t->newest].newer = i;
	t->newest = i;
	if (t->oldest == NONE)
		t->oldest = i;
}

static void chain_unlink(struct floe_top *t, uint32_t i)
{
	uint32_t *p = &t->buckets[t->rows[i].bucket];
	while (*p != i)
		p = &t->rows[*p].next;
	*p = t->rows[i].next;
}

/* A free row: a new one while under max (growing the array), else the
 * idlest, unlinked.  NONE if the budget refuses and nothing can go. */
static uint32_t take_row(struct floe_top *t)
{
	if (t->nrows < t->max) {
		if (t->nrows < t->cap || floe_grow(t->budget, (void **)&t->rows, &t->cap, t->nrows + 1,
		                                   sizeof(struct frow), 256))
			return (uint32_t)t->nrows++;
	}
	uint32_t i = t->oldest;
	if (i == NONE)
		return NONE;
	list_unlink(t, i);
	chain_unlink(t, i);
	t->evicted++;
	return i;
}

enum floe_err floe_top_add(struct floe_top *t, const struct floe_flow *f)
{
	struct fkey k;
	key_of(f, &k);
	uint32_t b = (uint32_t)(floe_hash(&t->hk, &k, sizeof(k)) & (t->nbuckets - 1));
	uint32_t i = t->buckets[b];
	while (i != NONE && !same(&t->rows[i], &k))
		i = t->rows[i].next;
	struct frow *r;
	if (i == NONE) {
		if ((i = take_row(t)) == NONE)
			return FLOE_NOMEM;
		r = &t->rows[i];
		memset(r, 0, sizeof(*r));
		memcpy(r->saddr, f->saddr, 16);
		memcpy(r->daddr, f->daddr, 16);
		r->sport = f->sport;
		r->dport = f->dport;
		r->proto = f->proto;
		r->etype = f->etype;
		r->ipver = f->ipver;
		r->stime = f->stime;
		r->ltime = f->ltime;
		r->bucket = b;
		r->next = t->buckets[b];
		t->buckets[b] = i;
	} else {
		r = &t->rows[i];
		list_unlink(t, i);
		if (f->stime < r->stime)
			r->stime = f->stime;
		if (f->ltime > r->ltime)
			r->ltime = f->ltime;
	}
	list_push(t, i);
	r->state = f->state;
	r->spkts += f->spkts;
	r->dpkts += f->dpkts;
	r->sbytes += f->sbytes;
	r->dbytes += f->dbytes;
	r->trans += f->trans ? f->trans : 1;
	r->cur_bytes += f->sbytes + f->dbytes;
	r->cur_pkts += f->spkts + f->dpkts;
	t->records++;
	return FLOE_OK;
}

void floe_top_tick(struct floe_top *t, int64_t now)
{
	if (t->ticked && now <= t->last_tick)
		return;
	if (t->ticked)
		t->interval = (double)(now - t->last_tick) / 1e9;
	for (size_t i = 0; i < t->nrows; i++) {
		struct frow *r = &t->rows[i];
		r->last_bytes = t->ticked ? r->cur_bytes : 0;
		r->last_pkts = t->ticked ? r->cur_pkts : 0;
		r->cur_bytes = r->cur_pkts = 0;
	}
	t->ticked = true;
	t->last_tick = now;
}

void floe_top_stats(const struct floe_top *t, struct floe_top_stats *st)
{
	st->records = t->records;
	st->flows = t->nrows;
	st->evicted = t->evicted;
	st->max_flows = t->max;
	st->interval = t->interval;
}

/* ---- views ---- */

static void materialize(const struct frow *r, struct floe_flow *f)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->saddr, r->saddr, 16);
	memcpy(f->daddr, r->daddr, 16);
	f->sport = r->sport;
	f->dport = r->dport;
	f->proto = r->proto;
	f->etype = r->etype;
	f->ipver = r->ipver;
	f->state = r->state;
	f->spkts = r->spkts;
	f->dpkts = r->dpkts;
	f->sbytes = r->sbytes;
	f->dbytes = r->dbytes;
	f->trans = (uint32_t)(r->trans > UINT32_MAX ? UINT32_MAX : r->trans);
	f->stime = r->stime;
	f->ltime = r->ltime;
}

/* Clears what a group of key k does not share. */
static void group_key(enum floe_top_key k, struct floe_flow *f)
{
	static const uint8_t zero[16];
	if (k == FLOE_TOPK_FLOW)
		return;
	if (k != FLOE_TOPK_SADDR)
		memcpy(f->saddr, zero, 16);
	if (k != FLOE_TOPK_DADDR)
		memcpy(f->daddr, zero, 16);
	f->sport = 0;
	if (k != FLOE_TOPK_DPORT)
		f->dport = 0;
	if (k != FLOE_TOPK_PROTO)
		f->proto = 0;
	/* one group over IPv4 and IPv6; ARP apart from protocol 0 */
	if (f->etype != FLOE_ETH_ARP || k != FLOE_TOPK_PROTO)
		f->etype = 0;
	f->state = 0;
}

static bool same_group(const struct floe_flow *a, const struct floe_flow *b)
{
	return a->sport == b->sport && a->dport == b->dport && a->proto == b->proto &&
	       a->etype == b->etype && memcmp(a->saddr, b->saddr, 16) == 0 &&
	       memcmp(a->daddr, b->daddr, 16) == 0;
}

struct sorter {
	enum floe_top_col col;
	bool asc;
};

static int cmp3(double a, double b)
{
	return a < b ? -1 : a > b;
}

/* Key order: proto, saddr, sport, daddr, dport (ties of any sort). */
static int key_cmp(const struct floe_flow *a, const struct floe_flow *b)
{
	int c;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if ((c = memcmp(a->saddr, b->saddr, 16)) != 0)
		return c;
	if (a->sport != b->sport)
		return a->sport < b->sport ? -1 : 1;
	if ((c = memcmp(a->daddr, b->daddr, 16)) != 0)
		return c;
	if (a->dport != b->dport)
		return a->dport < b->dport ? -1 : 1;
	return 0;
}

static int col_cmp(const struct floe_top_row *a, const struct floe_top_row *b,
                   enum floe_top_col col)
{
	const struct floe_flow *x = &a->rec, *y = &b->rec;
	switch (col) {
	case FLOE_TOPC_PROTO: return cmp3(x->proto, y->proto);
	case FLOE_TOPC_SADDR: return memcmp(x->saddr, y->saddr, 16);
	case FLOE_TOPC_SPORT: return cmp3(x->sport, y->sport);
	case FLOE_TOPC_DADDR: return memcmp(x->daddr, y->daddr, 16);
	case FLOE_TOPC_DPORT: return cmp3(x->dport, y->dport);
	case FLOE_TOPC_FLOWS: return cmp3((double)a->flows, (double)b->flows);
	case FLOE_TOPC_RECS: return cmp3(x->trans, y->trans);
	case FLOE_TOPC_PKTS:
		return cmp3((double)(x->spkts + x->dpkts), (double)(y->spkts + y->dpkts));
	case FLOE_TOPC_BYTES:
		return cmp3((double)(x->sbytes + x->dbytes), (double)(y->sbytes + y->dbytes));
	case FLOE_TOPC_BPS: return cmp3(a->bps, b->bps);
	case FLOE_TOPC_PPS: return cmp3(a->pps, b->pps);
	case FLOE_TOPC_STIME: return cmp3((double)x->stime, (double)y->stime);
	case FLOE_TOPC_LTIME: return cmp3((double)x->ltime, (double)y->ltime);
	case FLOE_TOPC__COUNT: break;
	}
	return 0;
}

static int row_cmp(const void *pa, const void *pb, void *ud)
{
	const struct floe_top_row *a = pa, *b = pb;
	const struct sorter *by = ud;
	int c = col_cmp(a, b, by->col);
	if (c)
		return by->asc ? c : -c;
	return key_cmp(&a->rec, &b->rec);
}

enum floe_err floe_top_view(struct floe_top *t, const struct floe_top_view_opts *v,
                            struct floe_top_row *rows, size_t cap, size_t *n,
                            struct floe_top_totals *tot)
{
	memset(tot, 0, sizeof(*tot));
	*n = 0;
	size_t nb = 16;
	while (nb < 2 * t->nrows)
		nb <<= 1;
	size_t gbytes = (t->nrows ? t->nrows : 1) * sizeof(struct floe_top_row);
	struct floe_top_row *g = floe_malloc(t->budget, gbytes);
	uint32_t *slot = floe_malloc(t->budget, nb * sizeof(uint32_t));
	if (!g || !slot) {
		floe_free(t->budget, g, gbytes);
		floe_free(t->budget, slot, nb * sizeof(uint32_t));
		return FLOE_NOMEM;
	}
	memset(slot, 0xff, nb * sizeof(uint32_t));
	double iv = t->interval > 0 ? t->interval : 0;
	size_t ng = 0;
	for (size_t i = 0; i < t->nrows; i++) {
		struct floe_flow f;
		materialize(&t->rows[i], &f);
		if (v->match && !v->match(v->ud, &f))
			continue;
		double bps = iv ? (double)t->rows[i].last_bytes * 8 / iv : 0;
		double pps = iv ? (double)t->rows[i].last_pkts / iv : 0;
		tot->flows++;
		tot->records += f.trans;
		tot->pkts += f.spkts + f.dpkts;
		tot->bytes += f.sbytes + f.dbytes;
		tot->bps += bps;
		tot->pps += pps;
		group_key(v->key, &f);
		struct fkey hk;
		key_of(&f, &hk);
		size_t h = (size_t)floe_hash(&t->hk, &hk, sizeof(hk)) & (nb - 1);
		while (slot[h] != NONE && !same_group(&g[slot[h]].rec, &f))
			h = (h + 1) & (nb - 1);
		struct floe_top_row *gr;
		if (slot[h] == NONE) {
			slot[h] = (uint32_t)ng;
			gr = &g[ng++];
			memset(gr, 0, sizeof(*gr));
			gr->rec = f;
		} else {
			gr = &g[slot[h]];
			gr->rec.spkts += f.spkts;
			gr->rec.dpkts += f.dpkts;
			gr->rec.sbytes += f.sbytes;
			gr->rec.dbytes += f.dbytes;
			uint64_t tr = (uint64_t)gr->rec.trans + f.trans;
			gr->rec.trans = (uint32_t)(tr > UINT32_MAX ? UINT32_MAX : tr);
			if (f.stime < gr->rec.stime)
				gr->rec.stime = f.stime;
			if (f.ltime > gr->rec.ltime)
				gr->rec.ltime = f.ltime;
		}
		gr->flows++;
		gr->bps += bps;
		gr->pps += pps;
	}
	tot->groups = ng;
	struct sorter s = {v->sort, v->asc};
	qsort_r(g, ng, sizeof(*g), row_cmp, &s);
	*n = ng < cap ? ng : cap;
	memcpy(rows, g, *n * sizeof(*g));
	floe_free(t->budget, g, gbytes);
	floe_free(t->budget, slot, nb * sizeof(uint32_t));
	return FLOE_OK;
}
