/*
 * test_filter.c - the filter language against named records.
 *
 * Cases live in tests/data/filter/cases.txt, one per line:
 *   match   RECORD FILTER      FILTER compiles and matches RECORD
 *   nomatch RECORD FILTER      FILTER compiles and does not match RECORD
 *   error   COLUMN FILTER      compiling fails (MALFORMED) at COLUMN
 *   addrs   A,B,...|- FILTER   floe_filter_required_addrs gives exactly
 *                              {A, B, ...} ("-": returns false)
 *   time    LO..HI FILTER      floe_filter_time_range gives [LO, HI]; each
 *                              is "-" (open) or YYYY-MM-DDThh:mm[:ss]
 *                              with an optional +N or -N nanoseconds;
 *                              "none" if it returns false, "empty"
 *                              for true with LO > HI (nothing matches)
 *   local   NETS|-             the local networks for the cases after it
 *                              (comma-separated; "-": none)
 * FILTER is the rest of the line (it may be empty).  The records are below.
 * Beside the cases: messages, limits, NOMEM, @file lists (written to temp
 * files), a 1M-entry list, and local/remote through the API.
 */
#include "filter/filter.h"
#include "filter/filter_int.h"
#include "util/addr.h"
#include "util/mem.h"
#include "util/netset.h"
#include "tap.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct named { const char *name; struct floe_flow f; };

static struct named recs[12];
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

	/* A DNS answer whose query was not seen: direction unknown. */
	f = add("dirunk4");
	f->stime = T0 + S(70);
	f->ltime = T0 + S(70);
	addr(f->saddr, "192.168.1.10");
	addr(f->daddr, "10.0.1.17");
	f->sport = 53;
	f->dport = 5353;
	f->proto = 17;
	f->ipver = 4;
	f->etype = FLOE_ETH_IPV4;
	f->state = FLOE_ST_CON;
	f->dpkts = 1;
	f->dbytes = 120;
	f->flags = FLOE_F_DIRUNK;

	/* A non-IP frame (LLDP): no addresses. */
	f = add("lldp");
	f->stime = T0 + S(80);
	f->ltime = T0 + S(80);
	f->etype = 0x88cc;
	f->spkts = 1;
	f->sbytes = 60;
	f->flags = FLOE_F_MAC;
	mac(f->smac, "00:11:22:33:44:55");
	mac(f->dmac, "01:80:c2:00:00:0e");
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

/* The local networks of the cases (directive `local`). */
static struct floe_netset *case_local;

/* "2025-06-13T06:00[:ss][+N|-N]" or "-" (open: dflt); false if bad. */
static bool case_time(const char *s, int64_t dflt, int64_t *out)
{
	if (strcmp(s, "-") == 0) {
		*out = dflt;
		return true;
	}
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *r = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	if (r && *r == ':')
		r = strptime(r, ":%S", &tm);
	if (!r)
		return false;
	long long adj = 0;
	if (*r == '+' || *r == '-')
		adj = strtoll(r, NULL, 10);
	*out = (int64_t)timegm(&tm) * 1000000000LL + adj;
	return true;
}

static int check_time(const struct floe_filter *f, const char *arg, char *why, size_t whylen)
{
	int64_t lo, hi, wlo, whi;
	bool ok = floe_filter_time_range(f, &lo, &hi);
	snprintf(why, whylen, "returned %s [%lld, %lld]", ok ? "true" : "false", (long long)lo,
	         (long long)hi);
	if (strcmp(arg, "none") == 0)
		return !ok && lo == INT64_MIN && hi == INT64_MAX;
	if (strcmp(arg, "empty") == 0)
		return ok && lo > hi;
	char a[64], b[64];
	const char *dots = strstr(arg, "..");
	if (!dots || (size_t)(dots - arg) >= sizeof(a) || strlen(dots + 2) >= sizeof(b))
		return 0;
	memcpy(a, arg, (size_t)(dots - arg));
	a[dots - arg] = '\0';
	strcpy(b, dots + 2);
	if (!case_time(a, INT64_MIN, &wlo) || !case_time(b, INT64_MAX, &whi))
		return 0;
	return ok && lo == wlo && hi == whi;
}

/* floe_filter_fields: a record holding only the fields the filter says
 * it reads (the rest zero) matches exactly as the whole record does. */
static void keep_field(void *ud, size_t off, size_t size)
{
	const struct floe_flow *full = ((const struct floe_flow **)ud)[0];
	struct floe_flow *part = ((struct floe_flow **)ud)[1];
	memcpy((uint8_t *)part + off, (const uint8_t *)full + off, size);
}

static int fields_differ(const struct floe_filter *f)
{
	int differ = 0;
	for (size_t i = 0; i < nrecs; i++) {
		struct floe_flow part;
		memset(&part, 0, sizeof(part));
		const void *ud[2] = {&recs[i].f, &part};
		if (!floe_filter_fields(f, keep_field, ud))
			return 0;  /* reads a derived field: the caller decodes all */
		differ += floe_filter_match(f, &part) != floe_filter_match(f, &recs[i].f);
	}
	return differ;
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
	if (strcmp(kind, "local") == 0) {
		floe_netset_destroy(case_local);
		case_local = NULL;
		if (strcmp(arg, "-") != 0) {
			struct floe_errbuf leb;
			floe_errbuf_clear(&leb);
			case_local = floe_netset_create(NULL);
			TAP_CHECK(case_local && floe_netset_add_text(case_local, arg, &leb) == FLOE_OK,
			          "line %d: local %s: %s", lineno, arg, leb.msg);
		}
		return;
	}
	struct floe_errbuf eb;
	floe_errbuf_clear(&eb);
	struct floe_filter_opts opts = {.local = case_local};
	struct floe_filter *f = floe_filter_compile_opts(text, &opts, &eb);
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
			if ((differ = fields_differ(f)) != 0)
				TAP_CHECK(0, "line %d: the fields it names do not decide it on %d records",
				          lineno, differ);
		}
	} else if (strcmp(kind, "error") == 0) {
		char pfx[300];
		snprintf(pfx, sizeof(pfx), "column %s:", arg);
		bool ok = !f && eb.code == FLOE_MALFORMED && strncmp(eb.msg, pfx, strlen(pfx)) == 0;
		TAP_CHECK(ok, "line %d: error at column %s for '%s' (got %s: %s)", lineno, arg,
		          text, f ? "compiled" : floe_strerror(eb.code), eb.msg);
	} else if (strcmp(kind, "time") == 0) {
		char why[96];
		if (!f)
			TAP_CHECK(0, "line %d: time '%s': %s", lineno, text, eb.msg);
		else
			TAP_CHECK(check_time(f, arg, why, sizeof(why)), "line %d: time %s '%s' %s",
			          lineno, arg, text, why);
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
	char path[4096];
	snprintf(path, sizeof(path), "%s/filter/cases.txt", test_data_dir());
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
	floe_netset_destroy(case_local);
	case_local = NULL;
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
		{"host in [10.0.0.1 foo]", "column 19: expected an address or network (10.0.0.1, 192.168.0.0/16) or ']', found 'foo'"},
		{"host in [10.0.0.1", "column 18: expected ']' to close '[' at column 9, found end of filter"},
		{"host in 10.0.0.1", "column 9: expected a list: '[' or '@file', found '10.0.0.1'"},
		{"host in @", "column 10: expected a file name after '@' (@list.txt, @\"my list.txt\")"},
		{"src foo", "column 5: expected 'host', 'net', 'port', 'portrange', 'in', 'local', 'remote' or an address, found 'foo'"},
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
	                   "and not host in [10.0.0.1, 2001:db8::/32 192.168.0.0/16 ::/0] "
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

	f = floe_filter_compile("host in [1.1.1.1 2.2.2.2 3.3.3.3]", NULL);
	TAP_CHECK(f && !floe_filter_required_addrs(f, out, 2, &n) && n == 0,
	          "list larger than cap: false");
	TAP_CHECK(f && floe_filter_required_addrs(f, out, 3, &n) && n == 3, "list at cap: true");
	floe_filter_destroy(f);
	int64_t lo = 0, hi = 0;
	TAP_CHECK(!floe_filter_time_range(NULL, &lo, &hi) && lo == INT64_MIN && hi == INT64_MAX,
	          "time range of NULL: unbounded");
}

/* A temp file holding text; the path is written to path (>= 64 bytes). */
static bool temp_file(char *path, const char *text)
{
	snprintf(path, 64, "/tmp/floe-filter-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return false;
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len;
	close(fd);
	return ok;
}

static struct floe_filter *compile_fmt(struct floe_errbuf *eb, const char *fmt, const char *arg)
{
	char text[512];
	snprintf(text, sizeof(text), fmt, arg);
	floe_errbuf_clear(eb);
	return floe_filter_compile(text, eb);
}

/* `host in @file`: comments, blanks, commas, errors naming file and line. */
static void test_list_files(void)
{
	char path[64], bad[64], empty[64];
	struct floe_errbuf eb;
	struct floe_filter *f;
	if (!temp_file(path, "# watchlist\n10.0.1.17   # the ssh client\n\n  192.168.0.0/16\n"
	                     "2001:db8::1,8.8.8.8\r\n# end") ||
	    !temp_file(bad, "10.0.0.1\n10.0.0.2\n10.0.0.300\n") || !temp_file(empty, "# none\n")) {
		TAP_CHECK(0, "cannot write temp files");
		return;
	}
	f = compile_fmt(&eb, "host in @%s", path);
	TAP_CHECK(f && floe_filter_match(f, record("tcp4")) && floe_filter_match(f, record("udp6")) &&
	          floe_filter_match(f, record("icmp4")) && !floe_filter_match(f, record("gre4")),
	          "host in @file: %s", eb.msg);
	floe_filter_destroy(f);
	f = compile_fmt(&eb, "dst host in @%s and tcp", path);
	TAP_CHECK(f && floe_filter_match(f, record("tcp4")) && !floe_filter_match(f, record("rst4")),
	          "dst host in @file and tcp: %s", eb.msg);
	floe_filter_destroy(f);
	f = compile_fmt(&eb, "(src host in @%s)", path);
	TAP_CHECK(f && floe_filter_match(f, record("tcp4")), "(src host in @file): %s", eb.msg);
	floe_filter_destroy(f);
	f = compile_fmt(&eb, "host in @\"%s\" and port 22", path);
	TAP_CHECK(f && floe_filter_match(f, record("tcp4")), "host in @\"file\": %s", eb.msg);
	floe_filter_destroy(f);
	uint8_t out[8][16];
	size_t n;
	f = compile_fmt(&eb, "host in @%s", path);
	TAP_CHECK(f && !floe_filter_required_addrs(f, out, 8, &n), "a file with a network: no set");
	floe_filter_destroy(f);

	f = compile_fmt(&eb, "host in @%s", bad);
	char want[200];
	snprintf(want, sizeof(want),
	         "column 10: list '%s' line 3: not an address or network: '10.0.0.300'", bad);
	TAP_CHECK(!f && eb.code == FLOE_MALFORMED && strcmp(eb.msg, want) == 0, "bad entry: %s",
	          eb.msg);
	f = compile_fmt(&eb, "tcp and host in @%s", empty);
	TAP_CHECK(f && !floe_filter_match(f, record("tcp4")), "empty file matches nothing: %s",
	          eb.msg);
	floe_filter_destroy(f);

	f = compile_fmt(&eb, "host in @%s", "/nonexistent/floe-list.txt");
	TAP_CHECK(!f && eb.code == FLOE_IO &&
	          strcmp(eb.msg, "column 10: cannot read list '/nonexistent/floe-list.txt': "
	                         "No such file or directory") == 0,
	          "missing file: %s", eb.msg);
	f = compile_fmt(&eb, "host in @%s", "/tmp");
	TAP_CHECK(!f && eb.code == FLOE_IO && strstr(eb.msg, "not a regular file"),
	          "a directory: %s", eb.msg);
	f = compile_fmt(&eb, "host in @%s", "/dev/zero");
	TAP_CHECK(!f && eb.code == FLOE_IO, "a device is refused, not read: %s", eb.msg);
	f = compile_fmt(&eb, "host in @\"%s", path);
	TAP_CHECK(!f && eb.code == FLOE_MALFORMED, "unclosed quote: %s", eb.msg);
	unlink(path);
	unlink(bad);
	unlink(empty);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A 1M-entry watchlist compiles into one prefix set lookup and matches. */
static void test_big_list(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/floe-filter-XXXXXX");
	int fd = mkstemp(path);
	FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!fp) {
		TAP_CHECK(0, "cannot write the 1M list");
		return;
	}
	/* 1M hosts in 100.0.0.0/8 and 2001:db8:ffff::/48, plus a few networks */
	for (unsigned i = 0; i < 1000000; i++) {
		if (i % 2)
			fprintf(fp, "100.%u.%u.%u\n", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		else
			fprintf(fp, "2001:db8:ffff::%x:%x\n", i >> 16, i & 0xffff);
	}
	fprintf(fp, "192.168.1.0/24\n172.16.0.0/12\n");
	fclose(fp);
	char text[128];
	snprintf(text, sizeof(text), "host in @%s", path);
	struct floe_errbuf eb;
	floe_errbuf_clear(&eb);
	double t0 = now_s();
	struct floe_filter *f = floe_filter_compile(text, &eb);
	double dt = now_s() - t0;
	unlink(path);
	TAP_CHECK(f != NULL, "1M-entry list compiles: %s", eb.msg);
	/* speed is a benchmark's business on a shared machine: reported, and
	 * the list is checked to be one set lookup rather than a chain */
	TAP_DIAG("1M-entry list: compiled in %.2f s", dt);
	if (!f)
		return;
	TAP_CHECK(f->ninsn == 1, "one instruction, not a chain (%u)", f->ninsn);
	struct floe_flow r = recs[0].f;
	bool ok = true;
	uint8_t v4[4] = {100, 0, 0, 0};
	for (unsigned i = 1; i < 1000000 && ok; i += 9973) {
		v4[1] = (uint8_t)(i >> 16);
		v4[2] = (uint8_t)(i >> 8);
		v4[3] = (uint8_t)i;
		floe_addr_from_v4(r.daddr, v4);
		ok = floe_filter_match(f, &r) == (bool)(i % 2);
	}
	TAP_CHECK(ok, "1M-entry list: members match, others do not");
	TAP_CHECK(floe_filter_match(f, record("tcp4")) && floe_filter_match(f, record("gre4")) &&
	          !floe_filter_match(f, record("rst4")),
	          "1M-entry list: its networks match");
	const struct floe_flow *rr[3] = {record("tcp4"), record("rst4"), record("udp6")};
	long hits = 0, total = 1500000;
	t0 = now_s();
	for (long i = 0; i < total; i++)
		hits += floe_filter_match(f, rr[i % 3]);
	dt = now_s() - t0;
	TAP_CHECK(hits == total / 3, "1M-entry list: %ld hits", hits);
	TAP_DIAG("1M-entry list: %.1f M records/s", (double)total / dt / 1e6);
	TAP_DIAG("host in @1M-list: %.1f M records/s", (double)total / dt / 1e6);
	floe_filter_destroy(f);
}

/* local/remote through the API: with and without local networks. */
static void test_local(void)
{
	struct floe_errbuf eb;
	floe_errbuf_clear(&eb);
	struct floe_filter *f = floe_filter_compile("src local", &eb);
	TAP_CHECK(!f && eb.code == FLOE_INVALID &&
	          strcmp(eb.msg, "column 5: local networks are not set: use --local") == 0,
	          "local without local networks: %s", eb.msg);
	struct floe_filter_opts none = {.local = NULL};
	floe_errbuf_clear(&eb);
	f = floe_filter_compile_opts("tcp and remote", &none, &eb);
	TAP_CHECK(!f && eb.code == FLOE_INVALID &&
	          strcmp(eb.msg, "column 9: local networks are not set: use --local") == 0,
	          "remote without local networks: %s", eb.msg);
	floe_errbuf_clear(&eb);
	f = floe_filter_compile_opts("tcp", &none, &eb);
	TAP_CHECK(f && floe_filter_match(f, record("tcp4")), "opts without local: other words fine");
	floe_filter_destroy(f);

	struct floe_netset *ln = floe_netset_create(NULL);
	floe_errbuf_clear(&eb);
	if (!ln || floe_netset_add_text(ln, "192.168.0.0/16", &eb) != FLOE_OK) {
		TAP_CHECK(0, "local set: %s", eb.msg);
		floe_netset_destroy(ln);
		return;
	}
	struct floe_filter_opts o = {.local = ln};
	f = floe_filter_compile_opts("dst local and src remote", &o, &eb);
	TAP_CHECK(f && floe_filter_match(f, record("tcp4")) && !floe_filter_match(f, record("rst4")) &&
	          floe_filter_match(f, record("tcp4")) == floe_flt_eval_tree(f, f->root, record("tcp4")),
	          "dst local and src remote: %s", eb.msg);
	floe_filter_destroy(f);
	floe_netset_destroy(ln);
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
	test_list_files();
	test_big_list();
	test_local();
	bench();
	return tap_done();
}
