/* test_query.c - cluster, sort/top-N, bins and distinct counts on small
 * hand-made record sets with golden outputs, the HyperLogLog error bound,
 * and spilling under a tiny budget giving the unbudgeted answer. */
#include "tap.h"
#include "field.h"
#include "query/cluster.h"
#include "query/hll.h"
#include "query/local.h"
#include "query/merge.h"
#include "query/sort.h"
#include "util/addr.h"
#include "util/mem.h"
#include "util/netset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Calls whose result the test checks otherwise (by the values). */
static int ignored_errors;
#define IGN(x) do { if ((x) != FLOE_OK) ignored_errors++; } while (0)

#define S 1000000000LL
#define T0 (1700000000LL * S)

struct rec {
	const char *sa, *da;
	unsigned proto, sport, dport;
	uint64_t spkts, dpkts, sbytes, dbytes;
	int64_t st, dur;      /* seconds after T0 */
	unsigned vlan, state, mac;
};

/* Six records: two flows of 10.0.0.1, one of 10.0.0.2, one of 10.0.1.9, an
 * IPv6 pair and a UDP flow with a VLAN. */
static const struct rec recs[] = {
	{"10.0.0.1", "192.168.1.1", 6, 1000, 80, 10, 8, 1000, 5000, 0, 10, 0, FLOE_ST_CON, 1},
	{"10.0.0.1", "192.168.1.1", 6, 1000, 80, 2, 2, 200, 300, 10, 5, 0, FLOE_ST_FIN, 1},
	{"10.0.0.1", "192.168.1.2", 6, 1001, 443, 4, 0, 240, 0, 20, 0, 0, FLOE_ST_REQ, 2},
	{"10.0.0.2", "192.168.1.1", 17, 53, 53, 1, 1, 80, 120, 30, 1, 7, FLOE_ST_CON, 1},
	{"10.0.1.9", "192.168.1.1", 6, 2000, 80, 3, 3, 300, 900, 65, 60, 0, FLOE_ST_RST, 1},
	{"2001:db8:1:2::5", "2001:db8:9::1", 6, 3000, 22, 5, 5, 500, 600, 5, 1, 0, FLOE_ST_CON, 2},
};
#define NRECS (sizeof(recs) / sizeof(recs[0]))

static struct floe_flow mk(const struct rec *r)
{
	struct floe_flow f = {0};
	floe_addr_parse(r->sa, f.saddr);
	floe_addr_parse(r->da, f.daddr);
	f.ipver = floe_addr_is_v4(f.saddr) ? 4 : 6;
	f.etype = f.ipver == 4 ? FLOE_ETH_IPV4 : FLOE_ETH_IPV6;
	f.proto = (uint8_t)r->proto;
	f.sport = (uint16_t)r->sport;
	f.dport = (uint16_t)r->dport;
	f.spkts = r->spkts;
	f.dpkts = r->dpkts;
	f.sbytes = r->sbytes;
	f.dbytes = r->dbytes;
	f.stime = T0 + r->st * S;
	f.ltime = f.stime + r->dur * S;
	f.vlan = (uint16_t)r->vlan;
	f.state = (uint8_t)r->state;
	f.trans = 1;
	f.flags = FLOE_F_MAC | (r->vlan ? FLOE_F_VLAN : 0);
	f.smac[5] = (uint8_t)r->mac;
	f.dmac[5] = 0xee;
	return f;
}

/* Collected output: one line per group, fields separated by '|'. */
struct out {
	const struct floe_field *cols[16];
	const struct floe_aggcol *acols;
	size_t ncols;
	char lines[4096][160];
	size_t n;           /* lines kept (the first 4096) */
	uint64_t all, sum;  /* every line: count, sum of FNV-1a hashes */
};

static enum floe_err collect(void *ud, const struct floe_flow *f, const double *extra)
{
	struct out *o = ud;
	struct floe_fmtopts fo = {.timefmt = 1, .prec = 0, .numeric = true};
	char *l = o->lines[o->n < 4096 ? o->n++ : 4095];
	o->all++;
	l[0] = '\0';
	for (size_t i = 0; i < o->ncols; i++) {
		char buf[64];
		if (o->acols && o->acols[i].op != FLOE_AGG_FIELD)
			snprintf(buf, sizeof(buf), "%.2f", extra[i]);
		else
			floe_field_format(o->cols[i], f, &fo, buf, sizeof(buf));
		strcat(l, i ? "|" : "");
		strcat(l, buf);
	}
	uint64_t h = 14695981039346656037ULL;
	for (const char *p = l; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	o->sum += h;
	return FLOE_OK;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Runs a cluster of recs and returns the sorted lines joined by ';'. */
static void run_cluster(const char *keys, int64_t bin, const char *cols, struct floe_budget *b,
                        const struct floe_flow *in, size_t nin, struct out *o, char *joined, size_t jlen)
{
	static struct floe_aggcol ac[16];
	size_t nac = 0;
	struct floe_errbuf eb = {0};
	memset(o, 0, sizeof(*o));
	if (floe_aggcol_parse(cols, ac, 16, &nac, &eb) != FLOE_OK) {
		snprintf(joined, jlen, "ERR %s", eb.msg);
		return;
	}
	for (size_t i = 0; i < nac; i++)
		o->cols[i] = floe_aggcol_field(&ac[i]);
	o->acols = ac;
	o->ncols = nac;
	struct floe_cluster_opts co = {.keys = keys, .bin = bin, .cols = ac, .ncols = nac,
	                               .lean = false, .budget = b};
	struct floe_cluster *c = floe_cluster_create(&co, &eb);
	if (!c) {
		snprintf(joined, jlen, "ERR %s", eb.msg);
		return;
	}
	for (size_t i = 0; i < nin; i++)
		if (floe_cluster_add(c, &in[i]) != FLOE_OK)
			break;
	if (floe_cluster_finish(c, collect, o) != FLOE_OK) {
		snprintf(joined, jlen, "ERR %s", floe_cluster_error(c));
		floe_cluster_destroy(c);
		return;
	}
	floe_cluster_destroy(c);
	qsort(o->lines, o->n, sizeof(o->lines[0]), cmpstr);
	joined[0] = '\0';
	for (size_t i = 0; i < o->n && strlen(joined) + 162 < jlen; i++) {
		strcat(joined, i ? ";" : "");
		strcat(joined, o->lines[i]);
	}
}

static const struct {
	const char *keys;
	int64_t bin;
	const char *cols;
	const char *want;
} golden[] = {
	{"saddr", 0, "saddr trans spkts dpkts sbytes dbytes",
	 "10.0.0.1|3|16|10|1440|5300;10.0.0.2|1|1|1|80|120;10.0.1.9|1|3|3|300|900;2001:db8:1:2::5|1|5|5|500|600"},
	{"saddr/24", 0, "saddr trans bytes stime ltime dur",
	 "10.0.0.0|4|6940|1700000000|1700000031|31;10.0.1.0|1|1200|1700000065|1700000125|60;"
	 "2001:d00::|1|1100|1700000005|1700000006|1"},
	{"saddr/16 daddr/64", 0, "saddr daddr trans pkts",
	 "10.0.0.0|192.168.1.1|4|30;10.0.0.0|192.168.1.2|1|4;2001::|2001:db8:9::|1|10"},
	{"proto", 0, "proto trans bytes %bytes", "17|1|200|2.16;6|5|9040|97.84"},
	{"dport", 0, "dport trans dcount(saddr) dcount(sport)",
	 "22|1|1.00|1.00;443|1|1.00|1.00;53|1|1.00|1.00;80|3|2.00|2.00"},
	{"sport", 0, "sport spkts", "1000|12;1001|4;2000|3;3000|5;53|1"},
	{"smac", 0, "smac trans", "00:00:00:00:00:01|4;00:00:00:00:00:02|2"},
	{"vlan", 0, "vlan trans sbytes", "0|5|2240;7|1|80"},
	{"state", 0, "state trans", "CON|3;FIN|1;REQ|1;RST|1"},
	{"", 0, "trans pkts bytes dcount(daddr) pct(bytes)", "6|44|9240|3.00|100.00"},
	/* flows merged (no keys): the two records of 10.0.0.1:1000 become one */
	{NULL, 0, "saddr sport daddr trans spkts state stime dur smac",
	 "10.0.0.1|1000|192.168.1.1|2|12|FIN|1700000000|15|00:00:00:00:00:01;"
	 "10.0.0.1|1001|192.168.1.2|1|4|REQ|1700000020|0|00:00:00:00:00:02;"
	 "10.0.0.2|53|192.168.1.1|1|1|CON|1700000030|1|00:00:00:00:00:01;"
	 "10.0.1.9|2000|192.168.1.1|1|3|RST|1700000065|60|00:00:00:00:00:01;"
	 "2001:db8:1:2::5|3000|2001:db8:9::1|1|5|CON|1700000005|1|00:00:00:00:00:02"},
	/* 60 s bins from the epoch: T0 is 20 s into one.  The 60 s record at
	 * T0+65 s has 35 s in the second bin and 25 s in the third: 3 pkts ->
	 * floor(3*35/60) = 1 and 3 - 1 = 2; 300 bytes -> 175 and 125; its one
	 * record -> 0 and 1 */
	{"", 60 * S, "stime trans spkts sbytes",
	 "1699999980|5|22|2020;1700000040|0|1|175;1700000100|1|2|125"},
};

static void test_golden(void)
{
	static struct floe_flow in[NRECS];
	for (size_t i = 0; i < NRECS; i++)
		in[i] = mk(&recs[i]);
	static struct out o;
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		char got[4096];
		run_cluster(golden[i].keys, golden[i].bin, golden[i].cols, NULL, in, NRECS, &o, got, sizeof(got));
		TAP_CHECK(strcmp(got, golden[i].want) == 0, "cluster -m '%s' -b %lld -s %s",
		          golden[i].keys ? golden[i].keys : "(flows)", (long long)(golden[i].bin / S), golden[i].cols);
		if (strcmp(got, golden[i].want) != 0)
			TAP_DIAG("got  %s\n# want %s", got, golden[i].want);
	}
}

static void test_bad_keys(void)
{
	static const char *const bad[] = {"nosuch", "saddr/129", "dport/8", "bytes", "saddr saddr"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct floe_errbuf eb = {0};
		struct floe_cluster_opts co = {.keys = bad[i]};
		struct floe_cluster *c = floe_cluster_create(&co, &eb);
		TAP_CHECK(!c && eb.code == FLOE_INVALID, "bad key '%s' refused: %s", bad[i], eb.msg);
		floe_cluster_destroy(c);
	}
	struct floe_aggcol ac[2];
	size_t n;
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_aggcol_parse("pct(saddr)", ac, 2, &n, &eb) == FLOE_INVALID, "pct of an address refused");
}

/* Bins preserve totals exactly for awkward numbers. */
struct binsum {
	uint64_t sp, sb, dp, db, tr, n;
	int64_t last;
	int ordered;
};

static enum floe_err to_sort(void *ud, const struct floe_flow *f, const double *extra)
{
	return floe_sort_add(ud, f, extra);
}

static enum floe_err sum_bin(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct binsum *u = ud;
	u->sp += f->spkts;
	u->sb += f->sbytes;
	u->dp += f->dpkts;
	u->db += f->dbytes;
	u->tr += f->trans;
	u->n++;
	if (f->stime <= u->last)
		u->ordered = 0;
	u->last = f->stime;
	return FLOE_OK;
}

static void test_bins_exact(void)
{
	struct floe_flow f = mk(&recs[0]);
	f.stime = T0 + 7 * S + 123456789;
	f.ltime = f.stime + 3601 * S + 777;
	f.spkts = 1000003;
	f.sbytes = 987654321987ULL;
	f.dpkts = 7;
	f.dbytes = 1;
	static const int64_t bins[] = {1 * S, 7 * S, 60 * S, 300 * S, 3600 * S};
	for (size_t b = 0; b < sizeof(bins) / sizeof(bins[0]); b++) {
		struct floe_errbuf eb = {0};
		struct floe_cluster_opts co = {.keys = "", .bin = bins[b]};
		struct floe_cluster *c = floe_cluster_create(&co, &eb);
		struct floe_sortkey sk = {floe_field_lookup("stime"), -1, false};
		struct floe_sort *so = floe_sort_create(&sk, 1, 0, 0, NULL);
		struct binsum s = {.last = INT64_MIN, .ordered = 1};
		enum floe_err e = floe_cluster_add(c, &f);
		if (e == FLOE_OK)
			e = floe_cluster_finish(c, to_sort, so);
		if (e == FLOE_OK)
			e = floe_sort_finish(so, sum_bin, &s);
		floe_cluster_destroy(c);
		floe_sort_destroy(so);
		TAP_CHECK(e == FLOE_OK && s.sp == f.spkts && s.sb == f.sbytes && s.dp == f.dpkts &&
		          s.db == f.dbytes && s.tr == 1 && s.ordered,
		          "bins of %lld s keep totals exactly over %llu bins", (long long)(bins[b] / S),
		          (unsigned long long)s.n);
	}
}

/* 200k groups with dcounts through a 3 MB budget equal the unbudgeted
 * result, and the budget is never exceeded. */
static void test_spill(void)
{
	size_t n = 300000;
	struct floe_flow *in = malloc(n * sizeof(*in));
	for (size_t i = 0; i < n; i++) {
		in[i] = mk(&recs[0]);
		uint64_t g = (i * 2654435761u) % 200000;
		in[i].saddr[14] = (uint8_t)(g >> 8);
		in[i].saddr[15] = (uint8_t)g;
		in[i].saddr[13] = (uint8_t)(g >> 16);
		in[i].dport = (uint16_t)(i % 11);
		in[i].sbytes = i;
	}
	static struct out o1, o2;
	static char j1[1 << 12], j2[1 << 12];
	struct floe_budget b;
	floe_budget_init(&b, 3u << 20);
	/* compare group counts and a checksum of all lines */
	run_cluster("saddr", 0, "saddr trans sbytes dcount(dport)", NULL, in, n, &o1, j1, sizeof(j1));
	run_cluster("saddr", 0, "saddr trans sbytes dcount(dport)", &b, in, n, &o2, j2, sizeof(j2));
	TAP_CHECK(strncmp(j2, "ERR", 3) != 0, "spilling cluster finishes (%s)", strncmp(j2, "ERR", 3) ? "ok" : j2);
	TAP_CHECK(b.peak <= b.limit, "budget peak %zu <= limit %zu", b.peak, b.limit);
	free(in);
	TAP_CHECK(o1.all == 200000 && o1.all == o2.all, "same number of groups (%llu, %llu)",
	          (unsigned long long)o1.all, (unsigned long long)o2.all);
	TAP_CHECK(o1.sum == o2.sum, "same groups, same values (checksum of every line)");
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void test_hll(void)
{
	static const uint64_t ns[] = {1, 100, 2048, 2049, 5000, 20000, 50000, 100000, 1000000, 5000000};
	uint64_t seed = 42;
	double worst = 0;
	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		struct floe_dcount *d = floe_dcount_create(NULL);
		for (uint64_t i = 0; i < ns[k]; i++) {
			uint64_t h = splitmix(&seed);
			IGN(floe_dcount_add(d, NULL, h));
			if (i % 3 == 0)
				IGN(floe_dcount_add(d, NULL, h));  /* duplicates do not count */
		}
		double v = floe_dcount_value(d);
		double err = fabs(v - (double)ns[k]) / (double)ns[k];
		if (err > worst)
			worst = err;
		if (ns[k] <= FLOE_DCOUNT_EXACT)
			TAP_CHECK(v == (double)ns[k], "dcount exact at %llu: %.0f", (unsigned long long)ns[k], v);
		else
			TAP_CHECK(err < 0.02, "dcount of %llu within 2%%: %.0f (%.2f%%)", (unsigned long long)ns[k],
			          v, err * 100);
		/* save/load round trip, and merging two halves equals the whole */
		uint8_t *buf = malloc(floe_dcount_size(d));
		floe_dcount_save(d, buf);
		struct floe_dcount *e = floe_dcount_load(NULL, buf, floe_dcount_size(d));
		TAP_CHECK(e && floe_dcount_value(e) == v, "dcount save/load at %llu", (unsigned long long)ns[k]);
		free(buf);
		floe_dcount_destroy(e, NULL);
		floe_dcount_destroy(d, NULL);
	}
	TAP_DIAG("worst relative error %.3f%%", worst * 100);
	/* union of two overlapping sets */
	struct floe_dcount *a = floe_dcount_create(NULL), *b = floe_dcount_create(NULL);
	for (uint64_t i = 0; i < 300000; i++) {
		uint64_t h = splitmix(&seed);
		if (i < 200000)
			IGN(floe_dcount_add(a, NULL, h));
		if (i >= 100000)
			IGN(floe_dcount_add(b, NULL, h));
	}
	IGN(floe_dcount_merge(a, NULL, b));
	double v = floe_dcount_value(a);
	TAP_CHECK(fabs(v - 300000) / 300000 < 0.02, "dcount merge of overlapping sets: %.0f of 300000", v);
	floe_dcount_destroy(a, NULL);
	floe_dcount_destroy(b, NULL);
}

/* Sorting: several keys with directions; top N equals the full sort's
 * first N. */
static void test_sort(void)
{
	static const struct {
		const char *keys;
		const char *want;  /* sport of records in order */
	} cases[] = {
		{"bytes", "1000 2000 3000 1000 1001 53"},
		{"bytes:asc", "53 1001 1000 3000 2000 1000"},
		{"proto:desc spkts", "53 1000 3000 1001 2000 1000"},
		{"saddr daddr:desc sport", "1001 1000 1000 53 2000 3000"},
		{"dur stime:desc", "2000 1000 1000 53 3000 1001"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (uint64_t top = 0; top <= 6; top += 3) {
			struct floe_sortkey sk[8];
			size_t nsk;
			struct floe_errbuf eb = {0};
			if (floe_sortkeys_parse(cases[c].keys, NULL, 0, sk, 8, &nsk, &eb) != FLOE_OK) {
				TAP_CHECK(0, "sort keys '%s': %s", cases[c].keys, eb.msg);
				continue;
			}
			struct floe_sort *s = floe_sort_create(sk, nsk, 0, top, NULL);
			for (size_t i = 0; i < NRECS; i++) {
				struct floe_flow f = mk(&recs[i]);
				IGN(floe_sort_add(s, &f, NULL));
			}
			static struct out o;
			memset(&o, 0, sizeof(o));
			o.cols[0] = floe_field_lookup("sport");
			o.ncols = 1;
			IGN(floe_sort_finish(s, collect, &o));
			floe_sort_destroy(s);
			char got[256] = "";
			for (size_t i = 0; i < o.n; i++) {
				strcat(got, i ? " " : "");
				strcat(got, o.lines[i]);
			}
			char want[256];
			snprintf(want, sizeof(want), "%s", cases[c].want);
			if (top) {
				char *p = want;
				for (uint64_t k = 0; k < top && p; k++)
					p = strchr(p + 1, ' ');
				if (p)
					*p = '\0';
			}
			TAP_CHECK(strcmp(got, want) == 0, "sort -m %s --top %llu: %s", cases[c].keys,
			          (unsigned long long)top, got);
		}
	}
	struct floe_sortkey sk[2];
	size_t nsk;
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_sortkeys_parse("bytes:up", NULL, 0, sk, 2, &nsk, &eb) == FLOE_INVALID,
	          "bad direction refused");
}

/* --local: a record whose destination alone is local is turned; both or
 * neither local: left as metered. */
static void test_local(void)
{
	struct floe_netset *ns = floe_netset_create(NULL);
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_netset_add_text(ns, "192.168.0.0/16 2001:db8:9::/48", &eb) == FLOE_OK, "netset");
	static const struct {
		size_t rec;
		bool turned;
	} cases[] = {{0, true}, {3, true}, {5, true}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct floe_flow f = mk(&recs[cases[i].rec]), g = f;
		bool t = floe_flow_orient_local(&f, ns);
		TAP_CHECK(t == cases[i].turned && memcmp(f.saddr, g.daddr, 16) == 0 && f.sbytes == g.dbytes &&
		          f.dbytes == g.sbytes && f.spkts == g.dpkts && f.sport == g.dport &&
		          f.smac[5] == g.dmac[5], "record %zu turned to its local side", cases[i].rec);
		floe_flow_reverse(&f);
		TAP_CHECK(memcmp(&f, &g, sizeof(f)) == 0, "reversing twice is the identity (%zu)", cases[i].rec);
	}
	struct floe_flow both = mk(&recs[0]), keep;
	memcpy(both.saddr, both.daddr, 16);
	both.saddr[15] ^= 1;
	keep = both;
	TAP_CHECK(!floe_flow_orient_local(&both, ns) && memcmp(&both, &keep, sizeof(both)) == 0,
	          "both sides local: left as metered");
	struct floe_flow neither = mk(&recs[0]);
	floe_addr_parse("8.8.8.8", neither.daddr);
	keep = neither;
	TAP_CHECK(!floe_flow_orient_local(&neither, ns) && memcmp(&neither, &keep, sizeof(keep)) == 0,
	          "neither side local: left as metered");
	floe_netset_destroy(ns);
	const struct floe_field *fd = floe_field_lookup("inbytes");
	TAP_CHECK(fd && (fd->kinds & FLOE_FK_LOCAL) && !(fd->kinds & FLOE_FK_NUMERIC), "inbytes is local, not a filter field");
}

/* merge: each record split into the halves two taps would see; merging
 * them gives the records back. */
struct mcollect {
	struct floe_flow out[16];
	size_t n;
};

static enum floe_err mcollect_fn(void *ud, const struct floe_flow *f, const double *extra)
{
	(void)extra;
	struct mcollect *m = ud;
	if (m->n < 16)
		m->out[m->n++] = *f;
	return FLOE_OK;
}

static void test_merge(void)
{
	struct floe_merge *m = floe_merge_create(S, NULL);
	struct mcollect got = {0};
	size_t two_way = 0;
	/* B: the responder's halves, as its tap saw them (source = responder) */
	for (size_t i = 0; i < NRECS; i++) {
		struct floe_flow b = mk(&recs[i]);
		if (!b.dpkts)
			continue;
		two_way++;
		floe_flow_reverse(&b);
		b.dpkts = b.dbytes = 0;
		if (i == 1) {   /* as a tap that guessed the other end as initiator */
			floe_flow_reverse(&b);
			b.flags |= FLOE_F_DIRUNK;
		}
		b.stime += S / 2;  /* the taps' clocks differ a little */
		IGN(floe_merge_add_b(m, &b));
	}
	/* an unrelated record of B that joins nothing */
	struct floe_flow lone = mk(&recs[2]);
	lone.sport = 9;
	IGN(floe_merge_add_b(m, &lone));
	for (size_t i = 0; i < NRECS; i++) {
		struct floe_flow a = mk(&recs[i]);
		a.dpkts = a.dbytes = 0;
		IGN(floe_merge_join(m, &a, mcollect_fn, &got));
	}
	IGN(floe_merge_finish(m, mcollect_fn, &got));
	struct floe_merge_stats st;
	floe_merge_stats(m, &st);
	floe_merge_destroy(m);
	TAP_CHECK(st.joined == two_way && got.n == NRECS + 1, "merge: %llu of %zu joined, %zu out",
	          (unsigned long long)st.joined, two_way, got.n);
	for (size_t i = 0; i < NRECS && i < got.n; i++) {
		struct floe_flow w = mk(&recs[i]);
		const struct floe_flow *o = &got.out[i];
		TAP_CHECK(memcmp(o->saddr, w.saddr, 16) == 0 && o->sport == w.sport && o->spkts == w.spkts &&
		          o->dpkts == w.dpkts && o->sbytes == w.sbytes && o->dbytes == w.dbytes &&
		          o->stime == w.stime && !(o->flags & FLOE_F_DIRUNK) &&
		          o->trans == (w.dpkts ? 2u : 1u), "merge: record %zu rebuilt", i);
	}
	TAP_CHECK(got.n == NRECS + 1 && got.out[NRECS].sport == 9, "merge: unmatched record of B passes through");
}

/* Lean groups (only the values asked for, IPv4 keys in 4 bytes, IPv6 in a
 * second operator) fed record by record or as items prepared by another
 * thread, with and without spilling, equal full groups fed record by
 * record: same groups, same printed values. */
static void run_lean(const char *keys, const char *cols, unsigned values, int how, struct floe_budget *b,
                     const struct floe_flow *in, size_t n, struct out *o)
{
	static struct floe_aggcol ac[16];
	size_t nac = 0;
	struct floe_errbuf eb = {0};
	memset(o, 0, sizeof(*o));
	IGN(floe_aggcol_parse(cols, ac, 16, &nac, &eb));
	for (size_t i = 0; i < nac; i++)
		o->cols[i] = floe_aggcol_field(&ac[i]);
	o->ncols = nac;
	struct floe_cluster_opts co = {.keys = keys, .cols = ac, .ncols = nac, .lean = how != 0,
	                               .values = values, .budget = b};
	struct floe_cluster *c = floe_cluster_create(&co, &eb);
	if (!c) {
		o->all = UINT64_MAX;
		return;
	}
	size_t isz = floe_cluster_item_size(c);
	enum floe_err e = FLOE_OK;
	if (how == 2 && isz) {
		/* in batches of 1000, as the reading thread hands them over */
		uint8_t *items = malloc(1000 * isz);
		for (size_t i = 0; i < n && e == FLOE_OK; i += 1000) {
			size_t k = n - i < 1000 ? n - i : 1000;
			for (size_t j = 0; j < k; j++)
				floe_cluster_prepare(c, &in[i + j], items + j * isz);
			e = floe_cluster_add_items(c, items, k);
		}
		free(items);
	} else {
		for (size_t i = 0; i < n && e == FLOE_OK; i++)
			e = floe_cluster_add(c, &in[i]);
	}
	if (how == 2 && !isz)
		o->all = UINT64_MAX - 1;  /* the prepared path should have been taken */
	else if (e != FLOE_OK || floe_cluster_finish(c, collect, o) != FLOE_OK)
		o->all = UINT64_MAX;
	floe_cluster_destroy(c);
}

/* A full sort in 1 MB (sorted runs on disk, more than can stay open, so
 * runs are merged twice) emits exactly what an unlimited sort emits, in
 * the same order, and stays in its budget. */
static void test_external_sort(void)
{
	size_t n = 300000;
	struct floe_sortkey sk[2];
	size_t nsk = 0;
	struct floe_errbuf eb = {0};
	IGN(floe_sortkeys_parse("dport bytes", NULL, 0, sk, 2, &nsk, &eb));
	static struct out o[2];
	struct floe_budget b;
	floe_budget_init(&b, 1u << 20);
	uint64_t spilled = 0;
	enum floe_err e = FLOE_OK;
	for (int k = 0; k < 2; k++) {
		struct floe_sort *s = floe_sort_create(sk, nsk, 1, 0, k ? &b : NULL);
		uint64_t seed = 11;
		for (size_t i = 0; i < n && e == FLOE_OK; i++) {
			struct floe_flow f = mk(&recs[i % NRECS]);
			uint64_t r = splitmix(&seed);
			f.dport = (uint16_t)(r % 50);     /* many ties: stability shows */
			f.sbytes = (r >> 20) % 1000;
			f.sport = (uint16_t)i;
			double x = (double)i;
			e = floe_sort_add(s, &f, &x);
		}
		memset(&o[k], 0, sizeof(o[k]));
		o[k].cols[0] = floe_field_lookup("dport");
		o[k].cols[1] = floe_field_lookup("bytes");
		o[k].cols[2] = floe_field_lookup("sport");
		o[k].ncols = 3;
		if (e == FLOE_OK)
			e = floe_sort_finish(s, collect, &o[k]);
		if (k)
			spilled = floe_sort_spilled(s);
		floe_sort_destroy(s);
	}
	TAP_CHECK(e == FLOE_OK && spilled > 0, "sort in 1 MB spills runs (%llu records) and finishes",
	          (unsigned long long)spilled);
	TAP_CHECK(o[0].all == n && o[1].all == n && memcmp(o[0].lines, o[1].lines, sizeof(o[0].lines)) == 0 &&
	          o[0].sum == o[1].sum, "the same records in the same order (first 4096 lines and checksum)");
	TAP_CHECK(b.peak <= b.limit, "budget peak %zu <= limit %zu", b.peak, b.limit);
}

static void test_lean(void)
{
	size_t n = 120000;
	struct floe_flow *in = malloc(n * sizeof(*in));
	uint64_t seed = 7;
	for (size_t i = 0; i < n; i++) {
		uint64_t r = splitmix(&seed);
		in[i] = mk(&recs[(i % 8 == 0) ? 5 : i % 5]);  /* one in eight IPv6 */
		uint32_t g = (uint32_t)(r % 40000);
		memcpy(in[i].saddr + 12, &g, 4);
		in[i].daddr[15] = (uint8_t)(r >> 32) % 3;
		in[i].spkts = r >> 50;
		in[i].sbytes = r >> 40;
		in[i].dbytes = r >> 45;
		in[i].stime += (int64_t)(r % 1000) * S;
		in[i].ltime = in[i].stime + (int64_t)((r >> 20) % 100) * S;
	}
	static const struct {
		const char *keys, *cols;
		unsigned values;
	} cases[] = {
		{"saddr", "saddr trans pkts bytes", FLOE_CLV_TRANS | FLOE_CLV_PKTS | FLOE_CLV_BYTES},
		{"saddr daddr", "saddr daddr bytes", FLOE_CLV_BYTES},
		{"saddr/16 dport", "saddr dport stime ltime spkts dpkts sbytes dbytes trans",
		 FLOE_CLV_TIMES | FLOE_CLV_SPKTS | FLOE_CLV_SBYTES | FLOE_CLV_TRANS},
		{"daddr/64 proto", "daddr proto dur rate load", FLOE_CLV_TIMES | FLOE_CLV_PKTS | FLOE_CLV_BYTES},
	};
	static struct out want, got;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		run_lean(cases[k].keys, cases[k].cols, 0, 0, NULL, in, n, &want);
		for (int how = 1; how <= 2; how++) {
			for (int tight = 0; tight <= 1; tight++) {
				struct floe_budget b;
				floe_budget_init(&b, 3u << 20);  /* a chunk of 16 Ki groups is 1 MB */
				run_lean(cases[k].keys, cases[k].cols, cases[k].values, how, tight ? &b : NULL, in, n, &got);
				TAP_CHECK(want.all > 5 && got.all == want.all && got.sum == want.sum,
				          "lean -m '%s' -s '%s' %s%s: %llu groups as full groups (%llu)",
				          cases[k].keys, cases[k].cols, how == 2 ? "prepared" : "added",
				          tight ? " in 3 MB" : "", (unsigned long long)got.all,
				          (unsigned long long)want.all);
				TAP_CHECK(!tight || b.peak <= b.limit, "budget peak %zu <= limit %zu", b.peak, b.limit);
			}
		}
	}
	free(in);
}

int main(void)
{
	test_golden();
	test_bad_keys();
	test_bins_exact();
	test_spill();
	test_lean();
	test_external_sort();
	test_hll();
	test_sort();
	test_local();
	test_merge();
	return tap_done();
}
