/*
 * test_webq.c - the web API's queries (src/lib/web/webq.c) on a small
 * archive written here: the numbers of each answer against sums worked out
 * by hand, the deadline, the request budget, and every allocation failing
 * in turn (an error with a message, never a crash or a leak).
 */
#include "archive/archive.h"
#include "tap.h"
#include "util/addr.h"
#include "util/mem.h"
#include "web/webq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S 1000000000LL
#define T0 (1749772800LL * S)   /* 2025-06-13T00:00:00Z */

static char root[64];

static struct floe_flow rec(uint8_t s, uint8_t d, uint8_t proto, uint16_t dport, uint64_t sb, uint64_t db,
                            uint64_t sp, uint64_t dp, int64_t t0, int64_t t1)
{
	struct floe_flow f;
	memset(&f, 0, sizeof(f));
	uint8_t a[4] = {10, 0, 0, s}, b[4] = {10, 0, 0, d};
	floe_addr_from_v4(f.saddr, a);
	floe_addr_from_v4(f.daddr, b);
	f.ipver = 4;
	f.etype = 0x0800;
	f.proto = proto;
	f.sport = 40000;
	f.dport = dport;
	f.sbytes = sb;
	f.dbytes = db;
	f.spkts = sp;
	f.dpkts = dp;
	f.stime = T0 + t0 * S;
	f.ltime = T0 + t1 * S;
	f.trans = 1;
	return f;
}

/* A (10.0.0.1), B (.2), C (.3): 4 records, 7050 bytes, 28 packets. */
static void make_archive(void)
{
	snprintf(root, sizeof(root), "/tmp/floe-webq-XXXXXX");
	if (!mkdtemp(root))
		abort();
	struct floe_archive_opts o = {.dir = root, .instance = "t"};
	struct floe_errbuf eb = {0};
	struct floe_archive *a = floe_archive_create(&o, &eb);
	struct floe_flow r[] = {
		rec(1, 2, 6, 80, 1000, 5000, 10, 8, 10, 20),
		rec(1, 3, 17, 53, 100, 200, 1, 1, 70, 70),
		rec(2, 3, 6, 22, 300, 400, 3, 4, 130, 135),
		rec(3, 3, 1, 0, 50, 0, 1, 0, 200, 200),
	};
	for (size_t i = 0; a && i < sizeof(r) / sizeof(r[0]); i++)
		if (floe_archive_add(a, &r[i]) != FLOE_OK)
			abort();
	if (!a || floe_archive_close(a, &eb) != FLOE_OK)
		abort();
}

static enum floe_err run(int which, const char *qs, struct floe_budget *budget, int64_t deadline,
                         struct floe_webbuf *out, struct floe_errbuf *eb)
{
	static struct floe_httpq q;
	const char *dirs[] = {root};
	struct floe_webq_ctx ctx = {.dirs = dirs, .ndirs = 1, .budget = budget, .deadline = deadline};
	enum floe_err e = floe_httpq_parse(qs, strlen(qs), T0, &q, eb);
	if (e != FLOE_OK)
		return e;
	uint8_t addr[16];
	floe_addr_parse("10.0.0.3", addr);
	switch (which) {
	case 0: return floe_webq_summary(&ctx, &q, out, eb);
	case 1: return floe_webq_series(&ctx, &q, out, eb);
	case 2: return floe_webq_host(&ctx, &q, addr, out, eb);
	case 3: return floe_webq_table(&ctx, &q, out, eb);
	default: return floe_webq_graph(&ctx, &q, out, eb);
	}
}

static const struct {
	int which;
	const char *qs;
	const char *want[6];   /* substrings of the answer */
} cases[] = {
	{0, "", {"\"records\":4,\"flows\":4,\"pkts\":28,\"bytes\":7050",
	         "\"hosts\":[{\"saddr\":\"10.0.0.2\",\"bytes\":6700,\"pkts\":25,\"flows\":2},"
	         "{\"saddr\":\"10.0.0.1\",\"bytes\":6300,\"pkts\":20,\"flows\":2},"
	         "{\"saddr\":\"10.0.0.3\",\"bytes\":1050,\"pkts\":10,\"flows\":3}]",
	         "\"ports\":[{\"proto\":\"tcp\",\"protonum\":6,\"dport\":80,\"bytes\":6000",
	         "\"protos\":[{\"proto\":\"tcp\",\"protonum\":6,\"bytes\":6700,\"pkts\":25,\"flows\":2},"
	         "{\"proto\":\"udp\"", "\"first\":1749772810.000000000,\"last\":1749773000.000000000"}},
	{0, "filter=tcp&top=1&m=pkts", {"\"records\":2,", "\"hosts\":[{\"saddr\":\"10.0.0.2\",\"bytes\":6700,"
	                                "\"pkts\":25,\"flows\":2}]", "\"metric\":\"pkts\""}},
	{0, "t=2025-06-13T00:01:00Z/%2B1m", {"\"records\":1,\"flows\":1,\"pkts\":2,\"bytes\":300"}},
	{1, "t=2025-06-13T00:00:00Z/2025-06-13T00:05:00Z&b=60",
	 {"\"bin\":60", "\"times\":[1749772800,1749772860,1749772920,1749772980]",
	  "{\"key\":\"total\",\"values\":[6000,300,700,50]}"}},
	{1, "b=1m&by=proto&top=1", {"{\"key\":\"tcp\",\"values\":[6000,0,700,0]}",
	                            "{\"key\":\"other\",\"values\":[0,300,0,50]}"}},
	{2, "b=60&top=5", {"\"addr\":\"10.0.0.3\",\"records\":3,\"flows\":3,\"pkts\":10,\"bytes\":1050",
	                   "\"peers\":[{\"daddr\":\"10.0.0.2\",\"bytes\":700,\"pkts\":7,\"flows\":1},"
	                   "{\"daddr\":\"10.0.0.1\",\"bytes\":300,\"pkts\":2,\"flows\":1},"
	                   "{\"daddr\":\"10.0.0.3\",\"bytes\":50,\"pkts\":1,\"flows\":1}]",
	                   "{\"key\":\"total\",\"values\":[6000,300,700,50]}",
	                   "{\"key\":\"host\",\"values\":[0,300,700,50]}",
	                   "{\"key\":\"flows\",\"values\":[0,1,1,1]}"}},
	{3, "by=proto&format=csv", {"stime,dur,proto,trans,pkts,bytes\n",
	                            ",tcp,2,25,6700\n", ",udp,1,2,300\n", ",icmp,1,1,50\n"}},
	{3, "by=saddr&sort=bytes:asc&limit=2", {"\"columns\":[\"stime\",\"dur\",\"saddr\",\"trans\",\"pkts\",\"bytes\"]",
	                                        "\"saddr\":\"10.0.0.3\"", "\"saddr\":\"10.0.0.2\"",
	                                        "\"more\":true"}},
	{3, "filter=udp", {"\"saddr\":\"10.0.0.1\"", "\"dport\":53", "\"more\":false"}},
	{4, "b=60&host=10.0.0.3", {"<svg", "</svg>"}},
};

static void test_answers(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct floe_webbuf out;
		struct floe_errbuf eb = {0};
		floe_webbuf_init(&out, NULL);
		enum floe_err e = run(cases[i].which, cases[i].qs, NULL, 0, &out, &eb);
		TAP_CHECK(e == FLOE_OK, "query %d '%s': %s", cases[i].which, cases[i].qs, e ? eb.msg : "ok");
		for (size_t k = 0; k < 6 && cases[i].want[k]; k++) {
			bool ok = e == FLOE_OK && strstr(out.p, cases[i].want[k]);
			TAP_CHECK(ok, "query %d '%s' has %.60s", cases[i].which, cases[i].qs, cases[i].want[k]);
			if (!ok && e == FLOE_OK)
				TAP_DIAG("answer: %.2000s", out.p);
		}
		floe_webbuf_release(&out);
	}
}

static void test_errors(void)
{
	static const struct {
		int which;
		const char *qs;
		enum floe_err code;
		const char *msg;
	} rows[] = {
		{0, "filter=tcp+and", FLOE_INVALID, "bad filter: column"},
		{0, "filter=host+in+%40%2Fetc%2Fhosts", FLOE_INVALID, "@file"},
		{0, "filter=src+local", FLOE_INVALID, "local networks are not set"},
		{1, "by=nosuch", FLOE_INVALID, "nosuch"},
		{3, "by=bytes", FLOE_INVALID, "bytes"},
		{3, "sort=nosuch", FLOE_INVALID, "nosuch"},
		{1, "b=1&t=2025-06-13/2025-06-14", FLOE_OK, NULL},   /* bins over the records, not the whole day */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct floe_webbuf out;
		struct floe_errbuf eb = {0};
		floe_webbuf_init(&out, NULL);
		enum floe_err e = run(rows[i].which, rows[i].qs, NULL, 0, &out, &eb);
		TAP_CHECK(e == rows[i].code && (!rows[i].msg || strstr(eb.msg, rows[i].msg)),
		          "query %d '%s': %s", rows[i].which, rows[i].qs, e ? eb.msg : "ok");
		floe_webbuf_release(&out);
	}
	/* past the deadline */
	for (int w = 0; w < 5; w++) {
		struct floe_webbuf out;
		struct floe_errbuf eb = {0};
		floe_webbuf_init(&out, NULL);
		enum floe_err e = run(w, "", NULL, floe_webq_now_mono() - 1, &out, &eb);
		TAP_CHECK(e == FLOE_LIMIT && strstr(eb.msg, "ran past the time"), "query %d past its deadline: %s",
		          w, eb.msg);
		floe_webbuf_release(&out);
	}
	/* an answer over the budget, which then holds nothing */
	struct floe_budget b;
	floe_budget_init(&b, 100);
	struct floe_webbuf out;
	struct floe_errbuf eb = {0};
	floe_webbuf_init(&out, &b);
	enum floe_err e = run(3, "limit=10", &b, 0, &out, &eb);
	floe_webbuf_release(&out);
	TAP_CHECK(e == FLOE_NOMEM && strstr(eb.msg, "larger than the memory") && b.used == 0,
	          "an answer over the request's budget: %s (%zu bytes left charged)", eb.msg, b.used);
}

/* Every allocation failing in turn: NOMEM (or IO: a spill file) with a
 * message, and the budget back to zero. */
static void test_nomem(void)
{
	for (int w = 0; w < 5; w++) {
		int failures = 0, bad = 0;
		for (long n = 0; n < 400; n++) {
			struct floe_budget b;
			floe_budget_init(&b, 0);
			struct floe_webbuf out;
			struct floe_errbuf eb = {0};
			floe_webbuf_init(&out, &b);
			floe_mem_fail_after(n);
			enum floe_err e = run(w, "b=60&by=proto&top=2", &b, 0, &out, &eb);
			floe_mem_fail_after(-1);
			floe_webbuf_release(&out);
			if (e == FLOE_OK)
				break;
			failures++;
			if ((e != FLOE_NOMEM && e != FLOE_IO) || !eb.msg[0] || b.used != 0) {
				bad++;
				TAP_DIAG("query %d, allocation %ld failing: %s (%s), %zu bytes charged", w, n,
				         floe_strerror(e), eb.msg, b.used);
			}
		}
		TAP_CHECK(failures > 0 && bad == 0, "query %d: %d allocation failures, each NOMEM with a "
		          "message", w, failures);
	}
}

int main(void)
{
	setenv("TZ", "UTC0", 1);
	tzset();
	make_archive();
	test_answers();
	test_errors();
	test_nomem();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		TAP_DIAG("cannot remove %s", root);
	return tap_done();
}
