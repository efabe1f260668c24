/*
 * test_collect.c - the collector against hand-built datagrams
 * (tests/data/collect/cases.txt, written by mkcases.py): each case feeds
 * its datagrams to a fresh collector and checks the records' fields and
 * the counters, one TAP point per expectation.
 */
#include "collect/collect.h"
#include "collect/collect_int.h"
#include "tap.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECS 64
#define MAX_LINES 64

struct got {
	struct floe_flow recs[MAX_RECS];
	size_t n;
};

static enum floe_err emit(void *ctx, const struct floe_flow *f)
{
	struct got *g = ctx;
	if (g->n < MAX_RECS)
		g->recs[g->n] = *f;
	g->n++;
	return FLOE_OK;
}

static void addr_str(const uint8_t a[16], char *buf)
{
	if (floe_addr_is_v4(a))
		inet_ntop(AF_INET, a + 12, buf, 64);
	else
		inet_ntop(AF_INET6, a, buf, 64);
}

/* The value of a record field as text, or NULL if the name is unknown. */
static const char *rec_field(const struct floe_flow *f, const char *name, char *buf)
{
#define U(m) if (strcmp(name, #m) == 0) { snprintf(buf, 64, "%" PRIu64, (uint64_t)f->m); return buf; }
#define S(m) if (strcmp(name, #m) == 0) { snprintf(buf, 64, "%" PRId64, (int64_t)f->m); return buf; }
#define A(m) if (strcmp(name, #m) == 0) { addr_str(f->m, buf); return buf; }
	A(saddr) A(daddr) A(nexthop) A(exporter)
	U(sport) U(dport) U(proto) U(spkts) U(sbytes) U(dpkts) U(dbytes) U(inif) U(outif) U(sas)
	U(das) U(stcpflags) U(dtcpflags) U(stos) U(sensor) U(sampling) U(flags) U(ipver)
	S(stime) S(ltime)
#undef U
#undef S
#undef A
	return NULL;
}

static bool stat_field(const struct floe_collect_source_stats *s, const char *name, uint64_t *v)
{
#define F(m) if (strcmp(name, #m) == 0) { *v = (uint64_t)s->m; return true; }
	F(datagrams) F(records) F(option_records) F(malformed) F(no_template) F(templates)
	F(withdrawn) F(expired) F(template_refused) F(restarts) F(seq_lost) F(seq_reordered)
	F(sampled_records) F(skewed) F(template_count)
#undef F
	return false;
}

static bool total_field(const struct floe_collect_stats *s, const char *name, uint64_t *v)
{
#define F(m) if (strcmp(name, #m) == 0) { *v = (uint64_t)s->m; return true; }
	F(datagrams) F(records) F(malformed) F(sources) F(sources_refused)
#undef F
	return false;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;
	while (h[0] && h[1] && n < cap) {
		unsigned v;
		if (sscanf(h, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

struct tcase {
	char name[128];
	char *dgrams[MAX_LINES];
	size_t nd;
	char *expects[MAX_LINES];
	size_t ne;
};

static void run_case(struct tcase *tc)
{
	struct floe_collect_config cfg;
	floe_collect_config_default(&cfg);
	for (size_t i = 0; i < tc->ne; i++) {
		unsigned long v;
		if (sscanf(tc->expects[i], "config max_templates=%lu", &v) == 1)
			cfg.max_templates = (uint32_t)v;
		if (sscanf(tc->expects[i], "config source_memory=%lu", &v) == 1)
			cfg.source_memory = v;
	}
	struct got *g = calloc(1, sizeof(*g));
	enum floe_err err;
	struct floe_collector *c = floe_collect_create(&cfg, emit, g, &err);
	if (!c) {
		TAP_CHECK(0, "%s: create", tc->name);
		free(g);
		return;
	}
	static uint8_t buf[70000];
	for (size_t i = 0; i < tc->nd; i++) {
		char exp[64], *hex;
		long long recv;
		char *line = tc->dgrams[i];
		if (sscanf(line, "dgram %63s %lld", exp, &recv) != 2) {
			TAP_CHECK(0, "%s: bad dgram line", tc->name);
			continue;
		}
		hex = strrchr(line, ' ') + 1;
		if (strcmp(hex, "") == 0 || hex == line)
			hex = "";
		/* an empty datagram has no hex word: three words only */
		int words = 0;
		for (char *p = line; *p; p++)
			words += *p == ' ';
		size_t n = words >= 3 ? unhex(hex, buf, sizeof(buf)) : 0;
		uint8_t ex[16] = {0};
		uint8_t v4[4];
		if (inet_pton(AF_INET, exp, v4) == 1)
			floe_addr_from_v4(ex, v4);
		else
			inet_pton(AF_INET6, exp, ex);
		(void)!floe_collect_input(c, buf, n, ex, recv * 1000000000LL);
	}
	struct floe_collect_source_stats ss[8];
	memset(ss, 0, sizeof(ss));
	floe_collect_sources(c, ss, 8);
	struct floe_collect_stats ts;
	floe_collect_stats(c, &ts);
	for (size_t i = 0; i < tc->ne; i++) {
		char *e = tc->expects[i];
		if (strncmp(e, "config ", 7) == 0)
			continue;
		if (strncmp(e, "records ", 8) == 0) {
			size_t want = strtoul(e + 8, NULL, 10);
			TAP_CHECK(g->n == want, "%s: %zu records (got %zu)", tc->name, want, g->n);
			continue;
		}
		char kind[16];
		int off = 0;
		size_t idx = 0;
		if (sscanf(e, "rec %zu %n", &idx, &off) == 1)
			strcpy(kind, "rec");
		else if (sscanf(e, "%15s %n", kind, &off) != 1)
			continue;
		char *p = e + off;
		char *save;
		for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(tok, '=');
			if (!eq)
				continue;
			*eq = '\0';
			const char *want = eq + 1;
			char vb[64];
			if (strcmp(kind, "rec") == 0) {
				const char *have = idx < g->n && idx < MAX_RECS ? rec_field(&g->recs[idx], tok, vb) : NULL;
				TAP_CHECK(have && strcmp(have, want) == 0, "%s: record %zu %s=%s (got %s)",
				          tc->name, idx, tok, want, have ? have : "nothing");
			} else {
				uint64_t v = 0;
				bool ok = strcmp(kind, "stat") == 0 ? stat_field(&ss[0], tok, &v)
				                                     : total_field(&ts, tok, &v);
				TAP_CHECK(ok && v == strtoull(want, NULL, 10), "%s: %s %s=%s (got %" PRIu64 ")",
				          tc->name, kind, tok, want, v);
			}
			*eq = '=';
		}
	}
	floe_collect_destroy(c);
	free(g);
}

/* The element table is searched by halves: every element it maps must be
 * found (an entry out of order would hide others). */
static void test_ie_table(void)
{
	static const struct { uint16_t id; const char *name; } known[] = {
		{1, "octetDeltaCount"}, {8, "sourceIPv4Address"}, {27, "sourceIPv6Address"},
		{56, "sourceMacAddress"}, {80, "destinationMacAddress"}, {85, "octetTotalCount"},
		{152, "flowStartMilliseconds"}, {156, "flowStartNanoseconds"},
		{256, "ethernetType"}, {302, "selectorId"},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		TAP_CHECK(strcmp(floe_ie_name(known[i].id), known[i].name) == 0,
		          "element %u is %s", known[i].id, known[i].name);
	TAP_CHECK(floe_ie_name(3)[0] == '\0', "element 3 is not mapped");
}

/* RFC 5655 files: messages one after the other; each damage has its
 * outcome. */
static void test_ipfix_file(void)
{
	static uint8_t file[64], m[FLOE_IPFIX_MSG_MAX];
	/* two empty messages: 16 and 20 bytes, export times 1 and 2 */
	static const uint8_t two[36] = {0, 10, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7,
	                                0, 10, 0, 20, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7,
	                                0, 0, 0, 0};
	static const struct {
		const char *name;
		size_t len;       /* bytes of two[] in the file */
		uint8_t patch_at, patch;
		enum floe_err first, second;
	} cases[] = {
		{"two messages", 36, 0, 0, FLOE_OK, FLOE_OK},
		{"cut inside the second header", 20, 0, 0, FLOE_OK, FLOE_TRUNCATED},
		{"cut inside the second message", 34, 0, 0, FLOE_OK, FLOE_TRUNCATED},
		{"version 9 second", 36, 17, 9, FLOE_OK, FLOE_MALFORMED},
		{"length under 16", 36, 3, 15, FLOE_MALFORMED, FLOE_MALFORMED},
		{"empty file", 0, 0, 0, FLOE_EOF, FLOE_EOF},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(file, two, sizeof(two));
		if (cases[i].patch_at)
			file[cases[i].patch_at] = cases[i].patch;
		FILE *f = cases[i].len ? fmemopen(file, cases[i].len, "rb") : fopen("/dev/null", "rb");
		size_t len = 0, len2 = 0;
		int64_t t = 0, t2 = 0;
		enum floe_err e1 = f ? floe_ipfix_file_next(f, m, &len, &t) : FLOE_IO;
		enum floe_err e2 = e1 == FLOE_OK ? floe_ipfix_file_next(f, m, &len2, &t2) : e1;
		enum floe_err e3 = e2 == FLOE_OK ? floe_ipfix_file_next(f, m, &len2, &t2) : FLOE_EOF;
		TAP_CHECK(e1 == cases[i].first && e2 == cases[i].second && e3 == FLOE_EOF &&
		              (e1 != FLOE_OK || (len == 16 && t == 1000000000)) &&
		              (e2 != FLOE_OK || (len2 == 20 && t2 == 2000000000)),
		          "ipfix file, %s: %s then %s", cases[i].name, floe_strerror(e1),
		          floe_strerror(e2));
		if (f)
			fclose(f);
	}
}

int main(void)
{
	test_ie_table();
	test_ipfix_file();
	char path[4096];
	snprintf(path, sizeof(path), "%s/collect/cases.txt", test_data_dir());
	FILE *f = fopen(path, "r");
	TAP_CHECK(f != NULL, "open %s", path);
	if (!f)
		return tap_done();
	static char line[200000];
	struct tcase tc;
	memset(&tc, 0, sizeof(tc));
	bool in = false;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "case ", 5) == 0) {
			if (in)
				run_case(&tc);
			for (size_t i = 0; i < tc.nd; i++)
				free(tc.dgrams[i]);
			for (size_t i = 0; i < tc.ne; i++)
				free(tc.expects[i]);
			memset(&tc, 0, sizeof(tc));
			snprintf(tc.name, sizeof(tc.name), "%.100s", line + 5);
			in = true;
		} else if (strncmp(line, "dgram ", 6) == 0 && tc.nd < MAX_LINES) {
			tc.dgrams[tc.nd++] = strdup(line);
		} else if (strncmp(line, "expect ", 7) == 0 && tc.ne < MAX_LINES) {
			tc.expects[tc.ne++] = strdup(line + 7);
		}
	}
	if (in)
		run_case(&tc);
	for (size_t i = 0; i < tc.nd; i++)
		free(tc.dgrams[i]);
	for (size_t i = 0; i < tc.ne; i++)
		free(tc.expects[i]);
	fclose(f);

	/* detection of the first bytes */
	static const struct {
		const char *name;
		uint8_t b[4];
		size_t len;
		enum floe_collect_proto want;
	} det[] = {
		{"netflow5", {0, 5, 0, 1}, 4, FLOE_COLLECT_NF5},
		{"sflow5", {0, 0, 0, 5}, 4, FLOE_COLLECT_SFLOW},
		{"netflow5 count 0", {0, 5, 0, 0}, 4, FLOE_COLLECT_UNKNOWN},
		{"netflow9", {0, 9, 0, 0}, 4, FLOE_COLLECT_NF9},
		{"ipfix", {0, 10, 0, 16}, 4, FLOE_COLLECT_IPFIX},
		{"short", {0, 9}, 2, FLOE_COLLECT_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(det) / sizeof(det[0]); i++)
		TAP_CHECK(floe_collect_detect(det[i].b, det[i].len) == det[i].want, "detect %s",
		          det[i].name);
	return tap_done();
}
