/* test_report.c - the report module: notes and customers parsers (good
 * files, every kind of error, longest-prefix lookups), number formats,
 * spreading over bins, the bounded top-k, and the daily, accounting and
 * top-list engines on hand-made records, their text and JSON output
 * compared with golden files in tests/data/report/ (FLOE_UPDATE_GOLDEN=1
 * rewrites them), with a tiny budget giving the same report. */
#include "tap.h"
#include "testutil.h"
#include "report/prefixes.h"
#include "report/report.h"
#include "report/report_int.h"
#include "report/topk.h"
#include "util/addr.h"
#include "util/mem.h"
#include "util/netset.h"

#include <stdlib.h>
#include <string.h>

#define S 1000000000LL
#define T0 (1700000000LL * S)

static int ignored_errors;
#define IGN(x) do { if ((x) != FLOE_OK) ignored_errors++; } while (0)

/* Compares text with the golden file NAME (or writes it when asked). */
static void golden(const char *name, const char *text, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/report/%s", test_data_dir(), name);
	if (getenv("FLOE_UPDATE_GOLDEN")) {
		FILE *fp = fopen(path, "wb");
		if (fp) {
			fwrite(text, 1, len, fp);
			fclose(fp);
		}
	}
	size_t glen;
	char *g = test_slurp(path, &glen);
	bool same = g && glen == len && memcmp(g, text, len) == 0;
	TAP_CHECK(same, "golden %s", name);
	if (!same && g) {
		size_t i = 0;
		while (i < len && i < glen && g[i] == text[i])
			i++;
		TAP_DIAG("first difference at byte %zu: got '%.40s' want '%.40s'", i, text + i, g + i);
	}
	free(g);
}

/* ---- parsers ---- */

static void test_notes(void)
{
	static const struct {
		const char *text;
		enum floe_err code;
		const char *msg;    /* a part of the message */
	} bad[] = {
		{"10.0.0.1\n", FLOE_MALFORMED, "line 1: '10.0.0.1' has no label"},
		{"# c\n\n10.0.0.300 x\n", FLOE_MALFORMED, "line 3: '10.0.0.300' is not an address"},
		{"10.0.0.0/33 x\n", FLOE_MALFORMED, "is not an address"},
		{"10.0.0.1 a\n10.0.0.1/32 b\n", FLOE_MALFORMED, "line 2: 10.0.0.1/32 is already on line 1"},
		{"2001:db8::/32 a\n2001:db8::1/32 b\n", FLOE_MALFORMED, "line 2: 2001:db8::/32 is already on line 1"},
		{"10.0.0.1 a\x01b\n", FLOE_MALFORMED, "control character"},
		{"10.0.0.1 caf\xc3\n", FLOE_MALFORMED, "not UTF-8"},
		{"10.0.0.1 \xed\xa0\x80\n", FLOE_MALFORMED, "not UTF-8"},
		{"host x\n", FLOE_MALFORMED, "'host' is not"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct floe_prefixes *p = (void *)1;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_notes_parse(bad[i].text, strlen(bad[i].text), NULL, &p, &eb);
		TAP_CHECK(e == bad[i].code && p == NULL && strstr(eb.msg, bad[i].msg), "notes error %zu: %s", i,
		          eb.msg);
	}
	char longl[300];
	memset(longl, 'x', sizeof(longl));
	memcpy(longl, "10.0.0.1 ", 9);
	longl[sizeof(longl) - 1] = '\0';
	struct floe_prefixes *p = NULL;
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_notes_parse(longl, strlen(longl), NULL, &p, &eb) == FLOE_LIMIT, "a label too long: %s",
	          eb.msg);

	/* the golden notes file and lookups in it */
	char path[1024];
	size_t len;
	snprintf(path, sizeof(path), "%s/report/notes.txt", test_data_dir());
	char *text = test_slurp(path, &len);
	TAP_CHECK(text != NULL, "read %s", path);
	floe_errbuf_clear(&eb);
	struct floe_budget b;
	floe_budget_init(&b, 1 << 20);
	TAP_CHECK(text && floe_notes_parse(text, len, &b, &p, &eb) == FLOE_OK, "parse notes.txt: %s", eb.msg);
	static const struct {
		const char *addr, *label;
	} look[] = {
		{"192.168.1.10", "mail & web server <main>"},
		{"192.168.1.11", "campus LAN"},
		{"192.168.2.1", NULL},
		{"172.19.79.6", "external customer, charged"},
		{"203.205.151.162", "WeChat (Tencent) \xe2\x80\x94 CDN"},
		{"::ffff:192.168.1.200", "campus LAN"},
		{"2001:db8::1", NULL},
	};
	for (size_t i = 0; p && i < sizeof(look) / sizeof(look[0]); i++) {
		uint8_t a[16];
		floe_addr_parse(look[i].addr, a);
		const char *l = floe_prefixes_lookup(p, a);
		TAP_CHECK(look[i].label ? l && strcmp(l, look[i].label) == 0 : l == NULL, "note of %s: %s",
		          look[i].addr, l ? l : "(none)");
	}
	TAP_CHECK(floe_prefixes_count(p) == 4 && floe_prefixes_nlabels(p) == 4, "four notes");
	floe_prefixes_destroy(p);
	TAP_CHECK(b.used == 0, "notes memory returned to the budget");
	/* a budget too small fails cleanly */
	floe_budget_init(&b, 64);
	p = NULL;
	floe_errbuf_clear(&eb);
	TAP_CHECK(text && floe_notes_parse(text, len, &b, &p, &eb) == FLOE_NOMEM && !p && b.used == 0,
	          "notes past the budget: NOMEM");
	free(text);
}

static void test_customers(void)
{
	static const struct {
		const char *text;
		enum floe_err code;
		const char *msg;
	} bad[] = {
		{"acme\n", FLOE_MALFORMED, "line 1: customer 'acme' has no address"},
		{"acme # only a comment\n", FLOE_MALFORMED, "has no address"},
		{"acme 10.0.0.0/8\nbeta 10.0.0.0/8\n", FLOE_MALFORMED, "line 2: 10.0.0.0/8 is already on line 1"},
		{"acme 10.0.0.0/8\nacme 11.0.0.0/8\n", FLOE_MALFORMED, "line 2: customer 'acme' is already on line 1"},
		{"acme 10.0.0.0/8 bogus\n", FLOE_MALFORMED, "'bogus' is not"},
		{"ac\xc3\xa9 10.0.0.0/8\n", FLOE_MALFORMED, "not printable ASCII"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1.2.3.4\n", FLOE_LIMIT,
		 "longer than 64"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct floe_prefixes *p = (void *)1;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_customers_parse(bad[i].text, strlen(bad[i].text), NULL, &p, &eb);
		TAP_CHECK(e == bad[i].code && p == NULL && strstr(eb.msg, bad[i].msg), "customers error %zu: %s", i,
		          eb.msg);
	}
	char path[1024];
	size_t len;
	snprintf(path, sizeof(path), "%s/report/customers.txt", test_data_dir());
	char *text = test_slurp(path, &len);
	struct floe_prefixes *p = NULL;
	struct floe_errbuf eb = {0};
	TAP_CHECK(text && floe_customers_parse(text, len, NULL, &p, &eb) == FLOE_OK, "parse customers.txt: %s",
	          eb.msg);
	static const struct {
		const char *addr;
		long idx;
	} look[] = {
		{"10.1.2.3", 0}, {"10.9.0.1", 1}, {"10.9.0.77", 2}, {"2001:db8:5::1", 1}, {"192.0.2.1", -1},
		{"2001:db8:6::1", -1}, {"172.16.0.1", 0},
	};
	for (size_t i = 0; p && i < sizeof(look) / sizeof(look[0]); i++) {
		uint8_t a[16];
		floe_addr_parse(look[i].addr, a);
		TAP_CHECK(floe_prefixes_find(p, a) == look[i].idx, "customer of %s: %ld", look[i].addr,
		          floe_prefixes_find(p, a));
	}
	TAP_CHECK(p && floe_prefixes_nlabels(p) == 3 && strcmp(floe_prefixes_label(p, 2), "carol-web") == 0,
	          "three customers in file order");
	floe_prefixes_destroy(p);
	free(text);
}

/* ---- small parts ---- */

static void test_formats(void)
{
	static const struct {
		uint64_t v;
		const char *th, *hu;
	} t[] = {
		{0, "0", "0 B"}, {999, "999", "999 B"}, {1000, "1,000", "1.0 kB"}, {1234567, "1,234,567", "1.2 MB"},
		{999949, "999,949", "999.9 kB"}, {999950, "999,950", "1.0 MB"},
		{18446744073709551615ull, "18,446,744,073,709,551,615", "18.4 EB"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char a[40], b[40];
		floe_report_thousands(a, sizeof(a), t[i].v);
		floe_report_human(b, sizeof(b), t[i].v);
		TAP_CHECK(strcmp(a, t[i].th) == 0 && strcmp(b, t[i].hu) == 0, "format %s: %s, %s", t[i].th, a, b);
	}
	TAP_CHECK(floe_report_fmt_parse("HTML") == FLOE_REPORT_HTML && floe_report_fmt_parse("xml") < 0,
	          "format names");
}

struct sums {
	uint64_t v1, v2;
	int64_t lo, hi;
	unsigned calls;
};

static void sum_bins(void *ud, int64_t b, uint64_t v1, uint64_t v2)
{
	struct sums *s = ud;
	s->v1 += v1;
	s->v2 += v2;
	s->lo = s->calls == 0 || b < s->lo ? b : s->lo;
	s->hi = s->calls == 0 || b > s->hi ? b : s->hi;
	s->calls++;
}

static void test_spread(void)
{
	static const struct {
		int64_t st, lt, w;
		uint64_t v1, v2;
		int64_t lo, hi;
		unsigned calls;
	} t[] = {
		{T0, T0, 60 * S, 100, 7, T0 / (60 * S), T0 / (60 * S), 1},
		{T0, T0 + 3600 * S, 60 * S, 1000003, 999, 0, 0, 61},
		{T0 + 39 * S, T0 + 41 * S, 60 * S, 3, 1, 0, 0, 2},
		{-5 * S, 5 * S, 10 * S, 11, 0, -1, 0, 2},
		{T0, T0 + 86400 * S * 3, 86400 * S, UINT64_MAX / 4, 1, 0, 0, 4},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sums s = {0};
		floe_rep_spread(t[i].st, t[i].lt, 0, t[i].w, INT64_MIN, INT64_MAX, t[i].v1, t[i].v2, sum_bins, &s);
		bool ok = s.v1 == t[i].v1 && s.v2 == t[i].v2 && (t[i].calls == 0 || s.calls == t[i].calls);
		if (t[i].lo || t[i].hi)
			ok = ok && s.lo == t[i].lo && s.hi == t[i].hi;
		TAP_CHECK(ok, "spread %zu keeps the totals over %u bins", i, s.calls);
	}
	struct sums s = {0};
	floe_rep_spread(T0, T0 + 100 * S, T0, 10 * S, 2, 4, 100, 0, sum_bins, &s);
	TAP_CHECK(s.v1 == 30 && s.calls == 3 && s.lo == 2 && s.hi == 4, "spread clipped to bins 2..4");
}

static int int_desc(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return x > y ? -1 : x < y;
}

static void test_topk(void)
{
	int store[5], all[1000];
	struct floe_topk t;
	floe_topk_init(&t, store, sizeof(int), 5, int_desc);
	for (int i = 0; i < 1000; i++) {
		all[i] = (i * 7919) % 1000;
		floe_topk_push(&t, &all[i]);
	}
	floe_topk_sort(&t);
	TAP_CHECK(t.n == 5 && store[0] == 999 && store[4] == 995, "top 5 of 1000");
}

/* ---- engines ---- */

struct rec {
	const char *sa, *da;
	unsigned proto, sport, dport;
	uint64_t spkts, dpkts, sbytes, dbytes;
	int64_t st, dur;   /* seconds after T0 */
	unsigned flags;
};

/* Local 10.0.0.0/8: a web server with clients, a mail exchange, an
 * internal backup, transit, a flow whose start was not seen, ICMP, GRE,
 * IPv6, multicast and broadcast. */
static const struct rec recs[] = {
	{"10.0.0.80", "198.51.100.7", 6, 443, 50000, 30, 40, 90000, 3000, 0, 600, FLOE_F_DIRUNK},
	{"198.51.100.7", "10.0.0.80", 6, 50001, 443, 20, 25, 2000, 60000, 700, 100, 0},
	{"203.0.113.9", "10.0.0.80", 6, 40000, 80, 5, 5, 500, 7000, 100, 5, 0},
	{"203.0.113.9", "10.0.0.80", 6, 40001, 443, 5, 5, 400, 9000, 200, 5, 0},
	{"10.0.0.25", "192.0.2.25", 6, 33000, 25, 50, 30, 40000, 2000, 3600, 30, 0},
	{"10.0.0.25", "192.0.2.26", 6, 33001, 25, 10, 8, 9000, 500, 7200, 10, 0},
	{"10.0.0.9", "10.0.0.80", 6, 41000, 873, 200, 100, 250000, 6000, 43200, 3600, 0},
	{"192.0.2.1", "198.51.100.7", 17, 5000, 53, 1, 1, 80, 160, 86000, 1, 0},
	{"10.0.0.80", "198.51.100.7", 1, 8, 0, 3, 3, 252, 252, 10, 2, 0},
	{"10.0.0.9", "203.0.113.200", 47, 0, 0, 10, 0, 1500, 0, 20, 1, 0},
	{"2001:db8::5", "10.0.0.80", 6, 51000, 443, 4, 4, 600, 1200, 500, 3, 0},
	{"10.0.0.9", "224.0.0.251", 17, 5353, 5353, 2, 0, 200, 0, 30, 1, 0},
	{"10.0.0.25", "255.255.255.255", 17, 68, 67, 1, 0, 342, 0, 40, 0, 0},
};
#define NRECS (sizeof(recs) / sizeof(recs[0]))

static struct floe_flow mk(const struct rec *r)
{
	struct floe_flow f = {0};
	floe_addr_parse(r->sa, f.saddr);
	floe_addr_parse(r->da, f.daddr);
	f.ipver = floe_addr_is_v4(f.saddr) ? 4 : 6;
	f.etype = f.ipver == 4 ? 0x0800 : 0x86dd;
	f.proto = (uint8_t)r->proto;
	f.sport = (uint16_t)r->sport;
	f.dport = (uint16_t)r->dport;
	f.spkts = r->spkts;
	f.dpkts = r->dpkts;
	f.sbytes = r->sbytes;
	f.dbytes = r->dbytes;
	f.stime = T0 + r->st * S;
	f.ltime = f.stime + r->dur * S;
	f.trans = 1;
	f.flags = (uint16_t)r->flags;
	return f;
}

/* Record i of a scan: 10.0.0.7 to 60000 addresses of 100.64.0.0/10,
 * answered by every third one. */
#define SCAN 60000
static struct floe_flow scan_rec(size_t i)
{
	struct floe_flow f = mk(&recs[0]);
	f.flags = 0;
	floe_addr_parse("10.0.0.7", f.saddr);
	uint8_t v4[4] = {100, (uint8_t)(64 + i / 65536), (uint8_t)(i / 256), (uint8_t)i};
	floe_addr_from_v4(f.daddr, v4);
	f.dport = (uint16_t)(1 + i % 1024);
	f.spkts = 1;
	f.sbytes = 60;
	f.dpkts = i % 3 == 0;
	f.dbytes = i % 3 == 0 ? 40 + i % 7 : 0;
	f.stime = T0 + (int64_t)i * (S / 1000);
	f.ltime = f.stime;
	return f;
}

static char *daily_run(enum floe_report_fmt fmt, size_t budget, size_t top, size_t peers, size_t ports,
                       size_t *len, uint64_t *spills, bool scan)
{
	struct floe_netset *local = floe_netset_create(NULL);
	struct floe_errbuf eb = {0};
	IGN(floe_netset_add_text(local, "10.0.0.0/8", &eb));
	struct floe_prefixes *notes = NULL;
	const char *nt = "10.0.0.0/8 campus\n10.0.0.80 web server\n192.0.2.25 mail relay, charged\n";
	IGN(floe_notes_parse(nt, strlen(nt), NULL, &notes, &eb));
	struct floe_budget b;
	floe_budget_init(&b, budget);
	struct floe_daily_opts o = {.local = local, .notes = notes, .top = top, .peers = peers, .ports = ports,
	                            .bins = 8, .range = {T0, T0 + 86400 * S}, .budget = &b};
	struct floe_daily *d = floe_daily_create(&o, &eb);
	char *buf = NULL;
	*len = 0;
	if (d) {
		while (floe_daily_pass(d)) {
			for (size_t i = 0; i < (scan ? SCAN : NRECS); i++) {
				struct floe_flow f = scan ? scan_rec(i) : mk(&recs[i]);
				IGN(floe_daily_add(d, &f));
			}
			if (floe_daily_end_pass(d) != FLOE_OK)
				break;
		}
		const struct floe_daily_result *r = floe_daily_result(d);
		FILE *fp = open_memstream(&buf, len);
		if (r && fp)
			IGN(floe_daily_write(fp, fmt, r, "10.0.0.0/8"));
		if (fp)
			fclose(fp);
		struct floe_daily_stats st;
		floe_daily_stats(d, &st);
		*spills = st.spills;
	}
	floe_daily_destroy(d);
	floe_prefixes_destroy(notes);
	floe_netset_destroy(local);
	TAP_CHECK(b.used == 0, "daily memory returned to the budget (%zu left)", b.used);
	return buf;
}

static void test_daily(void)
{
	size_t len, len2;
	uint64_t sp, sp2;
	char *t = daily_run(FLOE_REPORT_TEXT, 64 << 20, 0, 0, 0, &len, &sp, false);
	TAP_CHECK(t != NULL, "daily text");
	if (t)
		golden("daily.txt", t, len);
	char *t2 = daily_run(FLOE_REPORT_TEXT, 64 << 20, 3, 2, 1, &len2, &sp2, false);
	if (t2)
		golden("daily-top3.txt", t2, len2);
	free(t2);
	char *j = daily_run(FLOE_REPORT_JSON, 64 << 20, 0, 0, 0, &len2, &sp2, false);
	if (j)
		golden("daily.json", j, len2);
	free(j);
	free(t);
	/* a scan through a budget of a few arena chunks spills, same report */
	char *big = daily_run(FLOE_REPORT_JSON, 256 << 20, 5, 3, 2, &len, &sp, true);
	char *small = daily_run(FLOE_REPORT_JSON, 2 << 20, 5, 3, 2, &len2, &sp2, true);
	TAP_CHECK(small && big && len == len2 && memcmp(small, big, len) == 0 && sp2 > 0 && sp == 0,
	          "a small budget spills (%llu times) and gives the same report", (unsigned long long)sp2);
	if (big)
		golden("daily-scan.json", big, len);
	free(small);
	free(big);
	struct floe_errbuf eb = {0};
	struct floe_daily_opts huge = {.top = 1u << 20, .peers = 1u << 20, .ports = 1u << 20};
	struct floe_daily *d = floe_daily_create(&huge, &eb);
	TAP_CHECK(!d && eb.code == FLOE_LIMIT, "top x peers x ports past 2^32: LIMIT (%s)", eb.msg);
	floe_daily_destroy(d);
	char *h = daily_run(FLOE_REPORT_HTML, 64 << 20, 0, 0, 0, &len2, &sp2, false);
	TAP_CHECK(h && strstr(h, "<svg") && !strstr(h, "http") && strstr(h, "mail relay, charged") &&
	          strstr(h, "&lt;") == NULL, "daily html: sparklines, notes, nothing external");
	free(h);
}

static void test_accounting(void)
{
	const char *ct = "web 10.0.0.80\ncampus 10.0.0.0/8\nmail 192.0.2.0/24\n";
	struct floe_prefixes *c = NULL;
	struct floe_errbuf eb = {0};
	IGN(floe_customers_parse(ct, strlen(ct), NULL, &c, &eb));
	struct floe_acct_opts o = {.customers = c};
	struct floe_acct *a = floe_acct_create(&o, &eb);
	TAP_CHECK(a != NULL, "accounting engine");
	for (size_t i = 0; a && i < NRECS; i++) {
		struct floe_flow f = mk(&recs[i]);
		IGN(floe_acct_add(a, &f));
	}
	size_t n = 0;
	const struct floe_acct_row *rows = a ? floe_acct_rows(a, &n) : NULL;
	for (int fmt = FLOE_REPORT_TEXT; fmt <= FLOE_REPORT_JSON; fmt++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *fp = open_memstream(&buf, &len);
		IGN(floe_acct_write(fp, (enum floe_report_fmt)fmt, rows, n, c));
		fclose(fp);
		static const char *const names[] = {"accounting.txt", "accounting.csv", "accounting.json"};
		golden(names[fmt], buf, len);
		free(buf);
	}
	floe_acct_destroy(a);
	floe_prefixes_destroy(c);
}

static void test_tops(void)
{
	static const char *const names[] = {"ports.txt", "talkers.txt", "broadcast.txt"};
	for (int k = FLOE_RTOP_PORTS; k <= FLOE_RTOP_BROADCAST; k++) {
		struct floe_errbuf eb = {0};
		struct floe_rtop_opts o = {.kind = (enum floe_rtop_kind)k, .top = 4, .per = 2};
		struct floe_rtop *t = floe_rtop_create(&o, &eb);
		for (size_t i = 0; t && i < NRECS; i++) {
			struct floe_flow f = mk(&recs[i]);
			IGN(floe_rtop_add(t, &f));
		}
		const struct floe_rtop_row *r1, *r2;
		size_t n1, n2;
		char *buf = NULL;
		size_t len = 0;
		if (t && floe_rtop_finish(t, &r1, &n1, &r2, &n2) == FLOE_OK) {
			FILE *fp = open_memstream(&buf, &len);
			IGN(floe_rtop_write(fp, FLOE_REPORT_TEXT, (enum floe_rtop_kind)k, r1, n1, r2, n2));
			fclose(fp);
		}
		TAP_CHECK(buf != NULL, "%s", names[k]);
		if (buf)
			golden(names[k], buf, len);
		free(buf);
		floe_rtop_destroy(t);
	}
}

int main(void)
{
	test_notes();
	test_customers();
	test_formats();
	test_spread();
	test_topk();
	test_daily();
	test_accounting();
	test_tops();
	TAP_CHECK(ignored_errors == 0, "no unexpected errors (%d)", ignored_errors);
	return tap_done();
}
