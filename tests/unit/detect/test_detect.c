/* test_detect.c - the detectors on small record sets built here, with the
 * findings each must give (golden values), the same findings under a budget
 * small enough to spill, and the watchlist: nesting, IPv6, bad entries,
 * longest match against a linear scan, and load time and lookup rate of
 * 1M entries (printed as TAP comments; docs/detect.md quotes them). */
#include "tap.h"
#include "detect/detect.h"
#include "detect/watchlist.h"
#include "util/addr.h"
#include "util/mem.h"
#include "util/netset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S 1000000000LL
#define DAY (86400 * S)
#define T0 (19675LL * DAY)    /* 2023-11-21T00:00:00Z: a day and window boundary */

#define SYN 0x02
#define RST 0x04
#define ACK 0x10

static struct floe_flow mk(const char *sa, const char *da, unsigned proto, unsigned sport,
                           unsigned dport, int64_t t, unsigned stcp, unsigned dtcp,
                           uint64_t sbytes, uint64_t dbytes)
{
	struct floe_flow f;
	memset(&f, 0, sizeof(f));
	if (!floe_addr_parse(sa, f.saddr) || !floe_addr_parse(da, f.daddr))
		abort();
	f.proto = (uint8_t)proto;
	f.ipver = 4;
	f.etype = 0x0800;
	f.sport = (uint16_t)sport;
	f.dport = (uint16_t)dport;
	f.stime = t;
	f.ltime = t + S / 10;
	f.stcpflags = (uint8_t)stcp;
	f.dtcpflags = (uint8_t)dtcp;
	f.spkts = 1 + sbytes / 1000;
	f.dpkts = dbytes ? 1 + dbytes / 1000 : 0;
	f.sbytes = sbytes;
	f.dbytes = dbytes;
	f.trans = 1;
	return f;
}

static void v4(char *buf, unsigned a, unsigned b, unsigned c, unsigned d)
{
	snprintf(buf, 32, "%u.%u.%u.%u", a, b, c, d);
}

/* A record set and the detector's run over it (both passes). */
struct recs {
	struct floe_flow *r;
	size_t n, cap;
};

static void push(struct recs *rs, struct floe_flow f)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 256;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		if (!rs->r)
			abort();
	}
	rs->r[rs->n++] = f;
}

static struct floe_detect *run(const struct floe_detect_opts *o, const struct recs *rs,
                               const char *const *paths)
{
	struct floe_errbuf eb = {0};
	struct floe_detect *d = floe_detect_create(o, &eb);
	if (!d) {
		TAP_DIAG("create: %s", eb.msg);
		return NULL;
	}
	for (size_t i = 0; i < rs->n; i++)
		if (floe_detect_add(d, &rs->r[i]) != FLOE_OK) {
			TAP_DIAG("add: %s", floe_detect_error(d));
			break;
		}
	if (floe_detect_end_pass(d) != FLOE_OK) {
		TAP_DIAG("end: %s", floe_detect_error(d));
		floe_detect_destroy(d);
		return NULL;
	}
	const uint8_t (*addrs)[16];
	size_t na;
	if (floe_detect_pass2(d, &addrs, &na))
		for (size_t i = 0; i < rs->n; i++)
			floe_detect_add2(d, &rs->r[i], paths ? paths[i * 2 / rs->n] : NULL);
	return d;
}

static const char *fmt(const uint8_t a[16])
{
	static char buf[4][FLOE_ADDRSTRLEN];
	static int k;
	k = (k + 1) % 4;
	floe_addr_format(a, buf[k], sizeof(buf[k]));
	return buf[k];
}

/* The same, but file names are not compared (pass 2 without paths). */
static bool same_findings_nofiles(struct floe_detect *a, struct floe_detect *b)
{
	const struct floe_finding *fa, *fb;
	size_t na, nb;
	uint64_t ma, mb;
	floe_detect_findings(a, &fa, &na, &ma);
	floe_detect_findings(b, &fb, &nb, &mb);
	if (na != nb || ma != mb)
		return false;
	for (size_t i = 0; i < na; i++) {
		struct floe_finding x = fa[i], y = fb[i];
		x.nfiles = y.nfiles = 0;
		memset(x.files, 0, sizeof(x.files));
		memset(y.files, 0, sizeof(y.files));
		if (memcmp(&x, &y, sizeof(x)) != 0)
			return false;
	}
	return true;
}

static bool same_findings(struct floe_detect *a, struct floe_detect *b)
{
	const struct floe_finding *fa, *fb;
	size_t na, nb;
	uint64_t ma, mb;
	floe_detect_findings(a, &fa, &na, &ma);
	floe_detect_findings(b, &fb, &nb, &mb);
	if (na != nb || ma != mb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (memcmp(&fa[i], &fb[i], sizeof(fa[i])) != 0)
			return false;
	return true;
}

/* Fails each of the first allocations in turn (util/mem.h fault
 * injection): every run must end with the reference's findings (a failed
 * allocation in an operator spills) or with an error and a message, never
 * crash or leak (the sanitizer build checks that). */
static void check_faults(const char *name, const struct floe_detect_opts *o,
                         const struct recs *rs, struct floe_detect *ref)
{
	int runs = 0, same = 0, failed = 0, wrong = 0;
	for (long n = 0; n < 160; n++, runs++) {
		struct floe_errbuf eb = {0};
		floe_mem_fail_after(n);
		struct floe_detect *d = floe_detect_create(o, &eb);
		enum floe_err e = d ? FLOE_OK : eb.code;
		for (size_t i = 0; d && e == FLOE_OK && i < rs->n; i++)
			e = floe_detect_add(d, &rs->r[i]);
		if (d && e == FLOE_OK)
			e = floe_detect_end_pass(d);
		const uint8_t (*addrs)[16];
		size_t na;
		if (d && e == FLOE_OK && floe_detect_pass2(d, &addrs, &na))
			for (size_t i = 0; i < rs->n; i++)
				floe_detect_add2(d, &rs->r[i], NULL);
		floe_mem_fail_after(-1);
		if (e == FLOE_OK && same_findings_nofiles(d, ref))
			same++;
		else if (e != FLOE_OK && (d ? floe_detect_error(d)[0] : eb.msg[0]))
			failed++;
		else
			wrong++;
		floe_detect_destroy(d);
	}
	TAP_CHECK(wrong == 0, "%s: %d allocation failures: %d same findings, %d errors, %d wrong",
	          name, runs, same, failed, wrong);
}

/* ---- scan ---- */

static void test_scan(void)
{
	struct recs rs = {0};
	char a[32];
	for (unsigned i = 0; i < 150; i++) {
		v4(a, 192, 168, i / 100, i % 100 + 1);
		/* A: SYN to 150 hosts on port 23, refused */
		push(&rs, mk("10.0.0.1", a, 6, 40000 + i, 23, T0 + i * S / 10, SYN, RST | ACK, 40, 40));
		/* B: 150 completed connections on 443: a busy client, no scan */
		push(&rs, mk("10.0.0.2", a, 6, 41000 + i, 443, T0 + i * S / 10, SYN | ACK, SYN | ACK,
		             900, 5000));
		/* E: 150 hosts on port 22, but 75 in each of two windows */
		push(&rs, mk("10.0.0.5", a, 6, 42000 + i, 22, T0 + 225 * S + i * S, SYN, RST | ACK,
		             40, 40));
		if (i < 99)  /* C: 99 hosts, below the threshold */
			push(&rs, mk("10.0.0.3", a, 6, 43000 + i, 80, T0 + i * S, SYN, 0, 40, 0));
	}
	for (unsigned i = 0; i < 40000; i++) {  /* 40000 completed pairs: enough groups to spill */
		char b[32];
		v4(a, 10, 0, 1, i % 200);
		v4(b, 172, 20 + i / 65536, (i / 256) % 256, i % 256);
		push(&rs, mk(a, b, 6, 44000, 443, T0 + (i % 200) * S, SYN | ACK, SYN | ACK, 900, 900));
	}
	for (unsigned p = 1; p <= 120; p++)  /* D: 120 ports of one host, 3 answered */
		push(&rs, mk("10.0.0.4", "10.9.9.9", 6, 50000, p, T0 + 60 * S + p * S / 100,
		             p <= 3 ? SYN | ACK : SYN, p <= 3 ? SYN | ACK : RST | ACK, 40, 40));

	struct floe_detect_opts o = {.kind = FLOE_DETECT_SCAN, .window = 300 * S, .scan_hosts = 100,
	                             .scan_ports = 100, .scan_max_success = 0.2};
	struct floe_detect *d = run(&o, &rs, NULL);
	TAP_CHECK(d != NULL, "scan: runs");
	if (!d)
		return;
	const struct floe_finding *fs;
	size_t n;
	uint64_t more;
	floe_detect_findings(d, &fs, &n, &more);
	TAP_CHECK(n == 2 && more == 0, "scan: two findings (got %zu)", n);
	if (n == 2) {
		const struct floe_finding *h = &fs[0], *v = &fs[1];
		TAP_CHECK(h->type == FLOE_FIND_HSCAN && !strcmp(fmt(h->host), "10.0.0.1") &&
		          h->port == 23 && h->proto == 6, "scan: hscan of 10.0.0.1 on 23");
		TAP_CHECK(h->targets == 150 && h->flows == 150 && h->ratio == 0,
		          "scan: hscan counts (%llu, %llu, %g)", (unsigned long long)h->targets,
		          (unsigned long long)h->flows, h->ratio);
		TAP_CHECK(h->t0 == T0 && h->t1 == T0 + 300 * S, "scan: hscan window");
		TAP_CHECK(h->nexamples == 5 && !strcmp(fmt(h->examples[0]), "192.168.0.1") &&
		          !strcmp(fmt(h->examples[4]), "192.168.0.5"), "scan: hscan examples smallest");
		TAP_CHECK(v->type == FLOE_FIND_VSCAN && !strcmp(fmt(v->host), "10.0.0.4") &&
		          !strcmp(fmt(v->peer), "10.9.9.9") && v->targets == 120,
		          "scan: vscan of 10.9.9.9, 120 ports");
		TAP_CHECK(fabs(v->ratio - 3.0 / 120) < 1e-9, "scan: vscan success %g", v->ratio);
		TAP_CHECK(v->nexamples == 5 && v->ex_ports[0] == 1 && v->ex_ports[4] == 5,
		          "scan: vscan example ports");
	}
	/* a budget too small for the groups: spills, same findings */
	struct floe_budget b;
	floe_budget_init(&b, 16u << 20);
	o.budget = &b;
	struct floe_detect *d2 = run(&o, &rs, NULL);
	TAP_CHECK(d2 && floe_detect_spills(d2) > 0, "scan: a 16 MB budget spills (%llu)",
	          d2 ? (unsigned long long)floe_detect_spills(d2) : 0ull);
	TAP_CHECK(d2 && same_findings(d, d2), "scan: same findings after spilling");
	TAP_CHECK(b.peak <= b.limit, "scan: peak %zu within the budget", b.peak);
	floe_detect_destroy(d2);
	/* allocation failures, on the records without the 40000 pairs */
	o.budget = NULL;
	struct recs small = {0};
	for (size_t i = 0; i < rs.n; i++)
		if (rs.r[i].saddr[14] != 1)
			push(&small, rs.r[i]);
	check_faults("scan", &o, &small, d);
	free(small.r);
	/* a stricter success threshold drops the vscan (3/120 answered) */
	o.scan_max_success = 0.01;
	struct floe_detect *d3 = run(&o, &rs, NULL);
	floe_detect_findings(d3, &fs, &n, &more);
	TAP_CHECK(d3 && n == 1 && fs[0].type == FLOE_FIND_HSCAN, "scan: --max-success 0.01");
	floe_detect_destroy(d3);
	floe_detect_destroy(d);
	free(rs.r);
}

/* ---- smtp ---- */

static void test_smtp(void)
{
	struct recs rs = {0};
	char a[32];
	for (unsigned i = 0; i < 60; i++) {
		v4(a, 172, 16, 1, i + 1);
		if (i < 51)  /* 51 servers: more than 50 */
			push(&rs, mk("10.0.0.7", a, 6, 30000 + i, i % 2 ? 25 : 587, T0 + i * S, SYN | ACK,
			             SYN | ACK, 2000, 500));
		if (i < 50)  /* exactly 50: not more */
			push(&rs, mk("10.0.0.8", a, 6, 30000 + i, 25, T0 + i * S, SYN | ACK, SYN | ACK,
			             2000, 500));
		/* a remote host sending to 60: not local */
		push(&rs, mk("8.8.8.8", a, 6, 30000 + i, 25, T0 + i * S, SYN | ACK, SYN | ACK, 2000, 500));
		/* port 80 is not mail */
		push(&rs, mk("10.0.0.9", a, 6, 30000 + i, 80, T0 + i * S, SYN | ACK, SYN | ACK, 2000, 500));
	}
	struct floe_netset *local = floe_netset_create(NULL);
	struct floe_errbuf eb = {0};
	if (!local || floe_netset_add_text(local, "10.0.0.0/8", &eb) != FLOE_OK)
		abort();
	static const uint16_t ports[] = {25, 465, 587};
	struct floe_detect_opts o = {.kind = FLOE_DETECT_SMTP, .window = 3600 * S, .local = local,
	                             .smtp_servers = 50, .smtp_ports = ports, .nsmtp_ports = 3};
	static const char *const paths[] = {"a.floe", "b.floe"};
	struct floe_detect *d = run(&o, &rs, paths);
	const struct floe_finding *fs;
	size_t n;
	uint64_t more;
	floe_detect_findings(d, &fs, &n, &more);
	TAP_CHECK(d && n == 1, "smtp: one finding (got %zu)", n);
	if (n == 1) {
		TAP_CHECK(!strcmp(fmt(fs[0].host), "10.0.0.7") && fs[0].targets == 51 && fs[0].flows == 51,
		          "smtp: 10.0.0.7, 51 servers");
		TAP_CHECK(fs[0].t0 == T0 && fs[0].t1 == T0 + 3600 * S, "smtp: the hour");
		TAP_CHECK(fs[0].nfiles == 2 && !strcmp(fs[0].files[0], "a.floe") &&
		          !strcmp(fs[0].files[1], "b.floe"), "smtp: both files named");
		TAP_CHECK(fs[0].nexamples == 5 && !strcmp(fmt(fs[0].examples[0]), "172.16.1.1"),
		          "smtp: example servers");
	}
	check_faults("smtp", &o, &rs, d);
	floe_detect_destroy(d);
	floe_netset_destroy(local);
	free(rs.r);
}

/* ---- watch ---- */

static void test_watch(void)
{
	static const char list[] = "# bad hosts\n10.66.0.0/16\n10.77.7.7 , 10.66.6.0/24\n";
	struct floe_errbuf eb = {0};
	struct floe_watchlist *wl = floe_watchlist_parse(list, strlen(list), NULL, &eb);
	TAP_CHECK(wl && floe_watchlist_count(wl) == 3, "watch: list of 3");
	struct floe_netset *local = floe_netset_create(NULL);
	if (!wl || !local || floe_netset_add_text(local, "192.168.0.0/16", &eb) != FLOE_OK)
		abort();
	struct recs rs = {0};
	push(&rs, mk("192.168.1.1", "10.66.1.1", 6, 1000, 443, T0 + 10 * S, SYN | ACK, SYN | ACK,
	             100, 200));
	push(&rs, mk("192.168.1.1", "10.66.6.6", 6, 1001, 443, T0 + 20 * S, SYN | ACK, SYN | ACK,
	             100, 200));
	push(&rs, mk("192.168.1.1", "10.77.7.7", 17, 1002, 53, T0 + 5 * S, 0, 0, 60, 0));
	push(&rs, mk("10.77.7.7", "192.168.1.2", 6, 5555, 22, T0 + 30 * S, SYN, RST | ACK, 40, 40));
	push(&rs, mk("192.168.1.3", "10.5.5.5", 6, 1003, 443, T0, SYN | ACK, SYN | ACK, 100, 100));
	struct floe_detect_opts o = {.kind = FLOE_DETECT_WATCH, .window = 3600 * S, .local = local,
	                             .watch = wl};
	struct floe_detect *d = run(&o, &rs, NULL);
	const struct floe_finding *fs;
	size_t n;
	uint64_t more;
	floe_detect_findings(d, &fs, &n, &more);
	TAP_CHECK(d && n == 2, "watch: two hosts (got %zu)", n);
	if (n == 2) {
		const struct floe_finding *x = &fs[0], *y = &fs[1];
		char e[3][64];
		for (unsigned i = 0; i < 3 && i < x->nentries; i++)
			floe_watchlist_format(wl, x->entries[i], e[i], sizeof(e[i]));
		TAP_CHECK(!strcmp(fmt(x->host), "192.168.1.1") && x->flows == 3 && x->bytes == 660,
		          "watch: 192.168.1.1, 3 flows, 660 bytes");
		TAP_CHECK(x->nentries == 3 && !strcmp(e[0], "10.66.0.0/16") &&
		          !strcmp(e[1], "10.66.6.0/24") && !strcmp(e[2], "10.77.7.7/32"),
		          "watch: the innermost entry of each flow");
		TAP_CHECK(x->t0 == T0 + 5 * S && x->t1 == T0 + 20 * S + S / 10, "watch: first, last");
		TAP_CHECK(!strcmp(fmt(y->host), "192.168.1.2") && y->flows == 1 && y->nentries == 1,
		          "watch: inbound from a listed host");
	}
	check_faults("watch", &o, &rs, d);
	floe_detect_destroy(d);
	floe_netset_destroy(local);
	floe_watchlist_destroy(wl);
	free(rs.r);
}

/* ---- beacon ---- */

static void test_beacon(void)
{
	struct recs rs = {0};
	srand(5);
	int64_t t = T0;
	for (unsigned i = 0; i < 15; i++) {
		/* every 60 s +- 1 s, a new source port each time */
		push(&rs, mk("10.0.0.20", "203.0.113.9", 6, 20000 + i, 443, t, SYN | ACK, SYN | ACK,
		             300, 300));
		t += 60 * S + (rand() % 2001 - 1000) * (S / 1000);
	}
	static const int irregular[] = {5, 200, 13, 90, 2, 400, 31, 7, 150, 60, 3, 222, 45, 11};
	t = T0;
	for (unsigned i = 0; i < 15; i++) {
		push(&rs, mk("10.0.0.21", "203.0.113.9", 6, 20000 + i, 443, t, SYN | ACK, SYN | ACK,
		             300, 300));
		if (i < 14)
			t += irregular[i] * S;
	}
	for (unsigned i = 0; i < 5; i++)  /* regular but only 5 */
		push(&rs, mk("10.0.0.22", "203.0.113.9", 6, 20000 + i, 443, T0 + i * 60 * S, SYN | ACK,
		             SYN | ACK, 300, 300));
	for (unsigned i = 0; i < 24; i++)  /* every 5 min, 8 h off after 12 */
		push(&rs, mk("10.0.0.24", "203.0.113.10", 6, 21000 + i, 8443,
		             T0 + i * 300 * S + (i >= 12 ? 8 * 3600 * S : 0), SYN | ACK, SYN | ACK,
		             300, 300));
	for (unsigned i = 0; i < 15; i++)  /* status records of one long flow */
		push(&rs, mk("10.0.0.23", "203.0.113.9", 6, 33333, 443, T0 + i * 60 * S, ACK, ACK,
		             3000, 3000));
	struct floe_detect_opts o = {.kind = FLOE_DETECT_BEACON, .window = 3600 * S,
	                             .beacon_min = 10, .beacon_max_cv = 0.2,
	                             .beacon_min_interval = S};
	struct floe_budget b;
	floe_budget_init(&b, 64 << 20);
	o.budget = &b;
	struct floe_detect *d = run(&o, &rs, NULL);
	const struct floe_finding *fs;
	size_t n;
	uint64_t more;
	floe_detect_findings(d, &fs, &n, &more);
	TAP_CHECK(d && n == 3, "beacon: three findings (got %zu)", n);
	if (n == 3) {
		TAP_CHECK(!strcmp(fmt(fs[1].host), "10.0.0.24") && !strcmp(fmt(fs[2].host), "10.0.0.24") &&
		          fs[1].flows == 12 && fs[2].flows == 12 && fabs(fs[1].value - 300) < 1e-6 &&
		          fs[2].t0 == T0 + 12 * 300 * S + 8 * 3600 * S,
		          "beacon: a pause of 8 h splits 10.0.0.24 into two series of 12");
		TAP_CHECK(!strcmp(fmt(fs[0].host), "10.0.0.20") &&
		          !strcmp(fmt(fs[0].peer), "203.0.113.9") &&
		          fs[0].port == 443 && fs[0].flows == 15, "beacon: 10.0.0.20 -> :443, 15");
		TAP_CHECK(fabs(fs[0].value - 60) < 1 && fs[0].ratio < 0.02,
		          "beacon: interval %.3f s, cv %.4f", fs[0].value, fs[0].ratio);
	}
	o.budget = NULL;
	check_faults("beacon", &o, &rs, d);
	floe_detect_destroy(d);
	free(rs.r);
}

/* ---- baseline ---- */

static void test_baseline(void)
{
	struct recs rs = {0};
	char a[32];
	for (int day = 0; day < 15; day++) {
		int64_t t = T0 + day * DAY + 3600 * S;
		bool period = day == 14;
		/* H1: ~1 MB a day, 100 MB on the last */
		uint64_t v = period ? 100000000u : 1000000u + (uint64_t)(day % 3) * 100000u;
		push(&rs, mk("10.0.0.1", "198.51.100.1", 6, 1000, 443, t, SYN | ACK, SYN | ACK, v / 2,
		             v / 2));
		/* H2: 3 peers a day, 200 on the last */
		for (int p = 0; p < (period ? 200 : 3); p++) {
			v4(a, 198, 51, 101, (unsigned)p + 1);
			push(&rs, mk("10.0.0.2", a, 17, 5000, 53, t + p * S, 0, 0, 80, 120));
		}
		/* H3: ssh every day, on the last also RDP (a new service) */
		push(&rs, mk("10.0.0.3", "198.51.100.3", 6, 2000, 22, t, SYN | ACK, SYN | ACK, 5000, 5000));
		if (period)
			push(&rs, mk("10.0.0.3", "198.51.100.4", 6, 2001, 3389, t, SYN | ACK, SYN | ACK,
			             5000, 5000));
		/* H4: steady 5 MB, also a server on 443 (inbound) */
		push(&rs, mk("198.51.100.9", "10.0.0.4", 6, 3000, 443, t, SYN | ACK, SYN | ACK,
		             1000000, 4000000));
		/* H5: new on the last day, 50 MB */
		if (period)
			push(&rs, mk("10.0.0.5", "198.51.100.5", 6, 4000, 443, t, SYN | ACK, SYN | ACK,
			             40000000, 10000000));
	}
	struct floe_netset *local = floe_netset_create(NULL);
	struct floe_errbuf eb = {0};
	if (!local || floe_netset_add_text(local, "10.0.0.0/8", &eb) != FLOE_OK)
		abort();
	struct floe_detect_opts o = {.kind = FLOE_DETECT_BASELINE, .window = DAY, .local = local,
	                             .period_start = T0 + 14 * DAY, .period_end = T0 + 15 * DAY,
	                             .history = 14 * DAY, .base_k = 3, .base_min_bytes = 10u << 20,
	                             .base_min_peers = 20, .base_top = 2};
	struct floe_detect *d = run(&o, &rs, NULL);
	const struct floe_finding *fs;
	size_t n;
	uint64_t more;
	floe_detect_findings(d, &fs, &n, &more);
	static const struct {
		const char *host;
		enum floe_finding_type type;
	} want[] = {
		{"10.0.0.1", FLOE_FIND_VOLUME},
		{"10.0.0.2", FLOE_FIND_PEERS},
		{"10.0.0.3", FLOE_FIND_SERVICE},
		{"10.0.0.5", FLOE_FIND_TOP},
	};
	TAP_CHECK(d && n == 4, "baseline: four findings (got %zu)", n);
	for (size_t i = 0; i < n && i < 4; i++)
		TAP_CHECK(!strcmp(fmt(fs[i].host), want[i].host) && fs[i].type == want[i].type,
		          "baseline: %s %s (got %s %s)", want[i].host, floe_finding_name(want[i].type),
		          fmt(fs[i].host), floe_finding_name(fs[i].type));
	if (n == 4) {
		TAP_CHECK(fs[0].bytes == 100000000 && fabs(fs[0].usual - 15300000.0 / 14) < 1,
		          "baseline: volume 100 MB against a mean of %.0f", fs[0].usual);
		TAP_CHECK(fs[1].targets == 200 && fabs(fs[1].usual - 3) < 1e-9,
		          "baseline: 200 peers against 3");
		TAP_CHECK(fs[2].port == 3389 && fs[2].proto == 6 && fs[2].dir == 0,
		          "baseline: tcp/3389 as a client is new");
		TAP_CHECK(fs[3].rank == 2 && fs[3].bytes == 50000000, "baseline: 10.0.0.5 new at rank 2");
	}
	check_faults("baseline", &o, &rs, d);
	floe_detect_destroy(d);
	floe_netset_destroy(local);
	free(rs.r);
}

/* ---- watchlist ---- */

static void test_watchlist_lookup(void)
{
	static const char text[] =
		"10.0.0.0/8\n10.1.0.0/16 # a comment, 99.99.99.99\n10.1.2.3\n"
		"2001:db8::/32, 2001:db8:1::/48\n10.1.0.0/16\r\n0.0.0.0/0\n";
	static const struct {
		const char *addr, *want;
	} cases[] = {
		{"10.1.2.3", "10.1.2.3/32"}, {"10.1.9.9", "10.1.0.0/16"}, {"10.200.0.1", "10.0.0.0/8"},
		{"11.0.0.1", "0.0.0.0/0"}, {"99.99.99.99", "0.0.0.0/0"},
		{"2001:db8:1::5", "2001:db8:1::/48"}, {"2001:db8:2::1", "2001:db8::/32"},
		{"2001:db9::", NULL}, {"::1", NULL},
	};
	struct floe_errbuf eb = {0};
	struct floe_watchlist *w = floe_watchlist_parse(text, strlen(text), NULL, &eb);
	TAP_CHECK(w && floe_watchlist_count(w) == 6, "watchlist: 6 distinct entries");
	for (size_t i = 0; w && i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t a[16];
		char got[64] = "";
		if (!floe_addr_parse(cases[i].addr, a))
			abort();
		long e = floe_watchlist_lookup(w, a);
		if (e >= 0)
			floe_watchlist_format(w, (size_t)e, got, sizeof(got));
		TAP_CHECK(cases[i].want ? !strcmp(got, cases[i].want) : e < 0, "watchlist: %s -> %s (%s)",
		          cases[i].addr, cases[i].want ? cases[i].want : "none", got);
	}
	uint8_t hosts[8][16];
	size_t nh;
	TAP_CHECK(w && !floe_watchlist_hosts(w, hosts, 8, &nh), "watchlist: networks are not hosts");
	floe_watchlist_destroy(w);
	static const char ht[] = "10.0.0.2 10.0.0.1\n2001:db8::1\n";
	w = floe_watchlist_parse(ht, strlen(ht), NULL, &eb);
	TAP_CHECK(w && floe_watchlist_hosts(w, hosts, 8, &nh) && nh == 3 &&
	          !strcmp(fmt(hosts[0]), "10.0.0.1") && !strcmp(fmt(hosts[2]), "2001:db8::1"),
	          "watchlist: its hosts, sorted");
	TAP_CHECK(w && !floe_watchlist_hosts(w, hosts, 2, &nh), "watchlist: more hosts than room");
	floe_watchlist_destroy(w);
	w = floe_watchlist_parse("", 0, NULL, &eb);
	uint8_t z[16] = {0};
	TAP_CHECK(w && floe_watchlist_count(w) == 0 && floe_watchlist_lookup(w, z) < 0,
	          "watchlist: empty");
	floe_watchlist_destroy(w);
}

static void test_watchlist_bad(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"10.0.0.1\n300.1.1.1\n", "line 2: '300.1.1.1'"},
		{"10.0.0.0/33", "line 1: '10.0.0.0/33'"},
		{"\n\n# x\nhost.example", "line 4: 'host.example'"},
		{"10.0.0.0/", "line 1"},
		{"1111111111111111111111111111111111111111111111111111111111111111111", "characters"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct floe_errbuf eb = {0};
		struct floe_watchlist *w = floe_watchlist_parse(cases[i].text, strlen(cases[i].text),
		                                                NULL, &eb);
		TAP_CHECK(!w && eb.code == FLOE_INVALID && strstr(eb.msg, cases[i].msg),
		          "watchlist: refuses case %zu (%s)", i, eb.msg);
		floe_watchlist_destroy(w);
	}
	struct floe_errbuf eb = {0};
	static const char nul[] = {'1', '.', '2', '.', '3', '.', '4', '\n', '\0', '5'};
	struct floe_watchlist *w = floe_watchlist_parse(nul, sizeof(nul), NULL, &eb);
	TAP_CHECK(!w && strstr(eb.msg, "NUL"), "watchlist: a NUL byte is refused");
}

/* Random prefixes against a linear longest-match scan. */
static void test_watchlist_random(void)
{
	enum { N = 3000, Q = 30000 };
	static uint8_t nets[N][16];
	static unsigned plens[N];
	char *text = malloc((size_t)N * 24);
	size_t len = 0;
	srand(11);
	for (int i = 0; i < N; i++) {
		char a[32];
		v4(a, 10, (unsigned)rand() % 4, (unsigned)rand() % 256, (unsigned)rand() % 256);
		unsigned pl = 8 + (unsigned)rand() % 25;
		len += (size_t)sprintf(text + len, "%s/%u\n", a, pl);
		if (!floe_addr_parse(a, nets[i]))
			abort();
		plens[i] = pl + 96;
		floe_addr_mask(nets[i], plens[i]);
	}
	struct floe_errbuf eb = {0};
	struct floe_watchlist *w = floe_watchlist_parse(text, len, NULL, &eb);
	int bad = 0;
	for (int q = 0; w && q < Q; q++) {
		uint8_t a[16];
		char s[32];
		v4(s, 10, (unsigned)rand() % 5, (unsigned)rand() % 256, (unsigned)rand() % 256);
		if (!floe_addr_parse(s, a))
			abort();
		int best = -1;
		for (int i = 0; i < N; i++)
			if (floe_addr_in_prefix(a, nets[i], plens[i]) && (best < 0 || plens[i] > plens[best]))
				best = i;
		long e = floe_watchlist_lookup(w, a);
		char got[64] = "", want[64] = "";
		if (e >= 0)
			floe_watchlist_format(w, (size_t)e, got, sizeof(got));
		if (best >= 0)
			snprintf(want, sizeof(want), "%s/%u", fmt(nets[best]), plens[best] - 96);
		bad += strcmp(got, want) != 0;
	}
	TAP_CHECK(w && bad == 0, "watchlist: %d random lookups agree with a linear scan (%d differ)",
	          Q, bad);
	floe_watchlist_destroy(w);
	free(text);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 1M entries (hosts and /24s over the IPv4 space, some IPv6): load time
 * and lookups per second. */
static void test_watchlist_1m(void)
{
	enum { N = 1000000, Q = 2000000 };
	char *text = malloc((size_t)N * 48);
	size_t len = 0;
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (i % 20 == 0)
			len += (size_t)sprintf(text + len, "2001:db8:%x:%x::/64\n", (unsigned)(x >> 48),
			                       (unsigned)(x >> 32) & 0xffff);
		else if (i % 10 == 0)
			len += (size_t)sprintf(text + len, "%u.%u.%u.0/24\n", (unsigned)(x >> 56),
			                       (unsigned)(x >> 48) & 255, (unsigned)(x >> 40) & 255);
		else
			len += (size_t)sprintf(text + len, "%u.%u.%u.%u\n", (unsigned)(x >> 56),
			                       (unsigned)(x >> 48) & 255, (unsigned)(x >> 40) & 255,
			                       (unsigned)(x >> 32) & 255);
	}
	struct floe_budget b;
	floe_budget_init(&b, 0);
	struct floe_errbuf eb = {0};
	double t0 = now();
	struct floe_watchlist *w = floe_watchlist_parse(text, len, &b, &eb);
	double t1 = now();
	TAP_CHECK(w && floe_watchlist_count(w) > 990000, "watchlist: 1M entries load (%zu distinct)",
	          w ? floe_watchlist_count(w) : 0);
	TAP_DIAG("1M-entry watchlist: %.1f MB text loaded in %.3f s, %.1f MB of memory",
	         len / 1e6, t1 - t0, b.peak / 1e6);
	long hits = 0;
	uint8_t a[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	t0 = now();
	for (int q = 0; w && q < Q; q++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(a + 12, &x, 4);
		hits += floe_watchlist_lookup(w, a) >= 0;
	}
	t1 = now();
	TAP_DIAG("1M-entry watchlist: %d lookups in %.3f s, %.1f M lookups/s (%ld hits)", Q, t1 - t0,
	         Q / (t1 - t0) / 1e6, hits);
	TAP_CHECK(hits > 0, "watchlist: random addresses hit the /24s");
	floe_watchlist_destroy(w);
	TAP_CHECK(b.used == 0, "watchlist: all memory returned to the budget");
	free(text);
}

static void test_completed(void)
{
	static const struct {
		unsigned proto, stcp, dtcp, dpkts;
		bool exported, want;
		const char *name;
	} cases[] = {
		{6, SYN | ACK, SYN | ACK, 5, false, true, "handshake and data"},
		{6, SYN, RST | ACK, 1, false, false, "refused"},
		{6, SYN | RST, SYN | ACK, 1, false, false, "SYN scan of an open port"},
		{6, SYN, 0, 0, false, false, "no answer"},
		{6, ACK, RST, 1, false, false, "ACK scan"},
		{6, ACK | 0x08, ACK | 0x08, 4, false, true, "picked up mid-flow"},
		{6, SYN | ACK | 0x08, 0, 0, true, true, "one-way export of a connection"},
		{6, SYN, 0, 0, true, false, "one-way export of a probe"},
		{17, 0, 0, 1, false, true, "UDP answered"},
		{17, 0, 0, 0, false, false, "UDP unanswered"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct floe_flow f = mk("10.0.0.1", "10.0.0.2", cases[i].proto, 1000, 80, T0,
		                        cases[i].stcp, cases[i].dtcp, 60, 0);
		f.dpkts = cases[i].dpkts;
		if (cases[i].exported && !floe_addr_parse("192.0.2.1", f.exporter))
			abort();
		TAP_CHECK(floe_flow_completed(&f) == cases[i].want, "completed: %s", cases[i].name);
	}
}

int main(void)
{
	test_completed();
	test_scan();
	test_smtp();
	test_watch();
	test_beacon();
	test_baseline();
	test_watchlist_lookup();
	test_watchlist_bad();
	test_watchlist_random();
	test_watchlist_1m();
	return tap_done();
}
