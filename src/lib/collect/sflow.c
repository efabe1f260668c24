/*
 * sflow.c - sFlow v5 datagram decoder (sflow.h; sflow.org
 * sflow_version_5.txt).  Section names below are the spec's.
 *
 * All structures are XDR (RFC 4506): big-endian 32-bit words, opaque data
 * padded to a multiple of four bytes.  Samples and records carry their own
 * length, so a broken or unknown one is skipped by it and the rest of the
 * datagram is still read; only a length that runs past its container stops
 * the walk.
 */
#include "collect/sflow.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "decode/decode.h"
#include "util/cursor.h"

/* sample_record data_format: enterprise 0 (§"Sample Data Format"). */
enum {
	SAMPLE_FLOW = 1,
	SAMPLE_COUNTERS = 2,
	SAMPLE_FLOW_EXP = 3,
	SAMPLE_COUNTERS_EXP = 4,
};

/* flow_record data_format, enterprise 0. */
enum {
	FLOW_RAW_HEADER = 1,
	FLOW_ETHERNET = 2,
	FLOW_IPV4 = 3,
	FLOW_IPV6 = 4,
	FLOW_EXT_SWITCH = 1001,
	FLOW_EXT_ROUTER = 1002,
	FLOW_EXT_GATEWAY = 1003,
};

/* counter_record data_format, enterprise 0. */
enum { COUNTER_GENERIC_IF = 1 };

/* header_protocol of sampled_header, and the DLT_ the decoder knows it by. */
static const struct {
	uint32_t proto;
	int linktype;
} header_protos[] = {
	{1, 1},     /* ETHERNET-ISO88023 -> DLT_EN10MB */
	{11, 228},  /* IPv4 -> DLT_IPV4 */
	{12, 229},  /* IPv6 -> DLT_IPV6 */
};

/* Interface value meaning "the device itself" (§"Input/output port"). */
#define IF_INTERNAL 0x3fffffffu

/* Smallest sizes, used to reject absurd element counts before looping. */
#define MIN_SAMPLE 8   /* data_format + length */
#define MIN_RECORD 8

/* What one datagram is being decoded for. */
struct dg {
	uint8_t agent[16];
	uint32_t sub_agent;
	int64_t recv_ns;
	floe_collect_emit_fn emit;
	void *ctx;
	struct floe_sflow_stats *st;
	struct floe_errbuf *eb;
	enum floe_err err;        /* first error, returned at the end */
	enum floe_err emit_err;   /* emit said stop */
	unsigned sample_no;       /* 1-based, for messages */
};

/* What the records of one flow sample said about the sampled packet. */
struct pktinfo {
	bool have_hdr;            /* raw header decoded */
	struct floe_pkt pkt;
	uint32_t frame_len;       /* per packet, FCS removed */
	bool have_ip;             /* sampled IPv4/IPv6 record */
	uint8_t ipver, proto, tcpflags, tos;
	uint8_t saddr[16], daddr[16];
	uint16_t sport, dport;
	uint32_t ip_len;
	bool have_eth;            /* sampled Ethernet record */
	uint8_t smac[6], dmac[6];
	uint32_t eth_len;
	uint32_t src_vlan;        /* extended switch; 0 = none */
	bool have_nh_router, have_nh_gw;
	uint8_t nh_router[16], nh_gw[16];
	uint32_t sas, das;
};

static enum floe_err fail(struct dg *d, enum floe_err e, const char *fmt, ...)
	FLOE_PRINTF(3, 4);

/* Counts e and keeps the first error and its message; returns the first
 * error of the datagram. */
static enum floe_err fail(struct dg *d, enum floe_err e, const char *fmt, ...)
{
	if (e == FLOE_TRUNCATED)
		d->st->truncated++;
	else if (e == FLOE_MALFORMED)
		d->st->malformed++;
	else if (e == FLOE_UNSUPPORTED)
		d->st->unsupported++;
	if (d->err == FLOE_OK)
		d->err = e;
	if (d->eb && d->eb->code == FLOE_OK) {
		char msg[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		floe_errbuf_set(d->eb, e, "sflow datagram: %s", msg);
	}
	return d->err;  /* the first error, as in eb */
}

/* address (§"Address Types"): type 0 unknown, 1 IPv4, 2 IPv6.  Returns
 * false if the type is not one of these (malformed) or bytes are short. */
static bool read_addr(struct floe_cursor *c, uint8_t out[16], bool *known)
{
	uint32_t type = floe_cur_be32(c);
	memset(out, 0, 16);
	*known = false;
	if (type == 0)
		return !c->bad;
	if (type == 1) {
		const uint8_t *q = floe_cur_take(c, 4);
		if (!q)
			return false;
		floe_addr_from_v4(out, q);
		*known = true;
		return true;
	}
	if (type == 2) {
		*known = true;
		return floe_cur_copy(c, out, 16);
	}
	return false;
}

/* Takes an XDR opaque body of n bytes plus its padding to four; returns a
 * cursor over the n bytes, or a bad cursor if they run past c. */
static struct floe_cursor take_opaque(struct floe_cursor *c, uint32_t n)
{
	struct floe_cursor sub = floe_cursor_make(NULL, 0);
	const uint8_t *q = floe_cur_take(c, n);
	if (!q) {
		sub.bad = true;
		return sub;
	}
	sub = floe_cursor_make(q, n);
	/* Padding may be missing at the very end; agents differ. */
	size_t pad = (4 - (n & 3)) & 3;
	if (floe_cur_left(c) >= pad)
		c->off += pad;
	return sub;
}

/* Sequence number check: counts the numbers skipped between last and seq
 * as lost, and backwards steps as resets. */
static void seq_step(struct floe_sflow_stats *st, uint32_t last, uint32_t seq,
                     uint64_t *lost)
{
	uint32_t diff = seq - last;
	if (diff == 1)
		return;
	if (diff != 0 && diff < 0x80000000u)
		*lost += diff - 1;
	else
		st->seq_resets++;
}

static void track_datagram(struct dg *d, uint32_t seq, uint32_t uptime)
{
	struct floe_sflow_stats *st = d->st;
	for (unsigned i = 0; i < st->n_agents; i++) {
		struct floe_sflow_agent *a = &st->agents[i];
		if (a->sub_agent != d->sub_agent || memcmp(a->addr, d->agent, 16) != 0)
			continue;
		if (uptime < a->last_uptime)
			st->seq_resets++;  /* the agent restarted: no loss to count */
		else
			seq_step(st, a->last_seq, seq, &st->lost_datagrams);
		a->last_seq = seq;
		a->last_uptime = uptime;
		return;
	}
	if (st->n_agents == FLOE_SFLOW_MAX_AGENTS) {
		st->table_full++;
		return;
	}
	struct floe_sflow_agent *a = &st->agents[st->n_agents++];
	memcpy(a->addr, d->agent, 16);
	a->sub_agent = d->sub_agent;
	a->last_seq = seq;
	a->last_uptime = uptime;
}

static void track_sample(struct dg *d, uint32_t id_type, uint32_t id_index,
                         bool counter, uint32_t seq, uint32_t pool)
{
	struct floe_sflow_stats *st = d->st;
	struct floe_sflow_source *s = NULL;
	for (unsigned i = 0; i < st->n_sources; i++) {
		struct floe_sflow_source *t = &st->sources[i];
		if (t->id_type == id_type && t->id_index == id_index &&
		    t->sub_agent == d->sub_agent && memcmp(t->addr, d->agent, 16) == 0) {
			s = t;
			break;
		}
	}
	if (!s) {
		if (st->n_sources == FLOE_SFLOW_MAX_SOURCES) {
			st->table_full++;
			return;
		}
		s = &st->sources[st->n_sources++];
		memset(s, 0, sizeof(*s));
		memcpy(s->addr, d->agent, 16);
		s->sub_agent = d->sub_agent;
		s->id_type = id_type;
		s->id_index = id_index;
	}
	if (counter) {
		if (s->have_counter)
			seq_step(st, s->last_counter_seq, seq, &st->lost_samples);
		s->last_counter_seq = seq;
		s->have_counter = 1;
	} else {
		if (s->have_flow)
			seq_step(st, s->last_flow_seq, seq, &st->lost_samples);
		s->last_flow_seq = seq;
		s->last_pool = pool;
		s->have_flow = 1;
	}
}

/* Interface value -> floe ifIndex: 0 when not a single interface
 * (discarded, several, the device itself). */
static uint32_t map_if(uint32_t format, uint32_t value)
{
	if (format != 0 || value == IF_INTERNAL)
		return 0;
	return value;
}

/* sampled_header (flow record 1). */
static bool rec_raw_header(struct dg *d, struct floe_cursor *c, struct pktinfo *pi)
{
	uint32_t proto = floe_cur_be32(c);
	uint32_t frame_len = floe_cur_be32(c);
	(void)floe_cur_be32(c);  /* stripped */
	uint32_t hlen = floe_cur_be32(c);
	const uint8_t *h = floe_cur_take(c, hlen);
	if (!h)
		return false;
	int lt = -1;
	for (size_t i = 0; i < sizeof(header_protos) / sizeof(header_protos[0]); i++)
		if (header_protos[i].proto == proto)
			lt = header_protos[i].linktype;
	if (lt < 0) {
		d->st->unsupported++;
		return true;
	}
	/* For layer 2 protocols frame_length includes the FCS; floe counts
	 * frames without it (docs/records.md). */
	if (lt == 1 && frame_len >= 4)
		frame_len -= 4;
	if (floe_decode(&pi->pkt, lt, h, hlen, frame_len < hlen ? hlen : frame_len,
	                d->recv_ns) != FLOE_DEC_OK) {
		d->st->header_undecoded++;
		return true;
	}
	pi->have_hdr = true;
	pi->frame_len = frame_len;
	return true;
}

/* sampled_ethernet (2), sampled_ipv4 (3), sampled_ipv6 (4). */
static bool rec_ethernet(struct floe_cursor *c, struct pktinfo *pi)
{
	pi->eth_len = floe_cur_be32(c);
	floe_cur_copy(c, pi->smac, 6);
	floe_cur_skip(c, 2);  /* mac is opaque[6], XDR-padded */
	floe_cur_copy(c, pi->dmac, 6);
	floe_cur_skip(c, 2);
	(void)floe_cur_be32(c);  /* type */
	pi->have_eth = !c->bad;
	return !c->bad;
}

static bool rec_ip(struct floe_cursor *c, struct pktinfo *pi, int ver)
{
	pi->ip_len = floe_cur_be32(c);
	uint32_t proto = floe_cur_be32(c);
	if (ver == 4) {
		const uint8_t *s = floe_cur_take(c, 4), *t = floe_cur_take(c, 4);
		if (!s || !t)
			return false;
		floe_addr_from_v4(pi->saddr, s);
		floe_addr_from_v4(pi->daddr, t);
	} else {
		floe_cur_copy(c, pi->saddr, 16);
		floe_cur_copy(c, pi->daddr, 16);
	}
	uint32_t sport = floe_cur_be32(c), dport = floe_cur_be32(c);
	uint32_t tcpflags = floe_cur_be32(c), tos = floe_cur_be32(c);
	if (c->bad || proto > 255 || sport > 65535 || dport > 65535)
		return false;
	pi->ipver = (uint8_t)ver;
	pi->proto = (uint8_t)proto;
	pi->sport = (uint16_t)sport;
	pi->dport = (uint16_t)dport;
	pi->tcpflags = (uint8_t)tcpflags;
	pi->tos = (uint8_t)tos;
	pi->have_ip = true;
	return true;
}

/* extended_gateway (1003): AS numbers; the destination AS is the last AS of
 * the path (the origin of the destination prefix). */
static bool rec_gateway(struct floe_cursor *c, struct pktinfo *pi)
{
	bool known;
	if (!read_addr(c, pi->nh_gw, &known))
		return false;
	(void)floe_cur_be32(c);  /* as of this router */
	pi->sas = floe_cur_be32(c);
	(void)floe_cur_be32(c);  /* src_peer_as */
	uint32_t nseg = floe_cur_be32(c);
	if (c->bad || nseg > floe_cur_left(c) / 8)
		return false;
	uint32_t last = 0;
	for (uint32_t i = 0; i < nseg; i++) {
		(void)floe_cur_be32(c);  /* segment type: set or sequence */
		uint32_t n = floe_cur_be32(c);
		if (c->bad || n > floe_cur_left(c) / 4)
			return false;
		for (uint32_t j = 0; j < n; j++)
			last = floe_cur_be32(c);
	}
	uint32_t ncomm = floe_cur_be32(c);
	if (c->bad || ncomm > floe_cur_left(c) / 4)
		return false;
	floe_cur_skip(c, (size_t)ncomm * 4);
	(void)floe_cur_be32(c);  /* localpref */
	if (c->bad)
		return false;
	pi->das = last;
	pi->have_nh_gw = known;
	return true;
}

/* Fills and emits the record of one flow sample. */
static enum floe_err emit_sample(struct dg *d, const struct pktinfo *pi,
                                 uint32_t rate, uint32_t inif, uint32_t outif)
{
	struct floe_flow f;
	memset(&f, 0, sizeof(f));
	f.stime = f.ltime = d->recv_ns;
	memcpy(f.exporter, d->agent, 16);
	f.sensor = d->sub_agent;
	f.inif = inif;
	f.outif = outif;
	f.sampling = rate;
	f.trans = 1;
	f.flags = FLOE_F_SAMPLED;
	uint64_t bytes, paylen = 0;
	if (pi->have_hdr) {
		const struct floe_pkt *k = &pi->pkt;
		memcpy(f.saddr, k->saddr, 16);
		memcpy(f.daddr, k->daddr, 16);
		f.ipver = k->ipver;
		f.proto = k->proto;
		f.etype = k->etype;
		if ((k->flags & FLOE_PKT_L4) || k->proto == 1 || k->proto == 58) {
			f.sport = k->sport;
			f.dport = k->dport;
		}
		if (k->proto == 6 && (k->flags & FLOE_PKT_L4))
			f.stcpflags = k->tcpflags;
		f.sttlmin = f.sttlmax = k->ttl;
		f.stos = k->tos;
		if (k->flags & FLOE_PKT_MAC) {
			memcpy(f.smac, k->smac, 6);
			memcpy(f.dmac, k->dmac, 6);
			f.flags |= FLOE_F_MAC;
		}
		if (k->flags & FLOE_PKT_VLAN) {
			f.vlan = k->vlan;
			f.flags |= FLOE_F_VLAN;
		}
		if (k->flags & FLOE_PKT_MPLS)
			f.flags |= FLOE_F_MPLS;
		if (k->flags & FLOE_PKT_FRAG)
			f.flags |= FLOE_F_FRAG;
		bytes = pi->frame_len;
		paylen = k->paylen;
	} else if (pi->have_ip) {
		memcpy(f.saddr, pi->saddr, 16);
		memcpy(f.daddr, pi->daddr, 16);
		f.ipver = pi->ipver;
		f.etype = pi->ipver == 4 ? FLOE_ETH_IPV4 : FLOE_ETH_IPV6;
		f.proto = pi->proto;
		f.sport = pi->sport;
		f.dport = pi->dport;
		if (pi->proto == 6)
			f.stcpflags = pi->tcpflags;
		f.stos = pi->tos;
		/* With a sampled Ethernet record its length is the frame's. */
		bytes = pi->have_eth && pi->eth_len >= pi->ip_len ? pi->eth_len : pi->ip_len;
	} else {
		d->st->no_packet++;
		return FLOE_OK;
	}
	if (!(f.flags & FLOE_F_MAC) && pi->have_eth) {
		memcpy(f.smac, pi->smac, 6);
		memcpy(f.dmac, pi->dmac, 6);
		f.flags |= FLOE_F_MAC;
	}
	if (!(f.flags & FLOE_F_VLAN) && pi->src_vlan > 0 && pi->src_vlan < 4096) {
		f.vlan = (uint16_t)pi->src_vlan;
		f.flags |= FLOE_F_VLAN;
	}
	if (pi->have_nh_router)
		memcpy(f.nexthop, pi->nh_router, 16);
	else if (pi->have_nh_gw)
		memcpy(f.nexthop, pi->nh_gw, 16);
	f.sas = pi->sas;
	f.das = pi->das;
	f.spkts = rate;
	f.sbytes = bytes * rate;
	f.sappbytes = paylen * rate;
	d->st->records++;
	d->emit_err = d->emit(d->ctx, &f);
	return d->emit_err;
}

/* A sample's source id: type and index in one word (8 and 24 bits), or
 * in two words in the expanded forms (sFlow v5, section 5). */
static void source_id(struct floe_cursor *c, bool expanded, uint32_t *type, uint32_t *index)
{
	if (expanded) {
		*type = floe_cur_be32(c);
		*index = floe_cur_be32(c);
	} else {
		uint32_t id = floe_cur_be32(c);
		*type = id >> 24;
		*index = id & 0xffffff;
	}
}

/* flow_sample (1) and flow_sample_expanded (3), after data_format and
 * length: c spans exactly the sample. */
static enum floe_err flow_sample(struct dg *d, struct floe_cursor *c, bool expanded)
{
	uint32_t seq = floe_cur_be32(c);
	uint32_t id_type, id_index;
	source_id(c, expanded, &id_type, &id_index);
	uint32_t rate = floe_cur_be32(c);
	uint32_t pool = floe_cur_be32(c);
	uint32_t drops = floe_cur_be32(c);
	uint32_t infmt, inval, outfmt, outval;
	if (expanded) {
		infmt = floe_cur_be32(c);
		inval = floe_cur_be32(c);
		outfmt = floe_cur_be32(c);
		outval = floe_cur_be32(c);
	} else {
		uint32_t in = floe_cur_be32(c), out = floe_cur_be32(c);
		infmt = in >> 30;
		inval = in & 0x3fffffff;
		outfmt = out >> 30;
		outval = out & 0x3fffffff;
	}
	uint32_t nrec = floe_cur_be32(c);
	if (c->bad)
		return fail(d, FLOE_MALFORMED, "sample %u: flow sample header longer than the sample",
		            d->sample_no);
	if (nrec > floe_cur_left(c) / MIN_RECORD)
		return fail(d, FLOE_MALFORMED, "sample %u: %u flow records cannot fit in %zu bytes",
		            d->sample_no, nrec, floe_cur_left(c));
	d->st->flow_samples++;
	d->st->agent_drops += drops;
	track_sample(d, id_type, id_index, false, seq, pool);
	if (outfmt == 1)
		d->st->discarded++;
	if (rate == 0)  /* 1 in 0 makes no sense; count the packet once */
		rate = 1;

	struct pktinfo pi;
	memset(&pi, 0, sizeof(pi));
	for (uint32_t i = 0; i < nrec; i++) {
		uint32_t fmt = floe_cur_be32(c);
		uint32_t rlen = floe_cur_be32(c);
		struct floe_cursor r = take_opaque(c, rlen);
		if (c->bad || r.bad)
			return fail(d, FLOE_MALFORMED,
			            "sample %u: flow record %u (format %u) length %u runs past the sample",
			            d->sample_no, i + 1, fmt, rlen);
		if (fmt >> 12 != 0) {  /* enterprise-specific */
			d->st->unsupported++;
			continue;
		}
		bool ok = true;
		bool known;
		switch (fmt) {
		case FLOW_RAW_HEADER: ok = rec_raw_header(d, &r, &pi); break;
		case FLOW_ETHERNET: ok = rec_ethernet(&r, &pi); break;
		case FLOW_IPV4: ok = rec_ip(&r, &pi, 4); break;
		case FLOW_IPV6: ok = rec_ip(&r, &pi, 6); break;
		case FLOW_EXT_SWITCH:
			pi.src_vlan = floe_cur_be32(&r);
			ok = !r.bad;
			break;
		case FLOW_EXT_ROUTER:
			ok = read_addr(&r, pi.nh_router, &known);
			pi.have_nh_router = ok && known;
			break;
		case FLOW_EXT_GATEWAY: ok = rec_gateway(&r, &pi); break;
		default: d->st->unsupported++; break;
		}
		if (!ok)
			fail(d, FLOE_MALFORMED, "sample %u: flow record %u (format %u) is malformed",
			     d->sample_no, i + 1, fmt);
	}
	return emit_sample(d, &pi, rate, map_if(infmt, inval), map_if(outfmt, outval));
}

/* counters_generic_interface (counter record 1). */
static bool rec_generic_if(struct dg *d, struct floe_cursor *c)
{
	struct floe_sflow_ifcounters v;
	memset(&v, 0, sizeof(v));
	memcpy(v.addr, d->agent, 16);
	v.recv_ns = d->recv_ns;
	v.ifindex = floe_cur_be32(c);
	v.iftype = floe_cur_be32(c);
	v.ifspeed = floe_cur_be64(c);
	v.direction = floe_cur_be32(c);
	v.status = floe_cur_be32(c);
	v.in_octets = floe_cur_be64(c);
	v.in_ucast = floe_cur_be32(c);
	v.in_mcast = floe_cur_be32(c);
	v.in_bcast = floe_cur_be32(c);
	v.in_discards = floe_cur_be32(c);
	v.in_errors = floe_cur_be32(c);
	v.in_unknown = floe_cur_be32(c);
	v.out_octets = floe_cur_be64(c);
	v.out_ucast = floe_cur_be32(c);
	v.out_mcast = floe_cur_be32(c);
	v.out_bcast = floe_cur_be32(c);
	v.out_discards = floe_cur_be32(c);
	v.out_errors = floe_cur_be32(c);
	v.promisc = floe_cur_be32(c);
	if (c->bad)
		return false;
	struct floe_sflow_stats *st = d->st;
	for (unsigned i = 0; i < st->n_ifs; i++) {
		if (st->ifs[i].ifindex == v.ifindex && memcmp(st->ifs[i].addr, v.addr, 16) == 0) {
			st->ifs[i] = v;
			return true;
		}
	}
	if (st->n_ifs == FLOE_SFLOW_MAX_IFS)
		st->table_full++;
	else
		st->ifs[st->n_ifs++] = v;
	return true;
}

/* counters_sample (2) and counters_sample_expanded (4). */
static enum floe_err counters_sample(struct dg *d, struct floe_cursor *c, bool expanded)
{
	uint32_t seq = floe_cur_be32(c);
	uint32_t id_type, id_index;
	source_id(c, expanded, &id_type, &id_index);
	uint32_t nrec = floe_cur_be32(c);
	if (c->bad)
		return fail(d, FLOE_MALFORMED, "sample %u: counters sample header longer than the sample",
		            d->sample_no);
	if (nrec > floe_cur_left(c) / MIN_RECORD)
		return fail(d, FLOE_MALFORMED, "sample %u: %u counter records cannot fit in %zu bytes",
		            d->sample_no, nrec, floe_cur_left(c));
	d->st->counter_samples++;
	track_sample(d, id_type, id_index, true, seq, 0);
	for (uint32_t i = 0; i < nrec; i++) {
		uint32_t fmt = floe_cur_be32(c);
		uint32_t rlen = floe_cur_be32(c);
		struct floe_cursor r = take_opaque(c, rlen);
		if (c->bad || r.bad)
			return fail(d, FLOE_MALFORMED,
			            "sample %u: counter record %u (format %u) length %u runs past the sample",
			            d->sample_no, i + 1, fmt, rlen);
		if (fmt != COUNTER_GENERIC_IF) {
			d->st->unsupported++;
			continue;
		}
		if (!rec_generic_if(d, &r))
			fail(d, FLOE_MALFORMED, "sample %u: counter record %u (generic interface) is malformed",
			     d->sample_no, i + 1);
	}
	return FLOE_OK;
}

void floe_sflow_stats_init(struct floe_sflow_stats *st)
{
	memset(st, 0, sizeof(*st));
}

bool floe_sflow_probe(const uint8_t *p, size_t len)
{
	return len >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 &&
	       (p[3] == 2 || p[3] == 4 || p[3] == 5);
}

enum floe_err floe_sflow_decode(const uint8_t *p, size_t len,
                                const uint8_t exporter[16], int64_t recv_ns,
                                floe_collect_emit_fn emit, void *ctx,
                                struct floe_sflow_stats *st,
                                struct floe_errbuf *eb)
{
	struct dg d;
	memset(&d, 0, sizeof(d));
	d.recv_ns = recv_ns;
	d.emit = emit;
	d.ctx = ctx;
	d.st = st;
	d.eb = eb;
	st->datagrams++;

	/* §"sFlow Datagram": sample_datagram_v5. */
	struct floe_cursor c = floe_cursor_make(p, len);
	uint32_t version = floe_cur_be32(&c);
	if (c.bad)
		return fail(&d, FLOE_TRUNCATED, "%zu bytes, shorter than a version number", len);
	if (version != 5)
		return fail(&d, FLOE_UNSUPPORTED, "version %u, floe reads version 5", version);
	bool known;
	if (!read_addr(&c, d.agent, &known))
		return fail(&d, c.bad ? FLOE_TRUNCATED : FLOE_MALFORMED,
		            "agent address cut short or of an unknown type");
	if (!known)
		memcpy(d.agent, exporter, 16);
	d.sub_agent = floe_cur_be32(&c);
	uint32_t seq = floe_cur_be32(&c);
	uint32_t uptime = floe_cur_be32(&c);
	uint32_t nsamples = floe_cur_be32(&c);
	if (c.bad)
		return fail(&d, FLOE_TRUNCATED, "datagram header cut short (%zu bytes)", len);
	if (nsamples > floe_cur_left(&c) / MIN_SAMPLE)
		return fail(&d, FLOE_MALFORMED, "%u samples cannot fit in %zu bytes", nsamples,
		            floe_cur_left(&c));
	track_datagram(&d, seq, uptime);

	for (uint32_t i = 0; i < nsamples; i++) {
		d.sample_no = i + 1;
		size_t at = c.off;
		uint32_t fmt = floe_cur_be32(&c);
		uint32_t slen = floe_cur_be32(&c);
		struct floe_cursor s = take_opaque(&c, slen);
		if (c.bad || s.bad)
			return fail(&d, FLOE_TRUNCATED,
			            "sample %u at byte %zu: length %u runs past the datagram (%zu bytes)",
			            i + 1, at, slen, len);
		st->samples++;
		enum floe_err e = FLOE_OK;
		switch (fmt) {
		case SAMPLE_FLOW: e = flow_sample(&d, &s, false); break;
		case SAMPLE_FLOW_EXP: e = flow_sample(&d, &s, true); break;
		case SAMPLE_COUNTERS: e = counters_sample(&d, &s, false); break;
		case SAMPLE_COUNTERS_EXP: e = counters_sample(&d, &s, true); break;
		default: st->unsupported++; break;
		}
		/* A broken sample was framed by its length: go on with the next.
		 * An error from emit is the caller's: stop. */
		(void)e;
		if (d.emit_err != FLOE_OK)
			return d.emit_err;
	}
	return d.err;
}
