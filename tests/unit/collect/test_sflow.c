/*
 * test_sflow.c - floe_sflow_decode on hand-built sFlow v5 datagrams
 * (sflow_version_5.txt): the record of a sampled IPv4 packet, interface
 * counters, sequence-number loss, and a table of hostile datagrams (lengths
 * past the end, absurd counts, unknown address types) that must give
 * MALFORMED/TRUNCATED/UNSUPPORTED and a counter, never a crash.  Every
 * prefix of a valid datagram is decoded too.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/sflow.h"
#include "tap.h"

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void u32(struct buf *b, uint32_t v)
{
	b->b[b->n++] = (uint8_t)(v >> 24);
	b->b[b->n++] = (uint8_t)(v >> 16);
	b->b[b->n++] = (uint8_t)(v >> 8);
	b->b[b->n++] = (uint8_t)v;
}

static void u64(struct buf *b, uint64_t v)
{
	u32(b, (uint32_t)(v >> 32));
	u32(b, (uint32_t)v);
}

static void bytes(struct buf *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* Patches the length word at off with the bytes written after it. */
static void patch_len(struct buf *b, size_t off)
{
	uint32_t v = (uint32_t)(b->n - off - 4);
	b->b[off] = (uint8_t)(v >> 24);
	b->b[off + 1] = (uint8_t)(v >> 16);
	b->b[off + 2] = (uint8_t)(v >> 8);
	b->b[off + 3] = (uint8_t)v;
}

static void header(struct buf *b, uint32_t seq, uint32_t nsamples)
{
	b->n = 0;
	u32(b, 5);
	u32(b, 1);
	bytes(b, "\xc0\x00\x02\x01", 4);  /* agent 192.0.2.1 */
	u32(b, 7);                          /* sub-agent */
	u32(b, seq);
	u32(b, 1000 + seq);                 /* uptime */
	u32(b, nsamples);
}

/* A raw header record: Ethernet / IPv4 / TCP SYN 10.0.0.1:1234 -> 10.0.0.2:80. */
static void raw_header(struct buf *b)
{
	static const uint8_t frame[54] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00,
		0x45, 0x10, 0, 40, 0, 1, 0, 0, 63, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0,
	};
	u32(b, 1);                /* raw packet header */
	size_t l = b->n;
	u32(b, 0);
	u32(b, 1);                /* ethernet */
	u32(b, 64 + 4);           /* frame length incl. FCS */
	u32(b, 4);                /* stripped */
	u32(b, sizeof(frame));
	bytes(b, frame, sizeof(frame));
	bytes(b, "\0\0", 2);      /* XDR padding to 56 */
	patch_len(b, l);
}

/* flow_sample with the raw header, a switch and a gateway record. */
static void flow_sample(struct buf *b, uint32_t seq, uint32_t rate)
{
	u32(b, 1);
	size_t l = b->n;
	u32(b, 0);
	u32(b, seq);
	u32(b, 3);            /* source id: ifIndex 3 */
	u32(b, rate);
	u32(b, seq * rate);   /* pool */
	u32(b, 2);            /* drops */
	u32(b, 3);            /* input ifIndex */
	u32(b, 9);            /* output ifIndex */
	u32(b, 3);            /* records */
	raw_header(b);
	u32(b, 1001);         /* extended switch */
	u32(b, 16);
	u32(b, 42); u32(b, 0); u32(b, 43); u32(b, 0);
	u32(b, 1003);         /* extended gateway */
	size_t g = b->n;
	u32(b, 0);
	u32(b, 1); bytes(b, "\xc0\x00\x02\xfe", 4);  /* next hop 192.0.2.254 */
	u32(b, 65000); u32(b, 64512); u32(b, 64513);
	u32(b, 1);            /* one path segment */
	u32(b, 2); u32(b, 2); u32(b, 3356); u32(b, 15169);
	u32(b, 0);            /* communities */
	u32(b, 100);
	patch_len(b, g);
	patch_len(b, l);
}

static void counters_sample(struct buf *b, uint32_t seq, uint32_t ifindex)
{
	u32(b, 2);
	size_t l = b->n;
	u32(b, 0);
	u32(b, seq);
	u32(b, ifindex);
	u32(b, 2);
	u32(b, 1);            /* generic interface */
	u32(b, 88);
	u32(b, ifindex); u32(b, 6); u64(b, 10000000000ull); u32(b, 1); u32(b, 3);
	u64(b, 123456789012ull); u32(b, 11); u32(b, 12); u32(b, 13); u32(b, 14); u32(b, 15); u32(b, 16);
	u64(b, 987654321ull); u32(b, 21); u32(b, 22); u32(b, 23); u32(b, 24); u32(b, 25);
	u32(b, 0);
	u32(b, 99);           /* an enterprise-less record floe skips */
	u32(b, 4);
	u32(b, 0);
	patch_len(b, l);
}

struct sink {
	struct floe_flow f[8];
	int n;
	enum floe_err ret;
};

static enum floe_err emit(void *ctx, const struct floe_flow *f)
{
	struct sink *s = ctx;
	if (s->n < 8)
		s->f[s->n] = *f;
	s->n++;
	return s->ret;
}

static const uint8_t udp_src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9};

static void test_record(void)
{
	struct buf b;
	header(&b, 1, 1);
	flow_sample(&b, 1, 512);
	struct sink s = {0};
	static struct floe_sflow_stats st;
	floe_sflow_stats_init(&st);
	struct floe_errbuf eb = {0};
	enum floe_err e = floe_sflow_decode(b.b, b.n, udp_src, 77, emit, &s, &st, &eb);
	TAP_CHECK(e == FLOE_OK, "valid datagram decodes (%s %s)", floe_strerror(e), eb.msg);
	TAP_CHECK(s.n == 1, "one record per flow sample");
	const struct floe_flow *f = &s.f[0];
	static const uint8_t agent[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
	static const uint8_t nh[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 254};
	TAP_CHECK(memcmp(f->exporter, agent, 16) == 0, "exporter is the agent address");
	TAP_CHECK(f->sensor == 7, "sensor is the sub-agent id");
	TAP_CHECK(f->stime == 77 && f->ltime == 77, "times are the receive time");
	TAP_CHECK(f->inif == 3 && f->outif == 9, "interfaces");
	TAP_CHECK(f->sampling == 512 && (f->flags & FLOE_F_SAMPLED), "sampling rate kept");
	TAP_CHECK(f->spkts == 512, "spkts = rate");
	TAP_CHECK(f->sbytes == 64ull * 512, "sbytes = (frame length - FCS) x rate");
	TAP_CHECK(f->sappbytes == 0, "no payload");
	TAP_CHECK(f->ipver == 4 && f->proto == 6 && f->sport == 1234 && f->dport == 80,
	          "ports and protocol from the header");
	TAP_CHECK(f->saddr[15] == 1 && f->daddr[15] == 2 && floe_addr_is_v4(f->saddr), "addresses");
	TAP_CHECK(f->stcpflags == 0x02 && f->stos == 0x10 && f->sttlmin == 63, "flags, tos, ttl");
	TAP_CHECK((f->flags & FLOE_F_MAC) && f->smac[0] == 6 && f->dmac[5] == 5, "MACs");
	TAP_CHECK((f->flags & FLOE_F_VLAN) && f->vlan == 42, "vlan from the switch record");
	TAP_CHECK(memcmp(f->nexthop, nh, 16) == 0, "next hop from the gateway record");
	TAP_CHECK(f->sas == 64512 && f->das == 15169, "AS numbers: source, last of the path");
	TAP_CHECK(f->trans == 1, "trans");
	TAP_CHECK(st.flow_samples == 1 && st.records == 1 && st.agent_drops == 2, "stats");
}

static void test_counters_and_loss(void)
{
	static struct floe_sflow_stats st;
	floe_sflow_stats_init(&st);
	struct sink s = {0};
	struct buf b;
	header(&b, 10, 2);
	flow_sample(&b, 100, 1);
	counters_sample(&b, 50, 4);
	TAP_CHECK(floe_sflow_decode(b.b, b.n, udp_src, 1, emit, &s, &st, NULL) == FLOE_OK, "datagram 10");
	header(&b, 13, 2);          /* datagrams 11, 12 lost */
	flow_sample(&b, 105, 1);    /* flow samples 101..104 lost */
	counters_sample(&b, 51, 4);
	TAP_CHECK(floe_sflow_decode(b.b, b.n, udp_src, 2, emit, &s, &st, NULL) == FLOE_OK, "datagram 13");
	TAP_CHECK(st.datagrams == 2 && st.samples == 4, "datagrams and samples counted");
	TAP_CHECK(st.counter_samples == 2 && st.flow_samples == 2, "samples by kind");
	TAP_CHECK(st.lost_datagrams == 2, "lost datagrams %llu", (unsigned long long)st.lost_datagrams);
	TAP_CHECK(st.lost_samples == 4, "lost samples %llu", (unsigned long long)st.lost_samples);
	TAP_CHECK(st.unsupported == 2, "unknown counter record skipped and counted");
	TAP_CHECK(st.n_ifs == 1 && st.ifs[0].ifindex == 4 && st.ifs[0].in_octets == 123456789012ull &&
	          st.ifs[0].out_errors == 25 && st.ifs[0].ifspeed == 10000000000ull &&
	          st.ifs[0].recv_ns == 2, "interface counters kept per agent and ifIndex");
	header(&b, 1, 0);           /* the agent restarted */
	st.seq_resets = 0;
	b.b[23] = 0;                /* uptime back to a small value */
	TAP_CHECK(floe_sflow_decode(b.b, b.n, udp_src, 3, emit, &s, &st, NULL) == FLOE_OK, "restart");
	TAP_CHECK(st.seq_resets == 1 && st.lost_datagrams == 2, "restart is not loss");
}

/* Hostile datagrams: a valid one edited at a word offset. */
struct hostile {
	const char *name;
	size_t word;             /* 32-bit word to overwrite; SIZE_MAX: none */
	uint32_t value;
	size_t cut;              /* bytes removed from the end */
	enum floe_err want;
	int records;             /* records still emitted */
};

/* Word offsets in header(1 sample) + flow_sample: 0 version, 1 agent type,
 * 6 nsamples, 7 sample format, 8 sample length, 16 record count, 17 raw
 * header format, 18 its length, 22 its header length, 38 switch length,
 * 50 AS path segments, 52 AS count of the first segment. */
static const struct hostile hostile[] = {
	{"valid", SIZE_MAX, 0, 0, FLOE_OK, 1},
	{"version 4", 0, 4, 0, FLOE_UNSUPPORTED, 0},
	{"agent address type 9", 1, 9, 0, FLOE_MALFORMED, 0},
	{"absurd sample count", 6, 0xffffffff, 0, FLOE_MALFORMED, 0},
	{"sample length past the end", 8, 0x7ffffff0, 0, FLOE_TRUNCATED, 0},
	{"sample length short of its header", 8, 12, 0, FLOE_MALFORMED, 0},
	{"absurd record count", 16, 0x40000000, 0, FLOE_MALFORMED, 0},
	{"record length past the sample", 18, 0xfffffff0, 0, FLOE_MALFORMED, 0},
	{"header length past the record", 22, 1000, 0, FLOE_MALFORMED, 0},
	{"switch record too short", 38, 2, 0, FLOE_MALFORMED, 1},
	{"absurd AS path segments", 50, 0x10000000, 0, FLOE_MALFORMED, 1},
	{"absurd AS count", 52, 0x10000000, 0, FLOE_MALFORMED, 1},
	{"unknown sample format", 7, 77, 0, FLOE_OK, 0},
	{"enterprise sample format", 7, 0x1234001, 0, FLOE_OK, 0},
	{"unknown record format", 17, 2000, 0, FLOE_OK, 0},
	{"last byte missing", SIZE_MAX, 0, 1, FLOE_TRUNCATED, 0},
	{"datagram header only", SIZE_MAX, 0, 0xffff, FLOE_MALFORMED, 0},
};

static void test_hostile(void)
{
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const struct hostile *h = &hostile[i];
		struct buf b;
		header(&b, 1, 1);
		flow_sample(&b, 1, 10);
		if (h->word != SIZE_MAX) {
			uint8_t *w = b.b + 4 * h->word;
			w[0] = (uint8_t)(h->value >> 24);
			w[1] = (uint8_t)(h->value >> 16);
			w[2] = (uint8_t)(h->value >> 8);
			w[3] = (uint8_t)h->value;
		}
		size_t n = h->cut == 0xffff ? 28 : b.n - h->cut;
		/* Exact-size heap copy, so ASan sees any read past the end. */
		uint8_t *p = malloc(n);
		memcpy(p, b.b, n);
		static struct floe_sflow_stats st;
		floe_sflow_stats_init(&st);
		struct sink s = {0};
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_sflow_decode(p, n, udp_src, 1, emit, &s, &st, &eb);
		free(p);
		uint64_t counted = e == FLOE_MALFORMED ? st.malformed : e == FLOE_TRUNCATED ? st.truncated
		                   : e == FLOE_UNSUPPORTED ? st.unsupported : 1;
		TAP_CHECK(e == h->want && counted > 0 && s.n == h->records && (e == FLOE_OK) == (eb.code == FLOE_OK),
		          "%s: %s, %d records (%s)", h->name, floe_strerror(e), s.n, eb.msg);
	}
}

static void test_prefixes_and_emit(void)
{
	struct buf b;
	header(&b, 1, 2);
	flow_sample(&b, 1, 10);
	counters_sample(&b, 1, 3);
	int bad = 0;
	for (size_t n = 0; n < b.n; n++) {
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, b.b, n);
		static struct floe_sflow_stats st;
		floe_sflow_stats_init(&st);
		struct sink s = {0};
		enum floe_err e = floe_sflow_decode(p, n, udp_src, 1, emit, &s, &st, NULL);
		free(p);
		if (e == FLOE_OK || st.malformed + st.truncated == 0)
			bad++;
	}
	TAP_CHECK(bad == 0, "every proper prefix is an error, counted (%d not)", bad);

	header(&b, 1, 2);
	flow_sample(&b, 1, 10);
	flow_sample(&b, 2, 10);
	static struct floe_sflow_stats st;
	floe_sflow_stats_init(&st);
	struct sink s = {.ret = FLOE_LIMIT};
	TAP_CHECK(floe_sflow_decode(b.b, b.n, udp_src, 1, emit, &s, &st, NULL) == FLOE_LIMIT && s.n == 1,
	          "an error from emit stops the datagram");
}

static void test_probe(void)
{
	static const struct {
		const char *name;
		uint8_t b[4];
		size_t len;
		bool want;
	} rows[] = {
		{"sFlow v5", {0, 0, 0, 5}, 4, true},
		{"sFlow v4", {0, 0, 0, 4}, 4, true},
		{"NetFlow v5", {0, 5, 0, 30}, 4, false},
		{"NetFlow v9", {0, 9, 0, 2}, 4, false},
		{"IPFIX", {0, 10, 0, 200}, 4, false},
		{"short", {0, 0, 0, 5}, 3, false},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		TAP_CHECK(floe_sflow_probe(rows[i].b, rows[i].len) == rows[i].want, "probe: %s",
		          rows[i].name);
}

int main(void)
{
	test_probe();
	test_record();
	test_counters_and_loss();
	test_hostile();
	test_prefixes_and_emit();
	return tap_done();
}
