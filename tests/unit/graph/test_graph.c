/* test_graph.c - chart axes (ticks, values with units, time labels) and
 * the series of graph.h against hand-computed sums. */
#include "tap.h"
#include "flow.h"
#include "graph/axis.h"
#include "graph/graph.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S 1000000000LL

/* y axis: range and tick count -> the labels, '|' between them */
static const struct {
	double lo, hi;
	unsigned maxn;
	const char *unit;
	const char *labels;
} yaxes[] = {
	{0, 356000, 5, "B", "0|100 kB|200 kB|300 kB|400 kB"},
	{0, 1, 5, "B", "0|0.2 B|0.4 B|0.6 B|0.8 B|1.0 B"},
	{0, 7, 5, "", "0|2|4|6|8"},
	{0, 2.3e9, 5, "bit/s", "0|0.5 Gbit/s|1.0 Gbit/s|1.5 Gbit/s|2.0 Gbit/s|2.5 Gbit/s"},
	{0, 9.5e6, 4, "pkt/s", "0|2.5 Mpkt/s|5.0 Mpkt/s|7.5 Mpkt/s|10.0 Mpkt/s"},
	{0, 12500, 6, "", "0|2.5k|5.0k|7.5k|10.0k|12.5k"},
	{0, 999, 3, "B", "0|0.5 kB|1.0 kB"},
	{0, 1001, 3, "B", "0|0.5 kB|1.0 kB|1.5 kB"},
	{0, 0.35, 4, "pkt/s", "0|0.1 pkt/s|0.2 pkt/s|0.3 pkt/s|0.4 pkt/s"},
	{0, 4.2e12, 4, "B", "0|2 TB|4 TB|6 TB"},
	{0, 0, 5, "B", "0|1 B"},
	{0, 86, 10, "", "0|10|20|30|40|50|60|70|80|90"},
	{0, 48, 2, "bit/s", "0|25 bit/s|50 bit/s"},
};

/* one value alone, 3 significant digits */
static const struct {
	double v;
	const char *unit;
	const char *out;
} values[] = {
	{0, "B", "0 B"},
	{950, "B", "950 B"},
	{1234, "B", "1.23 kB"},
	{4470, "B", "4.47 kB"},
	{712000, "B", "712 kB"},
	{999960, "B", "1 MB"},
	{1.5e9, "bit/s", "1.5 Gbit/s"},
	{12500, "", "12.5k"},
	{5.05, "bit/s", "5.05 bit/s"},
	{0.375, "pkt/s", "0.38 pkt/s"},
	{3e15, "B", "3 PB"},
};

/* time axis: [t0, t1], maxn -> step and the ticks' labels (date lines
 * in brackets) */
static const struct {
	int64_t t0, t1;
	unsigned maxn;
	int64_t step;
	const char *labels;
} xaxes[] = {
	/* 2017-01-13 14:50:30 .. 14:52:10 */
	{1484319030 * S, 1484319130 * S, 9, 15 * S,
	 "14:50:30[2017-01-13]|14:50:45|14:51:00|14:51:15|14:51:30|14:51:45|14:52:00"},
	/* an hour in 5 minutes */
	{1749794400 * S, 1749798000 * S, 12, 300 * S,
	 "06:00[2025-06-13]|06:05|06:10|06:15|06:20|06:25|06:30|06:35|06:40|06:45|06:50|06:55|07:00"},
	/* a day from 06:00, in 3 h steps: the date again at midnight */
	{1749794400 * S, 1749880800 * S, 8, 3 * 3600 * S,
	 "06:00[2025-06-13]|09:00|12:00|15:00|18:00|21:00|00:00[2025-06-14]|03:00|06:00"},
	/* a week: one tick a day, dates */
	{1749772800 * S, 1750377600 * S, 8, 86400 * S,
	 "2025-06-13|2025-06-14|2025-06-15|2025-06-16|2025-06-17|2025-06-18|2025-06-19|2025-06-20"},
	/* 90 s in 10 s steps, starting off a tick */
	{1749794405 * S, 1749794495 * S, 10, 10 * S,
	 "06:00:10[2025-06-13]|06:00:20|06:00:30|06:00:40|06:00:50|06:01:00|06:01:10|06:01:20|06:01:30"},
	/* 2 days in 12 h */
	{1749772800 * S, 1749945600 * S, 4, 12 * 3600 * S,
	 "00:00[2025-06-13]|12:00|00:00[2025-06-14]|12:00|00:00[2025-06-15]"},
};

static const struct {
	int64_t ns;
	const char *out;
} durs[] = {
	{300 * S, "5 min"}, {10 * S, "10 s"}, {3600 * S, "1 h"}, {5400 * S, "1.5 h"},
	{86400 * S, "1 d"}, {250000000, "250 ms"}, {7 * 86400 * S, "7 d"},
};

static void test_axes(void)
{
	for (size_t i = 0; i < sizeof(yaxes) / sizeof(yaxes[0]); i++) {
		double t[64], step;
		size_t n = floe_axis_ticks(yaxes[i].lo, yaxes[i].hi, yaxes[i].maxn, t, 64, &step);
		char got[512] = "";
		for (size_t k = 0; k < n; k++) {
			char s[48];
			floe_axis_format(t[k], t[n - 1], step, yaxes[i].unit, s, sizeof(s));
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "|" : "", s);
		}
		TAP_CHECK(strcmp(got, yaxes[i].labels) == 0, "y axis %g..%g /%u: '%s'", yaxes[i].lo,
		          yaxes[i].hi, yaxes[i].maxn, got);
		TAP_CHECK(n >= 2 && t[n - 1] >= yaxes[i].hi && n - 1 <= (yaxes[i].maxn ? yaxes[i].maxn : 1),
		          "y axis %g..%g covers the range in at most %u steps", yaxes[i].lo, yaxes[i].hi,
		          yaxes[i].maxn);
	}
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char s[48];
		floe_axis_format_value(values[i].v, values[i].unit, s, sizeof(s));
		TAP_CHECK(strcmp(s, values[i].out) == 0, "value %g %s: '%s'", values[i].v, values[i].unit, s);
	}
	for (size_t i = 0; i < sizeof(xaxes) / sizeof(xaxes[0]); i++) {
		int64_t t[64], step;
		size_t n = floe_axis_time_ticks(xaxes[i].t0, xaxes[i].t1, xaxes[i].maxn, t, 64, &step);
		char got[512] = "";
		for (size_t k = 0; k < n; k++) {
			char m[32], d[32];
			floe_axis_time_label(t[k], step, k ? t[k - 1] : INT64_MIN, m, sizeof(m), d, sizeof(d));
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s%s%s%s", k ? "|" : "", m,
			         *d ? "[" : "", d, *d ? "]" : "");
		}
		TAP_CHECK(step == xaxes[i].step && strcmp(got, xaxes[i].labels) == 0,
		          "time axis %zu: step %lld, '%s'", i, (long long)(step / S), got);
	}
	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		char s[32];
		floe_axis_dur(durs[i].ns, s, sizeof(s));
		TAP_CHECK(strcmp(s, durs[i].out) == 0, "duration %lld ns: '%s'", (long long)durs[i].ns, s);
	}
}

/* ---- the series ---- */

static struct floe_flow rec(int64_t stime, int64_t ltime, uint8_t proto, uint16_t dport,
                            uint64_t bytes, uint64_t pkts)
{
	struct floe_flow f = {0};
	static const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
	floe_addr_from_v4(f.saddr, a);
	floe_addr_from_v4(f.daddr, b);
	f.ipver = 4;
	f.etype = 0x0800;
	f.stime = stime;
	f.ltime = ltime;
	f.proto = proto;
	f.dport = dport;
	f.sbytes = bytes;
	f.spkts = pkts;
	f.trans = 1;
	return f;
}

/* Writes the chart's JSON to a string (caller frees). */
static char *json_of(struct floe_graph *g, enum floe_err *e)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	*e = floe_graph_json(g, fp);
	fclose(fp);
	return buf;
}

static char *svg_of(struct floe_graph *g, enum floe_err *e)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	*e = floe_graph_svg(g, fp);
	fclose(fp);
	return buf;
}

static void test_series(void)
{
	/* three bins of 60 s from 1000 s; records: tcp/80 in bin 0 (600 B),
	 * udp/53 over 90 s (300 B: 50 s in [1020, 1080) -> floor(300 * 50 / 90)
	 * = 166, the rest 134 in the next), icmp (50 B) and tcp/443 (7 B) later;
	 * the bins start at 960, the multiple of 60 s before t0 */
	struct floe_budget bu;
	floe_budget_init(&bu, 64u << 20);
	struct floe_graph_opts o = {.t0 = 1000 * S, .t1 = 1180 * S, .bin = 60 * S,
	                            .metric = FLOE_GM_BYTES, .by = "proto", .top = 2, .stacked = true,
	                            .vs = "port 53", .budget = &bu};
	struct floe_errbuf eb = {0};
	struct floe_graph *g = floe_graph_create(&o, &eb);
	TAP_CHECK(g != NULL, "create: %s", eb.msg);
	if (!g)
		return;
	struct floe_flow r[] = {
		rec(1010 * S, 1020 * S, 6, 80, 600, 6),
		rec(1030 * S, 1120 * S, 17, 53, 300, 3),
		rec(1130 * S, 1130 * S, 1, 0, 50, 1),
		rec(1140 * S, 1150 * S, 6, 443, 7, 1),
		rec(5000 * S, 5001 * S, 6, 80, 1000000, 1),  /* outside the period */
	};
	enum floe_err e = FLOE_OK;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]) && e == FLOE_OK; i++)
		e = floe_graph_add(g, &r[i]);
	if (e == FLOE_OK)
		e = floe_graph_add_vs(g, &r[1]);
	TAP_CHECK(e == FLOE_OK, "add: %s", floe_graph_error(g));
	char *js = json_of(g, &e);
	const char *want =
		"{\"title\":\"Bytes per 1 min by proto, port 53 against the total\",\"metric\":\"bytes\","
		"\"unit\":\"B\",\"bin\":60,\"start\":960,\"nbins\":4,\"by\":\"proto\",\"stacked\":true,"
		"\"times\":[960,1020,1080,1140],\"series\":["
		"{\"label\":\"tcp\",\"total\":607,\"values\":[600,0,0,7]},"
		"{\"label\":\"udp\",\"total\":300,\"values\":[0,166,134,0]},"
		"{\"label\":\"other\",\"other\":true,\"total\":50,\"values\":[0,0,50,0]}],"
		"\"total\":{\"label\":\"total\",\"total\":957,\"values\":[600,166,184,7]},"
		"\"vs\":{\"label\":\"port 53\",\"total\":300,\"values\":[0,166,134,0]}}\n";
	TAP_CHECK(e == FLOE_OK && js && strcmp(js, want) == 0, "json of three series");
	if (js && strcmp(js, want) != 0)
		TAP_DIAG("got %s", js);
	free(js);
	/* adding after drawing is refused; drawing again works */
	TAP_CHECK(floe_graph_add(g, &r[0]) == FLOE_INVALID, "add after drawing: INVALID");
	floe_graph_destroy(g);
	TAP_CHECK(bu.used == 0, "budget returned (%zu bytes left)", bu.used);

	/* SVG: escaped title, bytes that are not UTF-8 replaced, values in
	 * data attributes; a rate metric */
	o = (struct floe_graph_opts){.t0 = 1000 * S, .t1 = 1180 * S, .bin = 60 * S,
	                             .metric = FLOE_GM_BPS, .title = "a<b & \"c\" \xff\x01 d\xc3\xa9\xed\xa0\x80\xe2\x82\xac\xef\xbf\xbe",
	                             .budget = &bu};
	g = floe_graph_create(&o, &eb);
	TAP_CHECK(g != NULL, "create: %s", eb.msg);
	if (!g)
		return;
	for (size_t i = 0; i < 4; i++)
		if (floe_graph_add(g, &r[i]) != FLOE_OK)
			TAP_DIAG("add: %s", floe_graph_error(g));
	char *svg = svg_of(g, &e);
	TAP_CHECK(e == FLOE_OK && svg, "svg written");
	TAP_CHECK(svg && strstr(svg, "<title>a&lt;b &amp; &quot;c&quot; ?? d\xc3\xa9???\xe2\x82\xac???" "</title>"),
	          "title escaped");
	TAP_CHECK(svg && strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\""), "SVG namespace");
	TAP_CHECK(svg && strstr(svg, "data-label=\"total\" data-total=\"31.9\" "
	                        "data-values=\"80 22.1333333333333 24.5333333333333 0.933333333333333\""),
	          "bit/s per bin in data-values");
	free(svg);
	floe_graph_destroy(g);

	/* bad options */
	struct floe_graph_opts bad[] = {
		{.bin = S / 2},
		{.bin = 60 * S, .by = "bytes"},
		{.bin = 60 * S, .by = "saddr/200"},
		{.bin = 60 * S, .by = "laddr"},
		{.bin = 60 * S, .by = "proto", .top = FLOE_GRAPH_MAX_TOP + 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		floe_errbuf_clear(&eb);
		g = floe_graph_create(&bad[i], &eb);
		TAP_CHECK(!g && eb.code == FLOE_INVALID, "bad options %zu refused: %s", i, eb.msg);
		floe_graph_destroy(g);
	}

	/* too many bins: LIMIT, with a message */
	o = (struct floe_graph_opts){.t0 = 0, .t1 = 100000 * S, .bin = S};
	g = floe_graph_create(&o, &eb);
	char *none = g ? json_of(g, &e) : NULL;
	TAP_CHECK(g && e == FLOE_LIMIT && strstr(floe_graph_error(g), "100000 bins"), "LIMIT: %s",
	          g ? floe_graph_error(g) : "");
	free(none);
	floe_graph_destroy(g);
}

/* Each allocation failing in turn: create, add or draw reports NOMEM (or
 * the cluster spills and the chart is right), never a crash or a leak. */
static void test_nomem(void)
{
	struct floe_graph_opts o = {.t0 = 1000 * S, .t1 = 1180 * S, .bin = 60 * S,
	                            .metric = FLOE_GM_PKTS, .by = "proto dport", .top = 2,
	                            .vs = "tcp"};
	struct floe_flow r[] = {
		rec(1010 * S, 1020 * S, 6, 80, 600, 6),
		rec(1030 * S, 1120 * S, 17, 53, 300, 3),
		rec(1130 * S, 1130 * S, 1, 0, 50, 1),
		rec(1140 * S, 1150 * S, 6, 443, 7, 1),
	};
	char *want = NULL;
	int same = 0, nomem = 0, wrong = 0;
	for (long k = -1; k < 400; k++) {
		struct floe_errbuf eb = {0};
		floe_mem_fail_after(k);
		struct floe_graph *g = floe_graph_create(&o, &eb);
		enum floe_err e = g ? FLOE_OK : eb.code;
		for (size_t i = 0; g && e == FLOE_OK && i < sizeof(r) / sizeof(r[0]); i++) {
			e = floe_graph_add(g, &r[i]);
			if (e == FLOE_OK && r[i].proto == 6)
				e = floe_graph_add_vs(g, &r[i]);
		}
		char *js = NULL, *svg = NULL;
		if (e == FLOE_OK)
			js = json_of(g, &e);
		if (e == FLOE_OK)
			svg = svg_of(g, &e);
		floe_mem_fail_after(-1);
		if (k < 0)
			want = js, js = NULL;
		else if (e == FLOE_OK && js && want && strcmp(js, want) == 0)
			same++;
		else if (e == FLOE_NOMEM)
			nomem++;
		else
			wrong++;
		free(js);
		free(svg);
		floe_graph_destroy(g);
	}
	TAP_CHECK(want && wrong == 0 && nomem > 0 && same > 0,
	          "allocations failing in turn: %d NOMEM, %d right, %d wrong", nomem, same, wrong);
	free(want);
}

int main(void)
{
	test_axes();
	test_series();
	test_nomem();
	return tap_done();
}
