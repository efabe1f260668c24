/* test_util.c - addresses, prefixes, budgets, time text, the checked cursor. */
#include "tap.h"
#include "flow.h"
#include "util/addr.h"
#include "util/cursor.h"
#include "util/mem.h"
#include "util/netset.h"
#include "util/timefmt.h"

#include <stdint.h>
#include <stdlib.h>

static const struct { const char *in; bool ok; const char *out; } addrs[] = {
	{"10.0.1.17", true, "10.0.1.17"},
	{"0.0.0.0", true, "0.0.0.0"},
	{"255.255.255.255", true, "255.255.255.255"},
	{"2001:db8::1", true, "2001:db8::1"},
	{"2001:0db8:0000:0000:0000:0000:0000:0001", true, "2001:db8::1"},
	{"::1", true, "::1"},
	{"::ffff:10.1.2.3", true, "10.1.2.3"},
	{"fe80::2d0:9ff:fee3:e8de", true, "fe80::2d0:9ff:fee3:e8de"},
	{"10.0.1", false, NULL},
	{"10.0.1.256", false, NULL},
	{"host", false, NULL},
	{"", false, NULL},
	{"1:2:3:4:5:6:7:8:9", false, NULL},
};

static const struct { const char *in; bool ok; unsigned plen; const char *net; } cidrs[] = {
	{"10.0.0.0/8", true, 104, "10.0.0.0"},
	{"10.1.2.3/8", true, 104, "10.0.0.0"},
	{"192.168.1.77/24", true, 120, "192.168.1.0"},
	{"10.0.0.1", true, 128, "10.0.0.1"},
	{"0.0.0.0/0", true, 96, "0.0.0.0"},
	{"2001:db8::/32", true, 32, "2001:db8::"},
	{"2001:db8:ff::1/48", true, 48, "2001:db8:ff::"},
	{"::/0", true, 0, "::"},
	{"10.0.0.0/33", false, 0, NULL},
	{"2001:db8::/129", false, 0, NULL},
	{"10.0.0.0/", false, 0, NULL},
	{"10.0.0.0/x", false, 0, NULL},
	{"10.0.0.0/-1", false, 0, NULL},
};

static void test_addrs(void)
{
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint8_t a[16];
		char buf[FLOE_ADDRSTRLEN];
		bool ok = floe_addr_parse(addrs[i].in, a);
		if (ok)
			floe_addr_format(a, buf, sizeof(buf));
		TAP_CHECK(ok == addrs[i].ok && (!ok || strcmp(buf, addrs[i].out) == 0),
		          "addr '%s' -> %s", addrs[i].in, ok ? buf : "(rejected)");
	}
	for (size_t i = 0; i < sizeof(cidrs) / sizeof(cidrs[0]); i++) {
		uint8_t a[16];
		unsigned plen = 0;
		char buf[FLOE_ADDRSTRLEN] = "";
		bool ok = floe_cidr_parse(cidrs[i].in, a, &plen);
		if (ok)
			floe_addr_format(a, buf, sizeof(buf));
		TAP_CHECK(ok == cidrs[i].ok && (!ok || (plen == cidrs[i].plen && strcmp(buf, cidrs[i].net) == 0)),
		          "cidr '%s' -> %s/%u", cidrs[i].in, buf, plen);
	}
	uint8_t net[16], a[16];
	unsigned plen;
	(void)!floe_cidr_parse("10.0.0.0/8", net, &plen);
	(void)!floe_addr_parse("10.255.0.1", a);
	TAP_CHECK(floe_addr_in_prefix(a, net, plen), "10.255.0.1 in 10/8");
	(void)!floe_addr_parse("11.0.0.1", a);
	TAP_CHECK(!floe_addr_in_prefix(a, net, plen), "11.0.0.1 not in 10/8");
	(void)!floe_cidr_parse("2001:db8::/33", net, &plen);
	(void)!floe_addr_parse("2001:db8:7fff::1", a);
	TAP_CHECK(floe_addr_in_prefix(a, net, plen), "odd prefix length in");
	(void)!floe_addr_parse("2001:db8:8000::1", a);
	TAP_CHECK(!floe_addr_in_prefix(a, net, plen), "odd prefix length out");
	uint8_t m[6];
	char mb[18];
	TAP_CHECK(floe_mac_parse("00:1b:21:AA:bb:0c", m), "mac parse");
	floe_mac_format(m, mb, sizeof(mb));
	TAP_CHECK(strcmp(mb, "00:1b:21:aa:bb:0c") == 0, "mac format %s", mb);
	TAP_CHECK(!floe_mac_parse("00:1b:21:aa:bb", m), "short mac rejected");
	TAP_CHECK(!floe_mac_parse("00:1b:21:aa:bb:0c:11", m), "long mac rejected");
}

static void test_budget(void)
{
	struct floe_budget b;
	floe_budget_init(&b, 1000);
	void *p = floe_malloc(&b, 600);
	TAP_CHECK(p && b.used == 600, "charge 600");
	void *q = floe_malloc(&b, 600);
	TAP_CHECK(q == NULL && b.used == 600, "over budget refused");
	p = floe_realloc(&b, p, 600, 900);
	TAP_CHECK(p && b.used == 900 && b.peak == 900, "realloc charges the difference");
	TAP_CHECK(floe_realloc(&b, p, 900, 1100) == NULL && b.used == 900, "realloc over budget keeps p");
	floe_free(&b, p, 900);
	TAP_CHECK(b.used == 0 && b.peak == 900, "free uncharges, peak kept");
	TAP_CHECK(floe_calloc(&b, SIZE_MAX / 2, 4) == NULL, "calloc overflow refused");
#ifdef FLOE_FAULT_INJECTION
	floe_mem_fail_after(1);
	void *a1 = floe_malloc(NULL, 8), *a2 = floe_malloc(NULL, 8), *a3 = floe_malloc(NULL, 8);
	TAP_CHECK(a1 && !a2 && a3, "fault injection fails exactly the 2nd allocation");
	floe_free(NULL, a1, 8);
	floe_free(NULL, a3, 8);
#endif
}

static void test_time(void)
{
	static const struct { int64_t t; int fmt; int prec; const char *out; } cases[] = {
		{1270661369782934000, FLOE_TIME_EPOCH, 6, "1270661369.782934"},
		{1270661369782934000, FLOE_TIME_ISO, 6, "2010-04-07 17:29:29.782934"},
		{1270661369782934000, FLOE_TIME_RFC3339, 3, "2010-04-07T17:29:29.782Z"},
		{1270661369000000001, FLOE_TIME_EPOCH, 9, "1270661369.000000001"},
		{0, FLOE_TIME_ISO, 0, "1970-01-01 00:00:00"},
		{-1, FLOE_TIME_EPOCH, 9, "-1.999999999"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		floe_time_format(cases[i].t, (enum floe_timefmt)cases[i].fmt, cases[i].prec, buf, sizeof(buf));
		TAP_CHECK(strcmp(buf, cases[i].out) == 0, "time %s", buf);
	}
	char buf[32];
	floe_dur_format(1500000000, 3, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "1.500") == 0, "dur %s", buf);
}

static void test_cursor(void)
{
	static const uint8_t b[] = {0x12, 0x34, 0x56, 0x78, 0x9a};
	struct floe_cursor c = floe_cursor_make(b, sizeof(b));
	TAP_CHECK(floe_cur_be16(&c) == 0x1234, "be16");
	TAP_CHECK(floe_cur_le16(&c) == 0x7856, "le16");
	TAP_CHECK(floe_cur_be32(&c) == 0 && c.bad, "short read fails and marks bad");
	TAP_CHECK(floe_cur_u8(&c) == 0 && floe_cur_left(&c) == 0, "bad cursor stays bad");
	c = floe_cursor_make(b, sizeof(b));
	TAP_CHECK(floe_cur_skip(&c, 5) && !c.bad && !floe_cur_skip(&c, 1), "skip to the end, not past");
	c = floe_cursor_make(NULL, 0);
	TAP_CHECK(floe_cur_take(&c, 0) != NULL || c.p == NULL, "empty cursor");
	TAP_CHECK(floe_cur_take(&c, SIZE_MAX) == NULL && c.bad, "huge take refused");
	uint8_t le[8];
	floe_put_le64(le, 0x0102030405060708ull);
	c = floe_cursor_make(le, 8);
	TAP_CHECK(floe_cur_le64(&c) == 0x0102030405060708ull, "le64 round trip");
}

static void test_states(void)
{
	for (unsigned s = 1; s < FLOE_ST__COUNT; s++)
		TAP_CHECK(floe_state_parse(floe_state_name(s)) == s, "state %s round trip", floe_state_name(s));
	TAP_CHECK(floe_state_parse("con") == FLOE_ST_CON, "state names are case-insensitive");
	TAP_CHECK(floe_state_parse("XYZ") == FLOE_ST__COUNT, "unknown state");
}

static bool in_set(const struct floe_netset *s, const char *addr)
{
	uint8_t a[16];
	return floe_addr_parse(addr, a) && floe_netset_contains(s, a);
}

static void test_netset(void)
{
	struct floe_budget b;
	floe_budget_init(&b, 0);
	struct floe_netset *s = floe_netset_create(&b);
	struct floe_errbuf eb = {0};
	TAP_CHECK(s && floe_netset_add_text(s, "10.0.0.0/8, 192.168.1.5\n# comment 1.2.3.4\n"
	                                       "2001:db8::/32 2001:db8:1::1 10.0.0.0/8", &eb) == FLOE_OK,
	          "netset: parse list");
	TAP_CHECK(floe_netset_count(s) == 4, "netset: duplicates counted once (%zu)", floe_netset_count(s));
	static const struct { const char *a; bool in; } cases[] = {
		{"10.1.2.3", true}, {"11.0.0.1", false}, {"192.168.1.5", true}, {"192.168.1.6", false},
		{"1.2.3.4", false}, {"2001:db8:ffff::1", true}, {"2001:db9::1", false},
		{"2001:db8:1::1", true}, {"::ffff:10.9.9.9", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		TAP_CHECK(in_set(s, cases[i].a) == cases[i].in, "netset: %s %s", cases[i].a,
		          cases[i].in ? "in" : "out");
	floe_errbuf_clear(&eb);
	TAP_CHECK(floe_netset_add_text(s, "10.0.0.1\n10.0.0.0/40\n", &eb) == FLOE_INVALID &&
	          strstr(eb.msg, "line 2"), "netset: bad entry named with its line: %s", eb.msg);
	floe_netset_destroy(s);
	TAP_CHECK(b.used == 0, "netset: all memory returned");

	/* a million hosts: membership by hashing, not by walking a list */
	s = floe_netset_create(NULL);
	uint8_t a[16] = {0};
	a[10] = a[11] = 0xff;
	bool ok = true;
	for (uint32_t i = 0; i < 1000000 && ok; i++) {
		a[12] = 10;
		a[13] = (uint8_t)(i >> 16);
		a[14] = (uint8_t)(i >> 8);
		a[15] = (uint8_t)i;
		ok = floe_netset_add(s, a, 128) == FLOE_OK;
	}
	TAP_CHECK(ok && floe_netset_count(s) == 1000000, "netset: 1M hosts");
	TAP_CHECK(in_set(s, "10.15.66.63") && !in_set(s, "10.16.0.0") && !in_set(s, "11.0.0.1"),
	          "netset: 1M hosts lookups");
	uint8_t hosts[4][16];
	size_t nh;
	TAP_CHECK(!floe_netset_hosts(s, hosts, 4, &nh), "netset: too many hosts to list");
	floe_netset_destroy(s);
	s = floe_netset_create(NULL);
	(void)!floe_netset_add_text(s, "10.0.0.1 10.0.0.2", &eb);
	TAP_CHECK(floe_netset_hosts(s, hosts, 4, &nh) && nh == 2, "netset: host list");
	(void)!floe_netset_add_text(s, "10.1.0.0/16", &eb);
	TAP_CHECK(!floe_netset_hosts(s, hosts, 4, &nh), "netset: a network is not a host list");
	floe_netset_destroy(s);
}

int main(void)
{
	test_netset();
	test_addrs();
	test_budget();
	test_time();
	test_cursor();
	test_states();
	return tap_done();
}
