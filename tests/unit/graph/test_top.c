/* test_top.c - the flow table of floe top: merging, grouping by each
 * key, sorting, rates over intervals, eviction of the idlest flow, the
 * budget. */
#include "tap.h"
#include "flow.h"
#include "graph/top.h"
#include "util/addr.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S 1000000000LL

static struct floe_flow rec(const char *sa, uint16_t sp, const char *da, uint16_t dp, uint8_t proto,
                            uint64_t bytes, uint64_t pkts, int64_t t)
{
	struct floe_flow f = {0};
	floe_addr_parse(sa, f.saddr);
	floe_addr_parse(da, f.daddr);
	f.ipver = floe_addr_is_v4(f.saddr) ? 4 : 6;
	f.etype = f.ipver == 4 ? 0x0800 : 0x86dd;
	f.sport = sp;
	f.dport = dp;
	f.proto = proto;
	f.sbytes = bytes;
	f.spkts = pkts;
	f.stime = t;
	f.ltime = t + S;
	f.trans = 1;
	return f;
}

/* The records of the tests. */
static size_t load(struct floe_flow *r)
{
	size_t n = 0;
	r[n++] = rec("10.0.0.1", 1000, "10.0.0.9", 80, 6, 1000, 10, 100 * S);
	r[n++] = rec("10.0.0.1", 1000, "10.0.0.9", 80, 6, 500, 5, 101 * S);     /* same flow */
	r[n++] = rec("10.0.0.1", 1001, "10.0.0.9", 443, 6, 300, 3, 102 * S);
	r[n++] = rec("10.0.0.2", 53000, "10.0.0.53", 53, 17, 80, 1, 103 * S);
	r[n++] = rec("2001:db8::1", 5353, "ff02::fb", 5353, 17, 200, 2, 104 * S);
	r[n++] = rec("10.0.0.3", 5353, "224.0.0.251", 5353, 17, 100, 1, 105 * S);
	return n;
}

static bool only_udp(void *ud, const struct floe_flow *f)
{
	(void)ud;
	return f->proto == 17;
}

static void test_views(void)
{
	struct floe_budget bu;
	floe_budget_init(&bu, 16u << 20);
	struct floe_top_opts o = {.max_flows = 100, .budget = &bu};
	struct floe_errbuf eb = {0};
	struct floe_top *t = floe_top_create(&o, &eb);
	TAP_CHECK(t != NULL, "create: %s", eb.msg);
	if (!t)
		return;
	struct floe_flow r[16];
	size_t n = load(r);
	floe_top_tick(t, 100 * S);
	for (size_t i = 0; i < n; i++)
		TAP_CHECK(floe_top_add(t, &r[i]) == FLOE_OK, "add %zu", i);
	floe_top_tick(t, 110 * S);   /* a 10 s interval */

	struct floe_top_row rows[16];
	struct floe_top_totals tot;
	size_t nr;
	/* flows: five, by bytes */
	struct floe_top_view_opts v = {.key = FLOE_TOPK_FLOW, .sort = FLOE_TOPC_BYTES};
	TAP_CHECK(floe_top_view(t, &v, rows, 16, &nr, &tot) == FLOE_OK && nr == 5, "five flows (%zu)", nr);
	TAP_CHECK(rows[0].rec.sbytes == 1500 && rows[0].rec.spkts == 15 && rows[0].rec.trans == 2 &&
	          rows[0].rec.stime == 100 * S && rows[0].rec.ltime == 102 * S, "a flow's records merged");
	TAP_CHECK(rows[0].bps == 1500 * 8 / 10.0 && rows[0].pps == 1.5, "its rate over the interval: %g %g",
	          rows[0].bps, rows[0].pps);
	TAP_CHECK(tot.flows == 5 && tot.groups == 5 && tot.bytes == 2180 && tot.pkts == 22 &&
	          tot.records == 6 && tot.bps == 2180 * 8 / 10.0, "totals of flows");
	/* by saddr: four sources, 10.0.0.1 with two flows */
	v.key = FLOE_TOPK_SADDR;
	TAP_CHECK(floe_top_view(t, &v, rows, 16, &nr, &tot) == FLOE_OK && nr == 4 && tot.groups == 4,
	          "four sources");
	TAP_CHECK(rows[0].flows == 2 && rows[0].rec.sbytes == 1800 && rows[0].rec.dport == 0,
	          "a source's flows summed, other fields cleared");
	/* by dport: 5353 over IPv4 and IPv6 is one group */
	v.key = FLOE_TOPK_DPORT;
	v.sort = FLOE_TOPC_DPORT;
	v.asc = true;
	TAP_CHECK(floe_top_view(t, &v, rows, 16, &nr, &tot) == FLOE_OK && nr == 4, "four ports (%zu)", nr);
	TAP_CHECK(rows[0].rec.dport == 53 && rows[1].rec.dport == 80 && rows[2].rec.dport == 443 &&
	          rows[3].rec.dport == 5353 && rows[3].flows == 2 && rows[3].rec.sbytes == 300,
	          "ports ascending, 5353 one group of v4 and v6");
	/* by proto, with a predicate: udp only */
	v = (struct floe_top_view_opts){.key = FLOE_TOPK_PROTO, .sort = FLOE_TOPC_PKTS, .match = only_udp};
	TAP_CHECK(floe_top_view(t, &v, rows, 16, &nr, &tot) == FLOE_OK && nr == 1 && rows[0].rec.proto == 17 &&
	          rows[0].flows == 3 && tot.bytes == 380, "the predicate keeps udp");
	/* cap on rows returned, totals of all */
	v = (struct floe_top_view_opts){.key = FLOE_TOPK_FLOW, .sort = FLOE_TOPC_PKTS, .asc = true};
	TAP_CHECK(floe_top_view(t, &v, rows, 2, &nr, &tot) == FLOE_OK && nr == 2 && tot.groups == 5 &&
	          rows[0].rec.spkts == 1 && rows[1].rec.spkts == 1, "two rows of five, fewest packets first");
	TAP_CHECK(memcmp(rows[0].rec.saddr, r[5].saddr, 16) == 0 || memcmp(rows[0].rec.saddr, r[3].saddr, 16) == 0,
	          "ties in key order");
	/* a quiet interval: rates fall to 0, counters stay */
	floe_top_tick(t, 120 * S);
	v = (struct floe_top_view_opts){.key = FLOE_TOPK_FLOW, .sort = FLOE_TOPC_BYTES};
	TAP_CHECK(floe_top_view(t, &v, rows, 16, &nr, &tot) == FLOE_OK && tot.bps == 0 && tot.bytes == 2180,
	          "quiet interval: no rate, same counters");
	/* a tick that goes back changes nothing */
	floe_top_tick(t, 90 * S);
	struct floe_top_stats st;
	floe_top_stats(t, &st);
	TAP_CHECK(st.interval == 10 && st.records == 6 && st.flows == 5 && st.evicted == 0, "stats");
	floe_top_clear(t);
	floe_top_stats(t, &st);
	TAP_CHECK(floe_top_view(t, &v, rows, 16, &nr, &tot) == FLOE_OK && nr == 0 && st.flows == 0, "cleared");
	floe_top_destroy(t);
	TAP_CHECK(bu.used == 0, "budget returned");
}

static void test_eviction(void)
{
	struct floe_top_opts o = {.max_flows = 3};
	struct floe_errbuf eb = {0};
	struct floe_top *t = floe_top_create(&o, &eb);
	struct floe_flow r[16];
	load(r);
	/* flows A B C, then A again (now the newest), then D: B, the idlest, goes */
	enum floe_err e = FLOE_OK;
	const int order[] = {0, 2, 3, 1, 4};
	for (size_t i = 0; i < 5 && e == FLOE_OK; i++)
		e = floe_top_add(t, &r[order[i]]);
	struct floe_top_stats st;
	floe_top_stats(t, &st);
	TAP_CHECK(e == FLOE_OK && st.flows == 3 && st.evicted == 1, "full table evicts one (%llu)",
	          (unsigned long long)st.evicted);
	struct floe_top_row rows[8];
	struct floe_top_totals tot;
	size_t nr;
	struct floe_top_view_opts v = {.key = FLOE_TOPK_FLOW, .sort = FLOE_TOPC_DPORT, .asc = true};
	TAP_CHECK(floe_top_view(t, &v, rows, 8, &nr, &tot) == FLOE_OK && nr == 3 && rows[0].rec.dport == 53 &&
	          rows[1].rec.dport == 80 && rows[2].rec.dport == 5353 && rows[1].rec.sbytes == 1500,
	          "the idlest flow (443) went; the one seen again stayed");
	/* thousands of flows through a table of three */
	for (uint32_t i = 0; i < 5000 && e == FLOE_OK; i++) {
		struct floe_flow f = r[0];
		f.sport = (uint16_t)i;
		e = floe_top_add(t, &f);
	}
	floe_top_stats(t, &st);
	TAP_CHECK(e == FLOE_OK && st.flows == 3 && st.evicted == 5001, "a flood stays in three rows");
	floe_top_destroy(t);

	/* a budget that holds the buckets but no rows: NOMEM, no crash */
	struct floe_budget bu;
	floe_budget_init(&bu, 5000);
	o = (struct floe_top_opts){.max_flows = 10, .budget = &bu};
	t = floe_top_create(&o, &eb);
	TAP_CHECK(t && floe_top_add(t, &r[0]) == FLOE_NOMEM, "no room for a row: NOMEM");
	floe_top_destroy(t);
	TAP_CHECK(floe_top_key_parse("saddr") == FLOE_TOPK_SADDR && floe_top_key_parse("x") == -1 &&
	          strcmp(floe_top_key_name(FLOE_TOPK_DPORT), "dport") == 0, "key names");
}

/* Each allocation failing in turn: NOMEM from create, add or view, never
 * a crash or a leak; the table keeps working after. */
static void test_nomem(void)
{
	struct floe_flow r[16];
	size_t n = load(r);
	int nomem = 0, ok = 0, wrong = 0;
	for (long k = 0; k < 60; k++) {
		struct floe_errbuf eb = {0};
		struct floe_top_opts o = {.max_flows = 4};
		floe_mem_fail_after(k);
		struct floe_top *t = floe_top_create(&o, &eb);
		enum floe_err e = t ? FLOE_OK : eb.code, first = FLOE_OK;
		for (size_t i = 0; t && i < n; i++)
			if ((e = floe_top_add(t, &r[i])) != FLOE_OK && first == FLOE_OK)
				first = e;
		struct floe_top_row rows[8];
		struct floe_top_totals tot;
		size_t nr = 0;
		struct floe_top_view_opts v = {.key = FLOE_TOPK_SADDR, .sort = FLOE_TOPC_BYTES};
		if (t && (e = floe_top_view(t, &v, rows, 8, &nr, &tot)) != FLOE_OK && first == FLOE_OK)
			first = e;
		if (!t)
			first = e;
		floe_mem_fail_after(-1);
		if (first == FLOE_OK)
			ok++;
		else if (first == FLOE_NOMEM)
			nomem++;
		else
			wrong++;
		floe_top_destroy(t);
	}
	TAP_CHECK(nomem > 0 && ok > 0 && wrong == 0, "allocations failing in turn: %d NOMEM, %d fine, %d wrong",
	          nomem, ok, wrong);
}

int main(void)
{
	test_nomem();
	test_views();
	test_eviction();
	return tap_done();
}
