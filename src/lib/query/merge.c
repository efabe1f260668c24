/*
 * merge.c - half-duplex merge (merge.h).
 *
 * B's records sit in one array; a chained hash table (heads indexed by
 * SipHash of the key, next links beside the records) finds the records of
 * a key in B's order.
 */
#include "query/merge.h"
#include "query/local.h"
#include "util/hash.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

struct brec {
	struct floe_flow f;
	uint32_t next;
	uint8_t used;
};

struct floe_merge {
	int64_t slack;
	struct floe_budget *budget;
	struct floe_hashkey hk;
	struct brec *b;
	size_t n, cap;
	uint32_t *heads;
	size_t nheads;
	struct floe_merge_stats st;
};

struct key {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint8_t proto;
	uint8_t pad[3];
};

static bool icmp(const struct floe_flow *f)
{
	return f->proto == 1 || f->proto == 58;
}

static void key_of(struct key *k, const struct floe_flow *f, bool reverse)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->a, reverse ? f->daddr : f->saddr, 16);
	memcpy(k->b, reverse ? f->saddr : f->daddr, 16);
	if (!icmp(f)) {
		k->pa = reverse ? f->dport : f->sport;
		k->pb = reverse ? f->sport : f->dport;
	}
	k->proto = f->proto;
}

/* The packets the tap saw go on the source side. */
static void turn(struct floe_flow *f)
{
	if (f->spkts == 0 && f->dpkts > 0)
		floe_flow_reverse(f);
}

struct floe_merge *floe_merge_create(int64_t slack, struct floe_budget *budget)
{
	struct floe_merge *m = floe_calloc(budget, 1, sizeof(*m));
	if (!m)
		return NULL;
	m->slack = slack;
	m->budget = budget;
	if (floe_hashkey_random(&m->hk) != 0) {
		floe_free(budget, m, sizeof(*m));
		return NULL;
	}
	return m;
}

static enum floe_err rehash(struct floe_merge *m, size_t nheads)
{
	uint32_t *h = floe_malloc(m->budget, nheads * sizeof(uint32_t));
	if (!h)
		return FLOE_NOMEM;
	for (size_t i = 0; i < nheads; i++)
		h[i] = NONE;
	/* relink in reverse so each chain keeps B's order */
	for (size_t i = m->n; i-- > 0;) {
		struct key k;
		key_of(&k, &m->b[i].f, false);
		size_t slot = floe_hash(&m->hk, &k, sizeof(k)) & (nheads - 1);
		m->b[i].next = h[slot];
		h[slot] = (uint32_t)i;
	}
	floe_free(m->budget, m->heads, m->nheads * sizeof(uint32_t));
	m->heads = h;
	m->nheads = nheads;
	return FLOE_OK;
}

enum floe_err floe_merge_add_b(struct floe_merge *m, const struct floe_flow *f)
{
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1024;
		if (nc >= NONE)
			return FLOE_LIMIT;
		struct brec *nb = floe_realloc(m->budget, m->b, m->cap * sizeof(*nb), nc * sizeof(*nb));
		if (!nb)
			return FLOE_NOMEM;
		m->b = nb;
		m->cap = nc;
	}
	struct brec *r = &m->b[m->n++];
	r->f = *f;
	turn(&r->f);
	r->used = 0;
	r->next = NONE;
	m->st.b++;
	/* the table is rebuilt when it fills (B's order kept in chains) */
	if (m->n > m->nheads) {
		size_t nh = m->nheads ? m->nheads * 2 : 1024;
		while (nh < m->n)
			nh *= 2;
		enum floe_err e = rehash(m, nh);
		if (e != FLOE_OK) {
			m->n--;
			m->st.b--;
			return e;
		}
		return FLOE_OK;
	}
	struct key k;
	key_of(&k, &r->f, false);
	size_t slot = floe_hash(&m->hk, &k, sizeof(k)) & (m->nheads - 1);
	/* append at the chain's end to keep B's order */
	uint32_t *link = &m->heads[slot];
	while (*link != NONE)
		link = &m->b[*link].next;
	*link = (uint32_t)(m->n - 1);
	return FLOE_OK;
}

static bool overlaps(const struct floe_flow *a, const struct floe_flow *b, int64_t slack)
{
	return b->stime - slack <= a->ltime && a->stime <= b->ltime + slack;
}

static void join(struct floe_flow *o, const struct floe_flow *b)
{
	o->dpkts = b->spkts;
	o->dbytes = b->sbytes;
	o->dappbytes = b->sappbytes;
	o->dretrans = b->sretrans;
	o->dooo = b->sooo;
	o->dtcpflags = b->stcpflags;
	o->dttlmin = b->sttlmin;
	o->dttlmax = b->sttlmax;
	o->dtos = b->stos;
	memcpy(o->dmac, b->smac, 6);
	if (b->stime < o->stime)
		o->stime = b->stime;
	if (b->ltime > o->ltime)
		o->ltime = b->ltime;
	o->trans += b->trans;
	o->flags = (uint16_t)((o->flags | b->flags) & ~FLOE_F_DIRUNK);
	if (o->state == FLOE_ST_RST || b->state == FLOE_ST_RST)
		o->state = FLOE_ST_RST;
	else if ((o->state == FLOE_ST_REQ || o->state == FLOE_ST_INT) && b->spkts)
		o->state = FLOE_ST_CON;
}

enum floe_err floe_merge_join(struct floe_merge *m, const struct floe_flow *a, floe_cluster_emit emit,
                              void *ud)
{
	struct floe_flow o = *a;
	turn(&o);
	m->st.a++;
	if (m->nheads) {
		struct key k;
		key_of(&k, &o, true);
		size_t slot = floe_hash(&m->hk, &k, sizeof(k)) & (m->nheads - 1);
		for (uint32_t i = m->heads[slot]; i != NONE; i = m->b[i].next) {
			struct brec *r = &m->b[i];
			struct key kb;
			key_of(&kb, &r->f, false);
			if (r->used || memcmp(&k, &kb, sizeof(k)) != 0 || !overlaps(&o, &r->f, m->slack))
				continue;
			r->used = 1;
			join(&o, &r->f);
			m->st.joined++;
			break;
		}
	}
	return emit(ud, &o, NULL);
}

enum floe_err floe_merge_finish(struct floe_merge *m, floe_cluster_emit emit, void *ud)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->b[i].used)
			continue;
		enum floe_err e = emit(ud, &m->b[i].f, NULL);
		if (e != FLOE_OK)
			return e;
	}
	return FLOE_OK;
}

void floe_merge_stats(const struct floe_merge *m, struct floe_merge_stats *st)
{
	*st = m->st;
}

void floe_merge_destroy(struct floe_merge *m)
{
	if (!m)
		return;
	floe_free(m->budget, m->b, m->cap * sizeof(*m->b));
	floe_free(m->budget, m->heads, m->nheads * sizeof(uint32_t));
	floe_free(m->budget, m, sizeof(*m));
}
