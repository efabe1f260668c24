/*
 * collect.c - the collector: protocol detection per datagram, the table of
 * exporter sources, and what every decoder shares (finishing a record,
 * sampling, sequence numbers, clock skew, counters).  collect.h is the
 * contract.
 */
#include "collect_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const proto_names[FLOE_COLLECT__COUNT] = {
	"unknown", "netflow5", "netflow9", "ipfix", "sflow",
};

const char *floe_collect_proto_name(enum floe_collect_proto p)
{
	return (unsigned)p < FLOE_COLLECT__COUNT ? proto_names[p] : "unknown";
}

void floe_collect_config_default(struct floe_collect_config *c)
{
	*c = (struct floe_collect_config){
		.sampling = 0,
		.template_timeout = 1800LL * 1000000000LL,
		.skew_limit = 5LL * 1000000000LL,
		.max_sources = 4096,
		.max_templates = 1024,
		.source_memory = 1u << 20,
		.total_memory = 64u << 20,
	};
}

struct floe_collector *floe_collect_create(const struct floe_collect_config *cfg,
                                           floe_collect_emit_fn emit, void *ctx,
                                           enum floe_err *err)
{
	struct floe_collect_config def;
	if (!cfg) {
		floe_collect_config_default(&def);
		cfg = &def;
	}
	if (!emit || cfg->max_sources == 0) {
		*err = FLOE_INVALID;
		return NULL;
	}
	struct floe_collector *c = calloc(1, sizeof(*c));
	if (!c) {
		*err = FLOE_NOMEM;
		return NULL;
	}
	c->cfg = *cfg;
	c->emit = emit;
	c->ctx = ctx;
	floe_budget_init(&c->budget, cfg->total_memory);
	size_t nb = 64;
	while (nb < cfg->max_sources && nb < (1u << 20))
		nb <<= 1;
	c->nbuckets = nb;
	c->buckets = floe_calloc(&c->budget, nb, sizeof(*c->buckets));
	if (!c->buckets || floe_hashkey_random(&c->key) != 0) {
		floe_free(&c->budget, c->buckets, nb * sizeof(*c->buckets));
		free(c);
		*err = FLOE_NOMEM;
		return NULL;
	}
	return c;
}

void floe_collect_destroy(struct floe_collector *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->nsources; i++) {
		floe_tmpl_clear(c, c->order[i]);
		floe_free(&c->budget, c->order[i], sizeof(struct floe_source));
	}
	floe_free(&c->budget, c->order, c->nsources * sizeof(*c->order));
	floe_free(&c->budget, c->buckets, c->nbuckets * sizeof(*c->buckets));
	free(c);
}

enum floe_collect_proto floe_collect_detect(const uint8_t *p, size_t len)
{
	if (len < 4)
		return FLOE_COLLECT_UNKNOWN;
	uint32_t w = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	/* sFlow v5 (sflow.org "sFlow Version 5", section 5.4) starts with a
	 * 32-bit version 5; NetFlow v5 with a 16-bit version 5 and a record
	 * count that is never 0, so the two cannot be confused */
	if (w == 5)
		return FLOE_COLLECT_SFLOW;
	uint16_t v = (uint16_t)(w >> 16), n = (uint16_t)w;
	if (v == 5 && n != 0)
		return FLOE_COLLECT_NF5;
	if (v == 9)
		return FLOE_COLLECT_NF9;
	if (v == 10)
		return FLOE_COLLECT_IPFIX;
	return FLOE_COLLECT_UNKNOWN;
}

struct floe_source *floe_collect_source(struct floe_collector *c, const uint8_t exporter[16],
                                        enum floe_collect_proto proto, uint32_t domain)
{
	struct floe_source *s = c->last;
	if (s && s->domain == domain && s->proto == proto && memcmp(s->addr, exporter, 16) == 0)
		return s;
	uint8_t key[21];
	memcpy(key, exporter, 16);
	memcpy(key + 16, &domain, 4);
	key[20] = (uint8_t)proto;
	size_t b = floe_hash(&c->key, key, sizeof(key)) & (c->nbuckets - 1);
	for (s = c->buckets[b]; s; s = s->hnext)
		if (s->domain == domain && s->proto == proto && memcmp(s->addr, exporter, 16) == 0)
			return c->last = s;
	if (c->nsources >= c->cfg.max_sources) {
		c->st.sources_refused++;
		return NULL;
	}
	struct floe_source **order = floe_realloc(&c->budget, c->order, c->nsources * sizeof(*order),
	                                          (c->nsources + 1) * sizeof(*order));
	if (!order) {
		c->st.sources_refused++;
		return NULL;
	}
	c->order = order;
	s = floe_calloc(&c->budget, 1, sizeof(*s));
	if (!s) {
		c->st.sources_refused++;
		return NULL;
	}
	memcpy(s->addr, exporter, 16);
	s->domain = domain;
	s->proto = (uint8_t)proto;
	memcpy(s->st.exporter, exporter, 16);
	s->st.domain = domain;
	s->st.proto = (uint8_t)proto;
	s->hnext = c->buckets[b];
	c->buckets[b] = s;
	c->order[c->nsources++] = s;
	return c->last = s;
}

void floe_collect_scale(struct floe_flow *f, uint32_t rate)
{
	if (rate <= 1)
		return;
	f->spkts *= rate;
	f->sbytes *= rate;
	f->dpkts *= rate;
	f->dbytes *= rate;
	f->sampling = rate;
	f->flags |= FLOE_F_SAMPLED;
}

void floe_collect_learn_rate(struct floe_source *s, bool has_sampler, uint32_t sampler,
                             uint32_t rate)
{
	if (!has_sampler) {
		s->default_rate = rate;
		return;
	}
	for (uint32_t i = 0; i < s->nsamplers; i++) {
		if (s->samplers[i].id == sampler) {
			s->samplers[i].rate = rate;
			return;
		}
	}
	if (s->nsamplers < FLOE_MAX_SAMPLERS) {
		s->samplers[s->nsamplers].id = sampler;
		s->samplers[s->nsamplers++].rate = rate;
	} else {
		/* bounded: the oldest sampler makes room */
		memmove(s->samplers, s->samplers + 1, (FLOE_MAX_SAMPLERS - 1) * sizeof(s->samplers[0]));
		s->samplers[FLOE_MAX_SAMPLERS - 1].id = sampler;
		s->samplers[FLOE_MAX_SAMPLERS - 1].rate = rate;
	}
}

uint32_t floe_collect_rate(const struct floe_dgram *d, uint32_t own, bool has_sampler,
                           uint32_t sampler)
{
	if (own)
		return own;
	const struct floe_source *s = d->src;
	if (has_sampler)
		for (uint32_t i = 0; i < s->nsamplers; i++)
			if (s->samplers[i].id == sampler)
				return s->samplers[i].rate;
	if (s->default_rate)
		return s->default_rate;
	/* one sampler announced and records that do not name it: it is the
	 * only one the exporter has */
	if (s->nsamplers == 1 && !has_sampler)
		return s->samplers[0].rate;
	return d->c->cfg.sampling;
}

enum floe_err floe_collect_emit_rec(struct floe_dgram *d, struct floe_flow *f)
{
	memcpy(f->exporter, d->src->addr, 16);
	f->sensor = d->src->domain;
	f->trans = 1;
	d->src->st.records++;
	if (f->flags & FLOE_F_SAMPLED)
		d->src->st.sampled_records++;
	d->c->st.records++;
	return d->c->emit(d->c->ctx, f);
}

void floe_collect_seq(struct floe_source *s, uint32_t seq, uint32_t n)
{
	if (s->have_seq) {
		int32_t gap = (int32_t)(seq - s->next_seq);
		if (gap > 0) {
			s->st.seq_lost += (uint32_t)gap;
		} else if (gap < 0) {
			s->st.seq_reordered++;
			return;   /* an old datagram: the expectation stands */
		}
	}
	s->have_seq = true;
	s->next_seq = seq + n;
}

void floe_collect_skew(struct floe_dgram *d)
{
	int64_t skew = d->export_ns - d->recv_ns;
	if (skew < 0)
		skew = -skew;
	/* export times have whole seconds: a second of rounding is not skew */
	if (skew > d->c->cfg.skew_limit + 1000000000LL)
		d->src->st.skewed++;
	if (skew > d->src->st.max_skew)
		d->src->st.max_skew = skew;
}

void floe_collect_expire(struct floe_collector *c, int64_t now_ns)
{
	c->last_expire = now_ns;
	int64_t before = now_ns - c->cfg.template_timeout;
	for (uint32_t i = 0; i < c->nsources; i++)
		floe_tmpl_expire(c, c->order[i], before);
}

/* sFlow records pass through here to be counted like the others. */
static enum floe_err sflow_emit(void *ctx, const struct floe_flow *f)
{
	struct floe_collector *c = ctx;
	c->st.records++;
	return c->emit(c->ctx, f);
}

const struct floe_sflow_stats *floe_collect_sflow_stats(const struct floe_collector *c)
{
	return &c->sflow;
}

enum floe_err floe_collect_input(struct floe_collector *c, const uint8_t *p, size_t len,
                                 const uint8_t exporter[16], int64_t recv_ns)
{
	c->st.datagrams++;
	if (recv_ns - c->last_expire > 60LL * 1000000000LL || recv_ns < c->last_expire)
		floe_collect_expire(c, recv_ns);
	enum floe_collect_proto proto = floe_collect_detect(p, len);
	c->st.by_proto[proto]++;
	enum floe_err e;
	switch (proto) {
	case FLOE_COLLECT_NF5:
		e = floe_nf5_decode(c, p, len, exporter, recv_ns);
		break;
	case FLOE_COLLECT_NF9:
		e = floe_nf9_decode(c, p, len, exporter, recv_ns);
		break;
	case FLOE_COLLECT_IPFIX:
		e = floe_ipfix_decode(c, p, len, exporter, recv_ns);
		break;
	case FLOE_COLLECT_SFLOW: {
		struct floe_errbuf eb = {0};
		e = floe_sflow_decode(p, len, exporter, recv_ns, sflow_emit, c, &c->sflow, &eb);
		break;
	}
	default:
		e = FLOE_UNSUPPORTED;
		break;
	}
	if (floe_collect_decode_err(e))
		c->st.malformed++;
	return e;
}

void floe_collect_stats(const struct floe_collector *c, struct floe_collect_stats *st)
{
	*st = c->st;
	st->sources = c->nsources;
	size_t bytes = 0;
	for (uint32_t i = 0; i < c->nsources; i++)
		bytes += c->order[i]->st.template_bytes;
	st->template_bytes = bytes;
}

size_t floe_collect_sources(const struct floe_collector *c, struct floe_collect_source_stats *out,
                            size_t max)
{
	for (uint32_t i = 0; i < c->nsources && i < max; i++)
		out[i] = c->order[i]->st;
	return c->nsources;
}
