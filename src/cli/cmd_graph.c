/*
 * cmd_graph.c - `floe graph`: a time series chart of records as SVG, or
 * its series as JSON (graph/graph.h, docs/graph.md).
 *
 *   floe graph (-R ARCHIVE | -r FILE...) [-t RANGE] [-b 5m] [-m METRIC]
 *              [--by KEYS --top N] [--stacked | --overlay] [--vs FILTER]
 *              [--json] [-o OUT] [FILTER]
 */
#include "cli.h"
#include "archive/source.h"
#include "codec/codec.h"
#include "filter/filter.h"
#include "graph/graph.h"
#include "progress.h"
#include "util/mem.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char graph_help[] =
	"usage: floe graph -r FILE... | -R DIR... [-t RANGE] [options] [FILTER]\n"
	"\n"
	"Draws a time series of the records that match FILTER as an SVG chart (or\n"
	"writes its series as JSON): one metric per time bin, for all records or one\n"
	"series per key group.  Records covering several bins are spread over them as\n"
	"'floe bins' does, so the values are those of 'floe bins' for the same bins.\n"
	"\n"
	"  -r FILE... -R DIR... -t RANGE   inputs, as for 'floe read'; the chart spans\n"
	"                   RANGE, or the records' times without -t\n"
	"  -b BIN           bin width, whole seconds: 60s, 5m, 1h (default 5m)\n"
	"  -m METRIC        bytes (default), pkts, flows, bps (bit/s), pps (packet/s)\n"
	"  --by KEYS        one series per group of key fields: proto, dport, saddr,\n"
	"                   saddr/24, 'proto dport' ... ('floe fields': kind key)\n"
	"  --top N          with --by: the N groups of the largest totals (default 8,\n"
	"                   at most 32); the others summed as \"other\"\n"
	"  --stacked        stacked areas (default with --by or without --vs)\n"
	"  --overlay        lines over each other\n"
	"  --vs FILTER      also draw the records that match FILTER (and FILTER of the\n"
	"                   chart) against the total, e.g. --vs 'host 10.0.1.17'\n"
	"  --title TEXT     the chart's title\n"
	"  --width PX --height PX   size of the SVG (default 960 x 480; at least 320 x 200)\n"
	"  --json           write the series as JSON instead of SVG\n"
	"  -o FILE          output file (default: standard output); *.json means --json\n"
	"  --memory SIZE    memory target (default 256M); bigger aggregations spill\n"
	"  --stats          print counts of files, blocks and records to stderr\n"
	"\n"
	"Times on the chart are UTC; values use decimal prefixes (1 kB = 1000 B).\n";

/* Options of floe graph that cli_parse does not know (-o, -m mean other
 * things there); taken out of argv before it runs. */
struct graph_args {
	const char *metric;
	const char *by;
	const char *vs;
	const char *title;
	const char *out;
	unsigned width, height;
	int stacked;            /* 1 stacked, 0 overlay, -1 not given */
	bool json;
};

static bool parse_px(const char *s, long min, unsigned *v)
{
	char *end;
	errno = 0;
	long x = strtol(s, &end, 10);
	if (errno || *end || end == s || x < min || x > 10000)
		return false;
	*v = (unsigned)x;
	return true;
}

/* Moves the options of graph_args out of argv (compacting it); returns
 * EXIT_OK or EXIT_USAGE after a message. */
static int take_args(struct graph_args *ga, int *argc, char **argv)
{
	static const char *const with_arg[] = {"-m", "--by", "--vs", "--title", "-o", "--width",
	                                       "--height"};
	int n = 0;
	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--stacked") == 0 || strcmp(a, "--overlay") == 0) {
			ga->stacked = a[2] == 's';
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			ga->json = true;
			continue;
		}
		size_t k = 0;
		while (k < sizeof(with_arg) / sizeof(with_arg[0]) && strcmp(a, with_arg[k]) != 0)
			k++;
		if (k == sizeof(with_arg) / sizeof(with_arg[0])) {
			argv[n++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc) {
			fprintf(stderr, "floe graph: %s needs an argument (try 'floe graph --help')\n", a);
			return EXIT_USAGE;
		}
		const char *v = argv[++i];
		switch (k) {
		case 0: ga->metric = v; break;
		case 1: ga->by = v; break;
		case 2: ga->vs = v; break;
		case 3: ga->title = v; break;
		case 4: ga->out = v; break;
		case 5:
		case 6:
			if (!parse_px(v, k == 5 ? 320 : 200, k == 5 ? &ga->width : &ga->height)) {
				fprintf(stderr, "floe graph: bad %s '%s': %d to 10000 pixels\n", a, v,
				        k == 5 ? 320 : 200);
				return EXIT_USAGE;
			}
			break;
		}
	}
	*argc = n;
	return EXIT_OK;
}

#define COLS(m) floe_columns_of(offsetof(struct floe_flow, m), sizeof(((struct floe_flow *)0)->m))

/* The columns a chart reads: times, counters, what printing a key may
 * consult, the --by fields and the filters' fields; 0 (all) when one of
 * them is derived. */
static uint64_t chart_columns(const char *by, const struct floe_filter *f1,
                              const struct floe_filter *f2)
{
	uint64_t m = COLS(stime) | COLS(ltime) | COLS(spkts) | COLS(dpkts) | COLS(sbytes) |
	             COLS(dbytes) | COLS(trans) | COLS(proto) | COLS(ipver) | COLS(etype) | COLS(flags);
	const struct floe_filter *fs[2] = {f1, f2};
	for (int i = 0; i < 2; i++) {
		uint64_t fm = fs[i] ? cli_filter_columns(fs[i]) : 0;
		if (fs[i] && !fm)
			return 0;
		m |= fm;
	}
	return cli_keys_columns(by, &m) ? m : 0;
}

static struct floe_source *open_source(struct cli_opts *o, const struct floe_filter *filter,
                                       uint64_t columns, uint8_t (*addrs)[16])
{
	size_t naddrs = 0;
	if (filter && !floe_filter_required_addrs(filter, addrs, 64, &naddrs))
		naddrs = 0;
	struct floe_source_opts so = {.range = o->trange, .addrs = (const uint8_t (*)[16])addrs,
	                              .naddrs = naddrs, .no_index = o->no_index, .columns = columns,
	                              .log = cli_log(), .threads = cli_read_threads()};
	return cli_source_open(o, &so);
}

int cmd_graph(int argc, char **argv)
{
	struct graph_args ga = {.stacked = -1};
	struct cli_opts o = {.cmd = "graph"};
	int rc = take_args(&ga, &argc, argv);
	if (rc != EXIT_OK)
		return rc;
	if (!cli_begin(&o, OPT_READ | OPT_SOURCE | OPT_AGG, argc, argv, graph_help, &rc))
		return rc;
	struct floe_filter *filter = NULL, *vsfilter = NULL;
	struct floe_graph *g = NULL;
	struct floe_source *src = NULL;
	FILE *out = NULL;
	struct floe_errbuf eb = {0};
	uint8_t addrs[64][16];
	struct cli_progress pg = {0};
	rc = EXIT_USAGE;
	if (o.nrfiles == 0 && o.nrdirs == 0) {
		cli_error(&o, "no input: give -r FILE or -R DIR (try 'floe graph --help')");
		goto out;
	}
	if (o.keys || o.sortkeys || o.aggcols) {
		cli_error(&o, "-s and --sort are not for graph; --by gives the series");
		goto out;
	}
	int metric = ga.metric ? floe_graph_metric_parse(ga.metric) : FLOE_GM_BYTES;
	if (metric < 0) {
		cli_error(&o, "unknown metric '%s' (bytes, pkts, flows, bps, pps)", ga.metric);
		goto out;
	}
	if (o.top && !ga.by) {
		cli_error(&o, "--top goes with --by");
		goto out;
	}
	if (o.filter && !(filter = floe_filter_compile(o.filter, &eb))) {
		cli_error(&o, "bad filter '%s': %s", o.filter, eb.msg);
		goto out;
	}
	if (ga.vs && !(vsfilter = floe_filter_compile(ga.vs, &eb))) {
		cli_error(&o, "bad --vs filter '%s': %s", ga.vs, eb.msg);
		goto out;
	}
	if (ga.out && !ga.json) {
		size_t n = strlen(ga.out);
		ga.json = n > 5 && strcmp(ga.out + n - 5, ".json") == 0;
	}
	struct floe_budget budget;
	uint64_t mem = o.memory ? o.memory : CLI_DEFAULT_MEMORY;
	floe_budget_init(&budget, (size_t)mem);
	bool finite = o.trange.start != INT64_MIN && o.trange.end != INT64_MAX;
	struct floe_graph_opts go = {
		.t0 = finite ? o.trange.start : 0, .t1 = finite ? o.trange.end : 0,
		.bin = o.bin ? o.bin : 300 * 1000000000LL, .metric = (enum floe_graph_metric)metric,
		.by = ga.by, .top = (unsigned)(o.top > FLOE_GRAPH_MAX_TOP ? FLOE_GRAPH_MAX_TOP + 1 : o.top),
		.stacked = ga.stacked >= 0 ? ga.stacked == 1 : true, .title = ga.title, .vs = ga.vs,
		.width = ga.width, .height = ga.height, .budget = &budget, .log = cli_log(),
	};
	if (!(g = floe_graph_create(&go, &eb))) {
		cli_error(&o, "%s", eb.msg);
		rc = eb.code == FLOE_INVALID ? EXIT_USAGE : EXIT_FAIL;
		goto out;
	}

	rc = EXIT_FAIL;
	if (!(src = open_source(&o, filter, chart_columns(ga.by, filter, vsfilter), addrs)))
		goto out;
	bool timed = !floe_timerange_is_all(&o.trange);
	uint64_t matched = 0;
	cli_progress_init(&pg, o.cmd, src, false);
	for (;;) {
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = floe_source_next(src, &recs, &n);
		cli_progress_update(&pg, e == FLOE_OK ? n : 0);
		if (e == FLOE_EOF)
			break;
		if (e != FLOE_OK) {
			cli_error(&o, "%s", floe_source_error(src));
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			const struct floe_flow *f = &recs[i];
			if (timed && !floe_timerange_overlaps(&o.trange, f->stime, f->ltime))
				continue;
			if (filter && !floe_filter_match(filter, f))
				continue;
			matched++;
			bool vs = vsfilter && floe_filter_match(vsfilter, f);
			if (floe_graph_add(g, f) != FLOE_OK || (vs && floe_graph_add_vs(g, f) != FLOE_OK)) {
				cli_error(&o, "%s", floe_graph_error(g));
				goto out;
			}
		}
	}
	cli_progress_release(&pg);
	out = ga.out && strcmp(ga.out, "-") != 0 ? fopen(ga.out, "w") : stdout;
	if (!out) {
		cli_error(&o, "cannot write '%s': %s", ga.out, strerror(errno));
		goto out;
	}
	enum floe_err e = ga.json ? floe_graph_json(g, out) : floe_graph_svg(g, out);
	if (e != FLOE_OK) {
		cli_error(&o, "%s", floe_graph_error(g));
		if (out != stdout && ga.out)
			unlink(ga.out);
		goto out;
	}
	struct floe_source_stats ss;
	floe_source_stats(src, &ss);
	rc = ss.blocks_damaged || ss.files_failed ? EXIT_DAMAGED : EXIT_OK;
	if (o.stats)
		fprintf(stderr, "files read %llu, blocks read %llu, records examined %llu, charted %llu, "
		        "memory peak %zu MB\n", (unsigned long long)ss.files_read,
		        (unsigned long long)ss.blocks_read, (unsigned long long)ss.records,
		        (unsigned long long)matched, budget.peak >> 20);
out:
	cli_progress_release(&pg);
	if (out && out != stdout && fclose(out) != 0 && rc != EXIT_FAIL) {
		cli_error(&o, "cannot write '%s': %s", ga.out, strerror(errno));
		rc = EXIT_FAIL;
	}
	floe_source_destroy(src);
	floe_graph_destroy(g);
	floe_filter_destroy(vsfilter);
	floe_filter_destroy(filter);
	cli_opts_release(&o);
	return rc;
}
