/*
 * test_filter.c - the filter language against named records.
 *
 * Cases live in tests/data/filter/cases.txt, one per line:
 *   match   RECORD FILTER      FILTER compiles and matches RECORD
 *   nomatch RECORD FILTER      FILTER compiles and does not match RECORD
 *   error   COLUMN FILTER      compiling fails (MALFORMED) at COLUMN
 *   addrs   A,B,...|- FILTER   floe_filter_required_addrs gives exactly
 *                              {A, B, ...} ("-": returns false)
 * FILTER is the rest of the line (it may be empty).  The records are below.
 */
#include "filter/filter.h"
#include "filter/filter_int.h"
#include "util/addr.h"
#include "util/mem.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct named { const char *name; struct floe_flow f; };

static struct named recs[8];
static size_t nrecs;

static void addr(uint8_t a[16], const char *s)
{
	if (!floe_addr_parse(s, a)) {
		fprintf(stderr, "bad test address %s\n", s);
		exit(2);
	}
}

static void mac(uint8_t m[6], const char *s)
{
	if (!floe_mac_parse(s, m))
		exit(2);
}

#define T0 1749794400000000000LL  /* 2025-06-13T06:00:00Z */
#define S(x) ((int64_t)(x) * 1000000000LL)

static struct floe_flow *add(const char *name)
{
	struct named *n = &recs[nrecs++];
	n->name = name;
	memset(&n->f, 0, sizeof(n->f));
	n->f.trans = 1;
	return &n->f;
}

static void make_records(void)
{
	struct floe_flow *f;

	/* A long ssh session with MACs and a VLAN tag. */
	f = add("tcp4");
	f->stime = T0;
	f->ltime = T0 + S(90);
	addr(f->saddr, "10.0.1.17");
	addr(f->daddr, "192.168.1.10");
	f->sport = 51234;
	f->dport = 22;
	f->proto = 6;
	f->ipver = 4;
	f->etype = FLOE_ETH_IPV4;
	f->state = FLOE_ST_CON;
	f->spkts = 10;
	f->dpkts = 8;
	f->sbytes = 1500000;
	f->dbytes = 600000;
	f->sappbytes = 1000;
	f->dappbytes = 0;
	f->stcpflags = 0x1b;  /* FSPA */
	f->dtcpflags = 0x1b;
	f->sttlmin = f->sttlmax = 64;
	f->dttlmin = 3;
	f->dttlmax = 5;
	f->dretrans = 2;
	f->vlan = 100;
	f->flags = FLOE_F_MAC | FLOE_F_VLAN;
	mac(f->smac, "00:11:22:33:44:55");
	mac(f->dmac, "66:77:88:99:aa:bb");
	f->synack = 1000000;   /* 1 ms */
	f->ackdat = 500000;

	/* A refused connection: SYN, RST/ACK. */
	f = add("rst4");
	f->stime = T0 + S(10);
	f->ltime = T0 + S(10) + 1000000;
	addr(f->saddr, "10.0.1.17");
	addr(f->daddr, "10.9.9.9");
	f->sport = 40000;
	f->dport = 80;
	f->proto = 6;
	f->ipver = 4;
	f->etype = FLOE_ETH_IPV4;
	f->state = FLOE_ST_RST;
	f->spkts = 1;
	f->dpkts = 1;
	f->sbytes = 60;
	f->dbytes = 40;
	f->stcpflags = 0x02;  /* S */
	f->dtcpflags = 0x14;  /* RA */
	f->sttlmin = f->sttlmax = 3;
	f->trans = 3;
	f->flags = FLOE_F_RETRANS;

	/* A DNS query over IPv6. */
	f = add("udp6");
	f->stime = T0 + S(20);
	f->ltime = T0 + S(20) + 2000000;
	addr(f->saddr, "2001:db8::1");
	addr(f->daddr, "2001:db8:1::53");
	f->sport = 5353;
	f->dport = 53;
	f->proto = 17;
	f->ipver = 6;
	f->etype = FLOE_ETH_IPV6;
	f->state = FLOE_ST_CON;
	f->spkts = 1;
	f->dpkts = 1;
	f->sbytes = 80;
	f->dbytes = 200;
	f->sappbytes = 32;
	f->dappbytes = 152;
	f->sttlmin = f->sttlmax = 64;
	f->flags = FLOE_F_OOO;

	/* A ping. */
	f = add("icmp4");
	f->stime = T0 + S(30);
	f->ltime = T0 + S(31);
	addr(f->saddr, "10.0.1.17");
	addr(f->daddr, "8.8.8.8");
	f->sport = 8;
	f->dport = 0;
	f->proto = 1;
	f->ipver = 4;
	f->etype = FLOE_ETH_IPV4;
	f->state = FLOE_ST_ECO;
	f->spkts = 2;
	f->dpkts = 2;
	f->sbytes = 168;
	f->dbytes = 168;

	/* An ARP exchange. */
	f = add("arp");
	f->stime = T0 + S(40);
	f->ltime = T0 + S(40);
	addr(f->saddr, "10.0.1.1");
	addr(f->daddr, "10.0.1.17");
	f->etype = FLOE_ETH_ARP;
	f->state = FLOE_ST_CON;
	f->spkts = 1;
	f->dpkts = 1;
	f->sbytes = 28;
	f->dbytes = 28;
	f->flags = FLOE_F_MAC;
	mac(f->smac, "00:00:5e:00:01:01");
	mac(f->dmac, "00:11:22:33:44:55");

	/* Neighbor solicitation. */
	f = add("icmp6");
	f->stime = T0 + S(50);
	f->ltime = T0 + S(50);
	addr(f->saddr, "fe80::1");
	addr(f->daddr, "ff02::1:ff00:2");
	f->sport = 135;
	f->proto = 58;
	f->ipver = 6;
	f->etype = FLOE_ETH_IPV6;
	f->state = FLOE_ST_NNS;
	f->spkts = 1;
	f->sbytes = 72;
	f->sttlmin = f->sttlmax = 255;

	/* A GRE tunnel, sampled, from a router export. */
	f = add("gre4");
	f->stime = T0 + S(60);
	f->ltime = T0 + S(3660);
	addr(f->saddr, "172.16.0.1");
	addr(f->daddr, "172.16.0.2");
	f->proto = 47;
	f->ipver = 4;
	f->etype = FLOE_ETH_IPV4;
	f->state = FLOE_ST_INT;
	f->spkts = 2000000;
	f->sbytes = 3000000000ULL;
	f->sampling = 100;
	f->inif = 3;
	f->outif = 7;
	f->sas = 64512;
	f->flags = FLOE_F_SAMPLED | FLOE_F_VLAN;
	f->vlan = 0;
	f->trans = 12;
}

static const struct floe_flow *record(const char *name)
{
	for (size_t i = 0; i < nrecs; i++)
		if (strcmp(recs[i].name, name) == 0)
			return &recs[i].f;
	return NULL;
}

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* "A,B" or "-" against floe_filter_required_addrs. */
static int check_addrs(const struct floe_filter *f, char *list, char *why, size_t whylen)
{
	uint8_t got[8][16], want[8][16];
	size_t n = 0, nw = 0;
	bool ok = floe_filter_required_addrs(f, got, 8, &n);
	if (strcmp(list, "-") == 0) {
		snprintf(why, whylen, "returned %s with %zu", ok ? "true" : "false", n);
		return !ok && n == 0;
	}
	for (char *tok = strtok(list, ","); tok && nw < 8; tok = strtok(NULL, ","))
		addr(want[nw++], tok);
	snprintf(why, whylen, "returned %s with %zu (want %zu)", ok ? "true" : "false", n, nw);
	if (!ok || n != nw)
		return 0;
	qsort(got, n, 16, cmp16);
	qsort(want, nw, 16, cmp16);
	return memcmp(got, want, n * 16) == 0;
}

static void run_line(char *line, int lineno)
{
	char kind[16], arg[256];
	int used = 0;
	if (sscanf(line, "%15s %255s %n", kind, arg, &used) < 2) {
		TAP_CHECK(0, "line %d: cannot parse", lineno);
		return;
	}
	const char *text = used ? line + used : "";
	if (!used) {
		/* "match tcp4" with no filter: sscanf's %n did not run */
		text = "";
	}
	struct floe_errbuf eb;
	floe_errbuf_clear(&eb);
	struct floe_filter *f = floe_filter_compile(text, &eb);
	if (strcmp(kind, "match") == 0 || strcmp(kind, "nomatch") == 0) {
		const struct floe_flow *r = record(arg);
		bool want = kind[0] == 'm';
		if (!r) {
			TAP_CHECK(0, "line %d: no record '%s'", lineno, arg);
		} else if (!f) {
			TAP_CHECK(0, "line %d: %s %s '%s': %s", lineno, kind, arg, text, eb.msg);
		} else {
			TAP_CHECK(floe_filter_match(f, r) == want, "line %d: %s %s '%s'",
			          lineno, kind, arg, text);
			/* the program and the tree agree on every record */
			int differ = 0;
			for (size_t i = 0; i < nrecs; i++)
				differ += floe_filter_match(f, &recs[i].f) !=
				          floe_flt_eval_tree(f, f->root, &recs[i].f);
			if (differ)
				TAP_CHECK(0, "line %d: program and tree differ on %d records", lineno, differ);
		}
	} else if (strcmp(kind, "error") == 0) {
		char pfx[300];
		snprintf(pfx, sizeof(pfx), "column %s:", arg);
		bool ok = !f && eb.code == FLOE_MALFORMED && strncmp(eb.msg, pfx, strlen(pfx)) == 0;
		TAP_CHECK(ok, "line %d: error at column %s for '%s' (got %s: %s)", lineno, arg,
		          text, f ? "compiled" : floe_strerror(eb.code), eb.msg);
	} else if (strcmp(kind, "addrs") == 0) {
		char why[96];
		if (!f)
			TAP_CHECK(0, "line %d: addrs '%s': %s", lineno, text, eb.msg);
		else
			TAP_CHECK(check_addrs(f, arg, why, sizeof(why)), "line %d: addrs '%s' %s",
			          lineno, text, why);
	} else {
		TAP_CHECK(0, "line %d: unknown kind '%s'", lineno, kind);
	}
	floe_filter_destroy(f);
}

static void run_cases(void)
{
	const char *dir = getenv("FLOE_TEST_DATA");
	char path[4096];
	snprintf(path, sizeof(path), "%s/filter/cases.txt", dir ? dir : "tests/data");
	FILE *fp = fopen(path, "r");
	TAP_CHECK(fp != NULL, "open %s", path);
	if (!fp)
		return;
	char line[1024];
	int lineno = 0;
	while (fgets(line, sizeof(line), fp)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		run_line(p, lineno);
	}
	fclose(fp);
}

/* Messages users read, checked word for word. */
static void test_messages(void)
{
	static const struct { const char *text, *msg; } cases[] = {
		{"host", "column 5: expected an IPv4 or IPv6 address, found end of filter"},
		{"host foo", "column 6: expected an IPv4 or IPv6 address, found 'foo'"},
		{"tcp and", "column 8: expected a primitive (host, net, port, proto, tcp, state, a field comparison, ...), found end of filter"},
		{"(tcp", "column 5: expected ')' to close '(' at column 1, found end of filter"},
		{"tcp)", "column 4: unbalanced ')': no '(' to close"},
		{"()", "column 1: empty parentheses"},
		{"tcp udp", "column 5: expected 'and', 'or' or end of filter, found 'udp'"},
		{"bogus > 3", "column 1: unknown field 'bogus'"},
		{"saddr > 3", "column 1: field 'saddr' is not numeric; it cannot be compared"},
		{"net 10.0.0.0/33", "column 5: prefix length '33' is out of range for IPv4 (0-32)"},
		{"net 2001:db8::/129", "column 5: prefix length '129' is out of range for IPv6 (0-128)"},
		{"bytes > 1X", "column 9: expected a number (10, 1.5k, 1M, 0x800), found '1X'"},
		{"state XYZ", "column 7: expected a state name (CON, RST, FIN, REQ, ECO, ...), found 'XYZ'"},
		{"net 10.0.0.0 mask 255.0.255.0", "column 19: netmask '255.0.255.0' is not contiguous"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct floe_errbuf eb;
		floe_errbuf_clear(&eb);
		struct floe_filter *f = floe_filter_compile(cases[i].text, &eb);
		TAP_CHECK(!f && strcmp(eb.msg, cases[i].msg) == 0, "message for '%s': %s",
		          cases[i].text, eb.msg);
		floe_filter_destroy(f);
	}
}

/* Hostile sizes: deep nesting, long chains, long text. */
static void test_limits(void)
{
	size_t cap = 70000;
	char *s = malloc(cap + 16);
	struct floe_errbuf eb;
	struct floe_filter *f;

	/* 200 levels compile, 201 do not */
	for (int depth = 200; depth <= 201; depth++) {
		size_t k = 0;
		for (int i = 0; i < depth; i++)
			s[k++] = '(';
		memcpy(s + k, "tcp", 3);
		k += 3;
		for (int i = 0; i < depth; i++)
			s[k++] = ')';
		s[k] = '\0';
		floe_errbuf_clear(&eb);
		f = floe_filter_compile(s, &eb);
		if (depth == 200)
			TAP_CHECK(f && floe_filter_match(f, record("tcp4")), "200 parentheses compile");
		else
			TAP_CHECK(!f && eb.code == FLOE_LIMIT, "201 parentheses refused: %s", eb.msg);
		floe_filter_destroy(f);
	}
	/* 10000 nots: refused, not a stack overflow */
	size_t k = 0;
	for (int i = 0; i < 10000; i++)
		s[k++] = '!';
	memcpy(s + k, "tcp", 4);
	floe_errbuf_clear(&eb);
	f = floe_filter_compile(s, &eb);
	TAP_CHECK(!f && eb.code == FLOE_LIMIT, "10000 '!' refused: %s", eb.msg);

	/* a long flat chain is fine: n-ary nodes, no recursion per term */
	k = 0;
	while (k + 20 < 60000) {
		memcpy(s + k, "port 1 or ", 10);
		k += 10;
	}
	memcpy(s + k, "port 22", 8);
	floe_errbuf_clear(&eb);
	f = floe_filter_compile(s, &eb);
	TAP_CHECK(f && floe_filter_match(f, record("tcp4")) && !floe_filter_match(f, record("udp6")),
	          "6000-term or chain: %s", eb.msg);
	floe_filter_destroy(f);

	/* too long */
	memset(s, ' ', cap);
	memcpy(s + cap - 4, "tcp", 4);
	floe_errbuf_clear(&eb);
	f = floe_filter_compile(s, &eb);
	TAP_CHECK(!f && eb.code == FLOE_LIMIT, "70000 bytes refused: %s", eb.msg);
	free(s);
}

/* Every allocation may fail: NOMEM, never a crash or a leak. */
static void test_nomem(void)
{
	const char *text = "(host 10.0.1.17 or net 2001:db8::/32) and not (port 53 or retrans) "
	                   "and bytes > 1M and (tcp port 22 or 80 or 443 or 8080 or 8443 or "
	                   "9000 or 9001 or 9002 or 9003 or 9004 or 9005 or 9006 or 9007 or "
	                   "9008 or 9009 or 9010 or 9011 or 9012 or 9013)";
	int failures = 0, bad = 0;
	for (long n = 0; n < 64; n++) {
		struct floe_errbuf eb;
		floe_errbuf_clear(&eb);
		floe_mem_fail_after(n);
		struct floe_filter *f = floe_filter_compile(text, &eb);
		floe_mem_fail_after(-1);
		if (!f) {
			failures++;
			if (eb.code != FLOE_NOMEM)
				bad++;
		}
		floe_filter_destroy(f);
	}
	TAP_CHECK(failures > 0 && bad == 0, "allocation failures give NOMEM (%d runs failed)",
	          failures);
}

static void test_misc(void)
{
	struct floe_filter *f = floe_filter_compile("", NULL);
	TAP_CHECK(f && floe_filter_match(f, record("arp")), "empty filter matches all");
	uint8_t out[4][16];
	size_t n = 99;
	TAP_CHECK(f && !floe_filter_required_addrs(f, out, 4, &n) && n == 0,
	          "empty filter requires no addresses");
	floe_filter_destroy(f);
	floe_filter_destroy(NULL);
	f = floe_filter_compile("host 1.1.1.1 or host 2.2.2.2 or host 3.3.3.3", NULL);
	TAP_CHECK(f && !floe_filter_required_addrs(f, out, 2, &n), "set larger than cap: false");
	TAP_CHECK(f && floe_filter_required_addrs(f, out, 3, &n) && n == 3, "set at cap: true");
	floe_filter_destroy(f);
	TAP_CHECK(floe_filter_compile("tcp and", NULL) == NULL, "NULL errbuf is allowed");
}

/* Not a pass/fail test: how fast `host X and tcp` runs, for the log. */
static void bench(void)
{
	struct floe_filter *f = floe_filter_compile("host 10.0.1.17 and tcp", NULL);
	const struct floe_flow *r[3] = {record("tcp4"), record("udp6"), record("gre4")};
	long hits = 0, total = 30000000;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < total; i++)
		hits += floe_filter_match(f, r[i % 3]);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	TAP_DIAG("host X and tcp: %.1f M records/s (%ld hits)", (double)total / s / 1e6, hits);
	floe_filter_destroy(f);
}

int main(void)
{
	make_records();
	run_cases();
	test_messages();
	test_limits();
	test_nomem();
	test_misc();
	bench();
	return tap_done();
}
