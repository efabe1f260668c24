/*
 * template.c - the template cache of NetFlow v9 (RFC 3954 sections 5.2,
 * 6.1) and IPFIX (RFC 7011 sections 3.4, 8), and the decoding of data
 * records through a template.
 *
 * Templates live per source (exporter address + protocol + source id /
 * observation domain), in a small chained table keyed by template id.  A
 * redefinition replaces the old template (UDP exporters resend them, and
 * change them after a restart); IPFIX withdrawals remove them; templates
 * not refreshed within the timeout expire.  Memory is bounded twice: a
 * count and a byte budget per source, and the collector's total budget.
 */
#include "collect_int.h"

#include <string.h>

static unsigned bucket(uint16_t id)
{
	return (id ^ (id >> 6)) & (FLOE_TMPL_BUCKETS - 1);
}

struct floe_tmpl *floe_tmpl_find(struct floe_source *s, uint16_t id)
{
	for (struct floe_tmpl *t = s->tmpl[bucket(id)]; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

static void tmpl_free(struct floe_collector *c, struct floe_source *s, struct floe_tmpl *t)
{
	s->st.template_count--;
	s->st.template_bytes -= t->bytes;
	floe_free(&c->budget, t, t->bytes);
}

/* Unlinks and frees the templates for which pred says so. */
static void tmpl_drop_if(struct floe_collector *c, struct floe_source *s,
                         bool (*pred)(const struct floe_tmpl *, const void *), const void *arg,
                         uint64_t *counter)
{
	for (unsigned b = 0; b < FLOE_TMPL_BUCKETS; b++) {
		struct floe_tmpl **pp = &s->tmpl[b];
		while (*pp) {
			struct floe_tmpl *t = *pp;
			if (pred(t, arg)) {
				*pp = t->next;
				tmpl_free(c, s, t);
				if (counter)
					(*counter)++;
			} else {
				pp = &t->next;
			}
		}
	}
}

static bool pred_all(const struct floe_tmpl *t, const void *arg)
{
	(void)t;
	(void)arg;
	return true;
}

static bool pred_options(const struct floe_tmpl *t, const void *arg)
{
	return t->options == *(const bool *)arg;
}

static bool pred_older(const struct floe_tmpl *t, const void *arg)
{
	return t->refreshed < *(const int64_t *)arg;
}

void floe_tmpl_clear(struct floe_collector *c, struct floe_source *s)
{
	tmpl_drop_if(c, s, pred_all, NULL, NULL);
}

void floe_tmpl_expire(struct floe_collector *c, struct floe_source *s, int64_t before)
{
	tmpl_drop_if(c, s, pred_older, &before, &s->st.expired);
}

/* Removes template id; false if there was none. */
static bool tmpl_remove(struct floe_collector *c, struct floe_source *s, uint16_t id)
{
	struct floe_tmpl **pp = &s->tmpl[bucket(id)];
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct floe_tmpl *t = *pp;
			*pp = t->next;
			tmpl_free(c, s, t);
			return true;
		}
	}
	return false;
}

void floe_tmpl_withdraw(struct floe_dgram *d, uint16_t id)
{
	struct floe_source *s = d->src;
	if (id == 2 || id == 3) {
		bool options = id == 3;
		tmpl_drop_if(d->c, s, pred_options, &options, &s->st.withdrawn);
	} else if (tmpl_remove(d->c, s, id)) {
		s->st.withdrawn++;
	}
}

/* Field by field: the struct has padding the wire never filled. */
static bool same_fields(const struct floe_tmpl_field *a, const struct floe_tmpl_field *b, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		if (a[i].id != b[i].id || a[i].len != b[i].len || a[i].act != b[i].act)
			return false;
	return true;
}

enum floe_err floe_tmpl_define(struct floe_dgram *d, uint16_t id, bool options, uint16_t nscope,
                               const struct floe_tmpl_field *fields, uint16_t nfields)
{
	struct floe_collector *c = d->c;
	struct floe_source *s = d->src;
	uint32_t minlen = 0;
	bool varlen = false;
	for (uint16_t i = 0; i < nfields; i++) {
		if (fields[i].len == FLOE_TMPL_VARLEN) {
			varlen = true;
			minlen += 1;
		} else {
			minlen += fields[i].len;
		}
	}
	/* A record of zero bytes would make a data set an endless loop; one
	 * longer than a datagram can never arrive. */
	if (minlen == 0 || minlen > 65535) {
		s->st.malformed++;
		return FLOE_MALFORMED;
	}
	struct floe_tmpl *old = floe_tmpl_find(s, id);
	if (old && old->nfields == nfields && old->options == options && old->nscope == nscope &&
	    same_fields(old->f, fields, nfields)) {
		old->refreshed = d->recv_ns;   /* the usual periodic resend */
		return FLOE_OK;
	}
	size_t bytes = sizeof(struct floe_tmpl) + (size_t)nfields * sizeof(struct floe_tmpl_field);
	size_t freed = old ? old->bytes : 0;
	if ((!old && s->st.template_count >= c->cfg.max_templates) ||
	    s->st.template_bytes - freed + bytes > c->cfg.source_memory) {
		s->st.template_refused++;
		return FLOE_LIMIT;
	}
	if (old)
		tmpl_remove(c, s, id);   /* a redefinition: the exporter restarted or changed */
	struct floe_tmpl *t = floe_malloc(&c->budget, bytes);
	if (!t) {
		s->st.template_refused++;
		return FLOE_LIMIT;
	}
	t->id = id;
	t->nfields = nfields;
	t->nscope = nscope;
	t->options = options;
	t->varlen = varlen;
	t->minlen = minlen;
	t->refreshed = d->recv_ns;
	t->bytes = bytes;
	memcpy(t->f, fields, nfields * sizeof(*fields));
	unsigned b = bucket(id);
	t->next = s->tmpl[b];
	s->tmpl[b] = t;
	s->st.template_count++;
	s->st.template_bytes += bytes;
	s->st.templates++;
	return FLOE_OK;
}

/* An unsigned big-endian number of 1..8 bytes (RFC 7011 section 6.2,
 * reduced-size encoding); longer fields keep their low 8 bytes. */
static uint64_t be_uint(const uint8_t *p, uint16_t n)
{
	uint64_t v = 0;
	uint16_t i = n > 8 ? (uint16_t)(n - 8) : 0;
	for (; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* NTP-format timestamp (RFC 7011 section 6.1.9, 6.1.10) to ns since 1970. */
static int64_t ntp_ns(uint64_t v)
{
	int64_t secs = (int64_t)(v >> 32) - 2208988800LL;
	uint64_t frac = v & 0xffffffffu;
	return secs * 1000000000LL + (int64_t)((frac * 1000000000ULL) >> 32);
}

static void set_time(uint64_t *t, uint8_t *prec, uint64_t v, uint8_t p)
{
	if (p >= *prec) {
		*t = v;
		*prec = p;
	}
}

/* What one data record said, before it becomes a struct floe_flow. */
struct rec {
	struct floe_flow f;
	uint64_t start_ns, end_ns;          /* absolute, 0 = absent */
	uint8_t start_prec, end_prec;       /* 1 s, 2 ms, 3 us, 4 ns: the finest wins */
	uint32_t first_up, last_up;         /* sysUpTime ms */
	uint64_t start_dus, end_dus;
	int64_t sysinit_ns;
	uint64_t seen;                      /* 1 << act of the fields read */
	uint32_t interval, pkt_interval, pkt_space, samp_size, samp_pop, sampler;
	uint32_t inphys, outphys;
	uint8_t nh[16], bgpnh[16];
	uint8_t s4[16], d4[16], s6[16], d6[16];
	uint16_t icmp_tc;
	bool has_first_up, has_last_up, has_start_dus, has_end_dus, has_sampler, has_icmp_tc,
	     has_icmp_type, has_nh, has_bgpnh, has_inif, has_outif;
	uint8_t icmp_type, icmp_code;
};

static bool zero16(const uint8_t *a)
{
	static const uint8_t z[16];
	return memcmp(a, z, 16) == 0;
}

/* :: or ::ffff:0.0.0.0 */
static bool nh_zero(const uint8_t *a)
{
	return zero16(a) || (floe_addr_is_v4(a) && !(a[12] | a[13] | a[14] | a[15]));
}

_Static_assert(IE__COUNT <= 64, "struct rec's seen mask holds every action");

static void put_field(struct rec *r, uint8_t act, const uint8_t *v, uint16_t n)
{
	struct floe_flow *f = &r->f;
	/* An element repeated in a template (an outer and an inner header,
	 * RFC 7011 section 8 leaves it undefined): the first one counts, as
	 * tshark shows it. */
	if (r->seen >> act & 1)
		return;
	r->seen |= (uint64_t)1 << act;
	uint64_t x = 0;
	if (n <= 8)
		x = be_uint(v, n);
	switch ((enum floe_ie_act)act) {
	case IE_SKIP: case IE__COUNT: break;
	case IE_SBYTES: f->sbytes = x; break;
	case IE_SPKTS: f->spkts = x; break;
	case IE_DBYTES: f->dbytes = x; break;
	case IE_DPKTS: f->dpkts = x; break;
	/* IPv4 and IPv6 elements side by side (templates for both kinds of
	 * traffic, or an outer and an inner header) are kept apart and
	 * chosen between when the record is complete (rec_flow) */
	case IE_SRC4: if (n == 4) floe_addr_from_v4(r->s4, v); break;
	case IE_DST4: if (n == 4) floe_addr_from_v4(r->d4, v); break;
	case IE_SRC6: if (n == 16) memcpy(r->s6, v, 16); break;
	case IE_DST6: if (n == 16) memcpy(r->d6, v, 16); break;
	/* next hops: the first that is not zeros, else the first */
	case IE_NH4: case IE_NH6: case IE_BGPNH4: case IE_BGPNH6:
	{
		bool bgp = act == IE_BGPNH4 || act == IE_BGPNH6;
		uint8_t a[16];
		if (n == 4)
			floe_addr_from_v4(a, v);
		else if (n == 16)
			memcpy(a, v, 16);
		else
			break;
		uint8_t *dst = bgp ? r->bgpnh : r->nh;
		bool *has = bgp ? &r->has_bgpnh : &r->has_nh;
		if (!*has || (nh_zero(dst) && !nh_zero(a)))
			memcpy(dst, a, 16);
		*has = true;
		break;
	}
	case IE_SPORT: f->sport = (uint16_t)x; break;
	case IE_DPORT: f->dport = (uint16_t)x; break;
	case IE_PROTO: f->proto = (uint8_t)x; break;
	case IE_STOS: f->stos = (uint8_t)x; break;
	case IE_DTOS: f->dtos = (uint8_t)x; break;
	case IE_STCPF: f->stcpflags = (uint8_t)x; break;   /* low 8 bits: RFC 7125 */
	case IE_DTCPF: f->dtcpflags = (uint8_t)x; break;
	case IE_INIF: f->inif = (uint32_t)x, r->has_inif = true; break;
	case IE_OUTIF: f->outif = (uint32_t)x, r->has_outif = true; break;
	case IE_INPHYS: r->inphys = (uint32_t)x; break;
	case IE_OUTPHYS: r->outphys = (uint32_t)x; break;
	case IE_SAS: f->sas = (uint32_t)x; break;
	case IE_DAS: f->das = (uint32_t)x; break;
	case IE_FIRST_UP: r->first_up = (uint32_t)x, r->has_first_up = true; break;
	case IE_LAST_UP: r->last_up = (uint32_t)x, r->has_last_up = true; break;
	/* an exporter may send one time in several units (floe sends ns and
	 * ms): the finest one is kept, whatever the order */
	case IE_START_S: set_time(&r->start_ns, &r->start_prec, x * 1000000000ULL, 1); break;
	case IE_END_S: set_time(&r->end_ns, &r->end_prec, x * 1000000000ULL, 1); break;
	case IE_START_MS: set_time(&r->start_ns, &r->start_prec, x * 1000000ULL, 2); break;
	case IE_END_MS: set_time(&r->end_ns, &r->end_prec, x * 1000000ULL, 2); break;
	case IE_START_US: case IE_START_NS:
		if (n == 8)
			set_time(&r->start_ns, &r->start_prec, (uint64_t)ntp_ns(x),
			         act == IE_START_NS ? 4 : 3);
		break;
	case IE_END_US: case IE_END_NS:
		if (n == 8)
			set_time(&r->end_ns, &r->end_prec, (uint64_t)ntp_ns(x), act == IE_END_NS ? 4 : 3);
		break;
	case IE_START_DUS: r->start_dus = x, r->has_start_dus = true; break;
	case IE_END_DUS: r->end_dus = x, r->has_end_dus = true; break;
	case IE_SYSINIT_MS: r->sysinit_ns = (int64_t)(x * 1000000ULL); break;
	case IE_SAMP_INTERVAL: r->interval = (uint32_t)x; break;
	case IE_SAMP_PKT_INTERVAL: r->pkt_interval = (uint32_t)x; break;
	case IE_SAMP_PKT_SPACE: r->pkt_space = (uint32_t)x; break;
	case IE_SAMP_SIZE: r->samp_size = (uint32_t)x; break;
	case IE_SAMP_POP: r->samp_pop = (uint32_t)x; break;
	case IE_SAMPLER_ID: r->sampler = (uint32_t)x, r->has_sampler = true; break;
	case IE_ICMP_TC: r->icmp_tc = (uint16_t)x, r->has_icmp_tc = true; break;
	case IE_ICMP_TYPE: r->icmp_type = (uint8_t)x, r->has_icmp_type = true; break;
	case IE_ICMP_CODE: r->icmp_code = (uint8_t)x; break;
	case IE_IPVER: f->ipver = (uint8_t)x; break;
	case IE_ETYPE: f->etype = (uint16_t)x; break;
	case IE_VLAN: f->vlan = (uint16_t)(x & 0xfff), f->flags |= FLOE_F_VLAN; break;
	case IE_SMAC: if (n == 6) memcpy(f->smac, v, 6), f->flags |= FLOE_F_MAC; break;
	case IE_DMAC: if (n == 6) memcpy(f->dmac, v, 6), f->flags |= FLOE_F_MAC; break;
	case IE_STTLMIN: f->sttlmin = (uint8_t)x; break;
	case IE_STTLMAX: f->sttlmax = (uint8_t)x; break;
	case IE_DTTLMIN: f->dttlmin = (uint8_t)x; break;
	case IE_DTTLMAX: f->dttlmax = (uint8_t)x; break;
	}
}

/* The sampling rate an options record states, 0 if none. */
static uint32_t rec_rate(const struct rec *r)
{
	if (r->interval)
		return r->interval;
	if (r->samp_size && r->samp_pop) {
		/* RFC 5477 section 8.2.1: n-out-of-N, samplingSize of every
		 * samplingPopulation */
		return r->samp_pop / r->samp_size;
	}
	if (r->pkt_interval) {
		/* RFC 5477 section 6.5.2: pkt_interval selected of every
		 * pkt_interval + pkt_space */
		uint64_t rate = ((uint64_t)r->pkt_interval + r->pkt_space) / r->pkt_interval;
		return rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
	}
	return 0;
}

/* An options data record: sampling rates and the IPFIX init time. */
static void rec_options(struct floe_dgram *d, const struct rec *r)
{
	struct floe_source *s = d->src;
	s->st.option_records++;
	uint32_t rate = rec_rate(r);
	if (rate)
		floe_collect_learn_rate(s, r->has_sampler, r->sampler, rate);
	if (r->sysinit_ns)
		s->sysinit_ns = r->sysinit_ns;
}

/* A data record: times, ICMP, sampling; then emitted. */
static enum floe_err rec_flow(struct floe_dgram *d, struct rec *r)
{
	struct floe_flow *f = &r->f;
	/* The IPv6 pair when there is no IPv4 one, or when it is not zeros
	 * (SRv6 and tunnel exports carry both, the IPv6 pair outside) */
	bool has4 = r->seen >> IE_SRC4 & 1 || r->seen >> IE_DST4 & 1;
	bool has6 = r->seen >> IE_SRC6 & 1 || r->seen >> IE_DST6 & 1;
	if (has6 && (!has4 || !zero16(r->s6) || !zero16(r->d6))) {
		memcpy(f->saddr, r->s6, 16);
		memcpy(f->daddr, r->d6, 16);
		f->ipver = 6;
	} else if (has4) {
		memcpy(f->saddr, r->s4, 16);
		memcpy(f->daddr, r->d4, 16);
		f->ipver = 4;
	} else if (f->ipver != 4) {
		f->ipver = 6;   /* no addresses: :: */
	}
	if (r->seen >> IE_ETYPE & 1 && f->etype == FLOE_ETH_ARP)
		f->ipver = 0;   /* ARP (floe's own IPFIX): sender and target addresses */
	else
		f->etype = f->ipver == 6 ? FLOE_ETH_IPV6 : FLOE_ETH_IPV4;
	if (r->has_nh)
		memcpy(f->nexthop, r->nh, 16);
	else if (r->has_bgpnh)
		memcpy(f->nexthop, r->bgpnh, 16);
	if (!r->has_inif && r->inphys)
		f->inif = r->inphys;
	if (!r->has_outif && r->outphys)
		f->outif = r->outphys;
	/* ICMP type and code go in the ports, as Argus and nfdump do */
	if (f->proto == 1 || f->proto == 58) {
		if (r->has_icmp_tc) {
			f->sport = (uint16_t)(r->icmp_tc >> 8);
			f->dport = (uint16_t)(r->icmp_tc & 0xff);
		} else if (r->has_icmp_type) {
			f->sport = r->icmp_type;
			f->dport = r->icmp_code;
		} else if (f->sport == 0) {
			/* v9 exporters put type*256+code in the destination port */
			f->sport = (uint16_t)(f->dport >> 8);
			f->dport &= 0xff;
		}
	}
	/* Times (docs/collect.md, "Times") */
	int64_t exp = d->export_ns;
	if (r->start_ns || r->end_ns) {
		f->stime = (int64_t)(r->start_ns ? r->start_ns : r->end_ns);
		f->ltime = (int64_t)(r->end_ns ? r->end_ns : r->start_ns);
	} else if (r->has_start_dus || r->has_end_dus) {
		/* flowStart/EndDeltaMicroseconds are unsigned32 (IANA): a
		 * longer field keeps its low 32 bits */
		f->stime = exp - (int64_t)(uint32_t)(r->has_start_dus ? r->start_dus : r->end_dus) * 1000;
		f->ltime = exp - (int64_t)(uint32_t)(r->has_end_dus ? r->end_dus : r->start_dus) * 1000;
	} else if (r->has_first_up || r->has_last_up) {
		uint32_t first = r->has_first_up ? r->first_up : r->last_up;
		uint32_t last = r->has_last_up ? r->last_up : r->first_up;
		if (d->has_uptime) {
			/* RFC 3954 section 5.1: sysUpTime at export vs the
			 * record's uptimes; the int32 difference survives a
			 * wrap of the 32-bit counter */
			f->stime = exp - (int64_t)(int32_t)(d->uptime_ms - first) * 1000000;
			f->ltime = exp - (int64_t)(int32_t)(d->uptime_ms - last) * 1000000;
		} else if (d->src->sysinit_ns) {
			/* an exporter's init time is any 64-bit value: the
			 * sum wraps rather than overflow */
			f->stime = (int64_t)((uint64_t)d->src->sysinit_ns + (uint64_t)first * 1000000u);
			f->ltime = (int64_t)((uint64_t)d->src->sysinit_ns + (uint64_t)last * 1000000u);
		} else {
			/* IPFIX without systemInitTimeMilliseconds: the flow is
			 * taken to end at export time */
			f->ltime = exp;
			f->stime = exp - (int64_t)(int32_t)(last - first) * 1000000;
		}
	} else {
		f->stime = f->ltime = exp;
	}
	if (f->ltime < f->stime)
		f->ltime = f->stime;
	uint32_t own = r->interval ? r->interval : rec_rate(r);
	floe_collect_scale(f, floe_collect_rate(d, own, r->has_sampler, r->sampler));
	return floe_collect_emit_rec(d, f);
}

enum floe_err floe_tmpl_data(struct floe_dgram *d, const struct floe_tmpl *t,
                             struct floe_cursor *cur, bool ipfix)
{
	/* Records follow one another until fewer bytes than the smallest
	 * record remain: that rest is padding (RFC 7011 section 3.3.1, RFC
	 * 3954 section 5.3). */
	while (floe_cur_left(cur) >= t->minlen) {
		struct rec r;
		memset(&r, 0, sizeof(r));
		for (uint16_t i = 0; i < t->nfields; i++) {
			const struct floe_tmpl_field *fl = &t->f[i];
			uint16_t n = fl->len;
			if (n == FLOE_TMPL_VARLEN && ipfix) {
				/* RFC 7011 section 7: 1-byte length, or 255 and
				 * a 2-byte length */
				n = floe_cur_u8(cur);
				if (n == 255)
					n = floe_cur_be16(cur);
			}
			const uint8_t *v = floe_cur_take(cur, n);
			if (!v) {
				d->src->st.malformed++;
				return FLOE_TRUNCATED;
			}
			if (fl->act != IE_SKIP && (!t->options || i >= t->nscope || ipfix))
				put_field(&r, fl->act, v, n);
		}
		d->data_records++;
		if (t->options) {
			rec_options(d, &r);
		} else {
			enum floe_err e = rec_flow(d, &r);
			if (e != FLOE_OK)
				return e;
		}
	}
	return FLOE_OK;
}
