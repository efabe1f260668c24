/*
 * test_ipfix.c - the IPFIX writer (export/ipfix.h) against the layout of
 * RFC 7011: message header (§3.1), template set (§3.3.2, §3.4.1, field
 * specifiers with enterprise numbers §3.2), data sets, sequence numbers
 * counting data records, message size bounds, template refresh (§8.4),
 * and the exact bytes of one IPv4 data record written out element by
 * element from the IANA registry below (not from the writer's table).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/ipfix.h"
#include "util/mem.h"
#include "tap.h"

struct cap {
	uint8_t msg[16][65536];
	size_t len[16];
	int n;
	enum floe_err ret;
};

static enum floe_err out(void *ctx, const uint8_t *m, size_t len)
{
	struct cap *c = ctx;
	if (c->n < 16) {
		memcpy(c->msg[c->n], m, len);
		c->len[c->n] = len;
	}
	c->n++;
	return c->ret;
}

static unsigned g16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The IPv4 template, in order: IANA element id, enterprise, length. */
static const struct { unsigned id; uint32_t pen; unsigned len; const char *name; } v4[] = {
	{156, 0, 8, "flowStartNanoseconds"}, {157, 0, 8, "flowEndNanoseconds"},
	{152, 0, 8, "flowStartMilliseconds"}, {153, 0, 8, "flowEndMilliseconds"},
	{8, 0, 4, "sourceIPv4Address"}, {12, 0, 4, "destinationIPv4Address"},
	{7, 0, 2, "sourceTransportPort"}, {11, 0, 2, "destinationTransportPort"},
	{32, 0, 2, "icmpTypeCodeIPv4"},
	{4, 0, 1, "protocolIdentifier"}, {60, 0, 1, "ipVersion"}, {256, 0, 2, "ethernetType"},
	{2, 0, 8, "packetDeltaCount"}, {1, 0, 8, "octetDeltaCount"},
	{6, 0, 2, "tcpControlBits"}, {5, 0, 1, "ipClassOfService"},
	{52, 0, 1, "minimumTTL"}, {53, 0, 1, "maximumTTL"},
	{2, 29305, 8, "reversePacketDeltaCount"}, {1, 29305, 8, "reverseOctetDeltaCount"},
	{6, 29305, 2, "reverseTcpControlBits"}, {5, 29305, 1, "reverseIpClassOfService"},
	{52, 29305, 1, "reverseMinimumTTL"}, {53, 29305, 1, "reverseMaximumTTL"},
	{58, 0, 2, "vlanId"}, {56, 0, 6, "sourceMacAddress"}, {80, 0, 6, "destinationMacAddress"},
	{10, 0, 4, "ingressInterface"}, {14, 0, 4, "egressInterface"},
	{16, 0, 4, "bgpSourceAsNumber"}, {17, 0, 4, "bgpDestinationAsNumber"},
	{15, 0, 4, "ipNextHopIPv4Address"}, {34, 0, 4, "samplingInterval"},
	{130, 0, 4, "exporterIPv4Address"},
	{1, FLOE_IPFIX_PEN, 1, "floeState"}, {2, FLOE_IPFIX_PEN, 2, "floeFlags"},
	{3, FLOE_IPFIX_PEN, 8, "floeSourceAppOctets"}, {4, FLOE_IPFIX_PEN, 8, "floeDestinationAppOctets"},
	{5, FLOE_IPFIX_PEN, 4, "floeSourceRetransmissions"}, {6, FLOE_IPFIX_PEN, 4, "floeDestinationRetransmissions"},
	{7, FLOE_IPFIX_PEN, 4, "floeSourceOutOfOrder"}, {8, FLOE_IPFIX_PEN, 4, "floeDestinationOutOfOrder"},
	{9, FLOE_IPFIX_PEN, 8, "floeSynAckNanoseconds"}, {10, FLOE_IPFIX_PEN, 8, "floeAckDataNanoseconds"},
	{11, FLOE_IPFIX_PEN, 4, "floeRecordsMerged"}, {12, FLOE_IPFIX_PEN, 4, "floeSensorId"},
};

/* The record and its expected encoding in the IPv4 template. */
static struct floe_flow rec_v4(void)
{
	struct floe_flow f;
	memset(&f, 0, sizeof(f));
	f.stime = 1700000000123456789;
	f.ltime = 1700000001500000000;
	const uint8_t s[4] = {10, 0, 0, 1}, d[4] = {192, 0, 2, 80}, e[4] = {198, 51, 100, 1};
	floe_addr_from_v4(f.saddr, s);
	floe_addr_from_v4(f.daddr, d);
	floe_addr_from_v4(f.exporter, e);
	f.sport = 40000;
	f.dport = 443;
	f.proto = 6;
	f.ipver = 4;
	f.etype = 0x0800;
	f.spkts = 10;
	f.sbytes = 1500;
	f.dpkts = 8;
	f.dbytes = 9000;
	f.stcpflags = 0x1b;
	f.dtcpflags = 0x13;
	f.stos = 0x10;
	f.dtos = 0x20;
	f.sttlmin = 60; f.sttlmax = 64; f.dttlmin = 50; f.dttlmax = 52;
	f.vlan = 100;
	f.flags = FLOE_F_VLAN | FLOE_F_MAC;
	memcpy(f.smac, "\x00\x11\x22\x33\x44\x55", 6);
	memcpy(f.dmac, "\x66\x77\x88\x99\xaa\xbb", 6);
	f.inif = 3; f.outif = 4; f.sas = 64512; f.das = 15169; f.sampling = 0;
	f.state = 3;  /* CON */
	f.sappbytes = 1000; f.dappbytes = 8000;
	f.sretrans = 1; f.dretrans = 2; f.sooo = 3; f.dooo = 4;
	f.synack = 1500000; f.ackdat = 250000;
	f.trans = 1; f.sensor = 7;
	return f;
}

static const char *const rec_v4_hex =
	"e8fe6f80" "1f9add38"   /* flowStart: NTP 1700000000 s, .123456789 rounded up */
	"e8fe6f81" "80000000"   /* flowEnd: 1700000001.5 */
	"0000018bcfe5687b"      /* flowStartMilliseconds 1700000000123 */
	"0000018bcfe56ddc"      /* flowEndMilliseconds 1700000001500 */
	"0a000001" "c0000250"   /* 10.0.0.1 -> 192.0.2.80 */
	"9c40" "01bb" "0000"    /* ports 40000, 443; no ICMP type/code */
	"06" "04" "0800"        /* TCP; IPv4 */
	"000000000000000a" "00000000000005dc"  /* 10 packets, 1500 octets */
	"001b" "10" "3c" "40"  /* flags, tos, ttl 60..64 */
	"0000000000000008" "0000000000002328"  /* reverse: 8 packets, 9000 octets */
	"0013" "20" "32" "34"
	"0064" "001122334455" "66778899aabb"  /* vlan 100, MACs */
	"00000003" "00000004" "0000fc00" "00003b41"  /* if 3 -> 4, AS 64512 -> 15169 */
	"00000000" "00000000" "c6336401"  /* next hop 0.0.0.0, unsampled, exporter */
	"03" "0280"  /* CON, flags VLAN|MAC */
	"00000000000003e8" "0000000000001f40"  /* app octets 1000 / 8000 */
	"00000001" "00000002" "00000003" "00000004"
	"000000000016e360" "000000000003d090"  /* 1.5 ms, 0.25 ms */
	"00000001" "00000007";

static size_t unhex(const char *h, uint8_t *b)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2)
		sscanf(h, "%2hhx", &b[n++]);
	return n;
}

static void test_layout(void)
{
	static struct cap c;
	memset(&c, 0, sizeof(c));
	struct floe_errbuf eb = {0};
	struct floe_ipfix_opts o = {.domain = 42};
	struct floe_ipfix_writer *w = floe_ipfix_writer_create(&o, out, &c, &eb);
	TAP_CHECK(w != NULL, "create (%s)", eb.msg);
	floe_ipfix_writer_set_time(w, 1700000100);
	struct floe_flow f = rec_v4();
	TAP_CHECK(floe_ipfix_writer_add(w, &f) == FLOE_OK, "add");
	TAP_CHECK(c.n == 0, "nothing sent before flush");
	TAP_CHECK(floe_ipfix_writer_flush(w) == FLOE_OK && c.n == 1, "one message");
	const uint8_t *m = c.msg[0];
	size_t len = c.len[0];
	TAP_CHECK(g16(m) == 10 && g16(m + 2) == len, "header: version 10, length %zu", len);
	TAP_CHECK(g32(m + 4) == 1700000100 && g32(m + 8) == 0 && g32(m + 12) == 42,
	          "header: export time, sequence 0, domain 42");
	/* Template set. */
	const uint8_t *s = m + 16;
	unsigned slen = g16(s + 2);
	TAP_CHECK(g16(s) == 2, "template set id 2");
	const uint8_t *t = s + 4;
	TAP_CHECK(g16(t) == 256 && g16(t + 2) == sizeof(v4) / sizeof(v4[0]), "template 256, %u fields",
	          g16(t + 2));
	t += 4;
	size_t reclen = 0;
	int bad = 0;
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		unsigned id = g16(t), l = g16(t + 2);
		uint32_t pen = 0;
		t += 4;
		if (id & 0x8000) {
			pen = g32(t);
			t += 4;
		}
		if ((id & 0x7fff) != v4[i].id || pen != v4[i].pen || l != v4[i].len) {
			bad++;
			TAP_DIAG("field %zu: got %u/%u/%u want %s", i, id & 0x7fff, pen, l, v4[i].name);
		}
		reclen += v4[i].len;
	}
	TAP_CHECK(bad == 0, "IPv4 template fields are the IANA elements in order");
	TAP_CHECK(g16(t) == 257, "template 257 follows");
	unsigned n6 = g16(t + 2);
	const uint8_t *u = t + 4;
	size_t rec6 = 0;
	for (unsigned i = 0; i < n6; i++) {
		unsigned id = g16(u);
		rec6 += g16(u + 2);
		u += (id & 0x8000) ? 8 : 4;
	}
	TAP_CHECK(u == s + slen, "template set length covers both templates");
	TAP_CHECK(rec6 == reclen + 4 * 12, "IPv6 record: four addresses, 12 bytes longer each");
	/* Data set. */
	const uint8_t *d = s + slen;
	TAP_CHECK(g16(d) == 256 && g16(d + 2) == 4 + reclen && d + 4 + reclen == m + len,
	          "one data set of one record ends the message");
	uint8_t want[512];
	size_t wn = unhex(rec_v4_hex, want);
	TAP_CHECK(wn == reclen && memcmp(d + 4, want, wn) == 0, "IPv4 record bytes (%zu)", wn);
	if (wn != reclen || memcmp(d + 4, want, wn) != 0)
		for (size_t i = 0; i < reclen; i++)
			if (d[4 + i] != want[i]) {
				TAP_DIAG("first difference at record byte %zu", i);
				break;
			}
	floe_ipfix_writer_destroy(w);
}

static void test_sequence_and_size(void)
{
	static struct cap c;
	memset(&c, 0, sizeof(c));
	struct floe_errbuf eb = {0};
	struct floe_ipfix_opts o = {.max_msg = 1400, .template_msgs = 3};
	struct floe_ipfix_writer *w = floe_ipfix_writer_create(&o, out, &c, &eb);
	struct floe_flow f4 = rec_v4(), f6 = rec_v4();
	memset(f6.saddr, 0x20, 16);
	f6.ipver = 6;
	int fails = 0;
	for (int i = 0; i < 40; i++)
		fails += floe_ipfix_writer_add(w, (i % 3) ? &f4 : &f6) != FLOE_OK;
	fails += floe_ipfix_writer_flush(w) != FLOE_OK;
	TAP_CHECK(fails == 0 && c.n > 2, "40 records in %d messages", c.n);
	uint32_t seq = 0;
	int ok = 1, tmpl = 0;
	for (int i = 0; i < c.n && i < 16; i++) {
		const uint8_t *m = c.msg[i];
		ok &= c.len[i] <= 1400 && g16(m + 2) == c.len[i] && g32(m + 8) == seq;
		/* walk the sets, count data records */
		size_t off = 16;
		while (off + 4 <= c.len[i]) {
			unsigned id = g16(m + off), l = g16(m + off + 4 - 2);
			if (l < 4) {
				ok = 0;
				break;
			}
			if (id == 2)
				tmpl += (i == 0 || i == 3 || i == 6 || i == 9) ? 1 : 100;
			else {
				unsigned rl = id == 256 ? 193u : 241u;
				ok &= (l - 4) % rl == 0;
				seq += (l - 4) / rl;
			}
			off += l;
		}
		ok &= off == c.len[i];
	}
	TAP_CHECK(ok, "messages <= 1400 bytes, sets tile them, sequence counts data records");
	TAP_CHECK(seq == 40, "all 40 records in data sets (%u)", seq);
	TAP_CHECK(tmpl == (c.n + 2) / 3, "templates in every third message (%d)", tmpl);
	floe_ipfix_writer_destroy(w);

	/* Template refresh by export time. */
	memset(&c, 0, sizeof(c));
	struct floe_ipfix_opts ot = {.template_interval = 60};
	w = floe_ipfix_writer_create(&ot, out, &c, &eb);
	int64_t times[] = {1000, 1030, 1059, 1060, 1100, 1121};
	for (int i = 0; i < 6; i++) {
		floe_ipfix_writer_set_time(w, times[i]);
		fails += floe_ipfix_writer_add(w, &f4) != FLOE_OK;
		fails += floe_ipfix_writer_flush(w) != FLOE_OK;
	}
	int with[6];
	for (int i = 0; i < 6; i++)
		with[i] = g16(c.msg[i] + 16) == 2;
	TAP_CHECK(!fails && with[0] && !with[1] && !with[2] && with[3] && !with[4] && with[5],
	          "templates resent after 60 s of export time");
	floe_ipfix_writer_destroy(w);

	/* Errors. */
	struct floe_ipfix_opts small = {.max_msg = 200};
	TAP_CHECK(floe_ipfix_writer_create(&small, out, &c, &eb) == NULL && eb.code == FLOE_INVALID,
	          "too small a message size is refused");
	memset(&c, 0, sizeof(c));
	c.ret = FLOE_IO;
	w = floe_ipfix_writer_create(NULL, out, &c, &eb);
	fails = floe_ipfix_writer_add(w, &f4) != FLOE_OK;
	TAP_CHECK(!fails && floe_ipfix_writer_flush(w) == FLOE_IO &&
	          floe_ipfix_writer_add(w, &f4) == FLOE_IO, "output errors are sticky");
	floe_ipfix_writer_destroy(w);
	floe_ipfix_writer_destroy(NULL);

#ifdef FLOE_FAULT_INJECTION
	struct floe_errbuf e3 = {0};
	floe_mem_fail_after(0);
	w = floe_ipfix_writer_create(NULL, out, &c, &e3);
	floe_mem_fail_after(-1);
	TAP_CHECK(w == NULL && e3.code == FLOE_NOMEM, "allocation failure is NOMEM");
	floe_mem_fail_after(1);
	w = floe_ipfix_writer_create(NULL, out, &c, &e3);
	floe_mem_fail_after(-1);
	TAP_CHECK(w == NULL && e3.code == FLOE_NOMEM, "second allocation failure is NOMEM");
#endif

	struct floe_errbuf e2 = {0};
	TAP_CHECK(floe_ipfix_udp_open("tcp://127.0.0.1:1", &e2) < 0 && e2.code == FLOE_INVALID,
	          "only udp:// URLs");
}

int main(void)
{
	test_layout();
	test_sequence_and_size();
	return tap_done();
}
