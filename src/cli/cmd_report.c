/*
 * cmd_report.c - `floe report`: the operators' reports (docs/report.md).
 *
 *   floe report daily (-R ARCHIVE... | -r FILE...) [-t RANGE] --local NETS
 *                     [--top 30] [--peers 10] [--ports 5] [--notes FILE]
 *                     [-o text|html|json] [-w OUT] [--memory SIZE] [FILTER]
 *   floe report accounting --customers FILE ...   [-o text|csv|json]
 *   floe report ports | talkers [--subnet 24[,64]] | broadcast ...
 *
 * The engines live in libfloe (report/report.h); this file reads the
 * sources once per pass the engine asks for and writes what it returns.
 * With -w the report goes to a temporary file renamed over OUT at the end,
 * so a cron job never leaves half a report for a reader.
 */
#include "cli.h"
#include "archive/source.h"
#include "codec/codec.h"
#include "filter/filter.h"
#include "report/prefixes.h"
#include "report/report.h"
#include "util/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Memory kept outside the report's budget, as for cluster (cmd_cluster.c):
 * the decoded block of the one reading thread (several threads would hold
 * three blocks each, too much for a small --memory), the records handed
 * over, zstd, stdio, the binary. */
#define RESERVE (32ull << 20)

static const char report_help[] =
	"usage: floe report KIND (-R DIR... | -r FILE...) [-t RANGE] [options] [FILTER]\n"
	"\n"
	"Reports over flow records, in bounded memory (docs/report.md):\n"
	"  daily        total, out, in, internal and transit bytes, then the top hosts\n"
	"               by volume with their top peers and each peer's top ports\n"
	"  accounting   bytes out and in per customer per UTC day (--customers FILE)\n"
	"  ports        top destination ports by bytes and by rate\n"
	"  talkers      top sources per subnet (--subnet)\n"
	"  broadcast    top senders to broadcast and multicast addresses\n"
	"\n"
	"  -r FILE...       input files\n"
	"  -R DIR...        every floe file below DIR, e.g. an archive\n"
	"  -t RANGE         records overlapping RANGE (as for 'floe read'), e.g. -1d\n"
	"  --local NETS     local networks (or @FILE): in/out of daily, 'local' marks\n"
	"  --top N          hosts (daily, default 30), ports and senders (20), subnets (20)\n"
	"  --peers M        daily: peers per host (default 10)\n"
	"  --ports K        daily: ports per peer (default 5); talkers: sources per subnet (5)\n"
	"  --notes FILE     daily: lines 'ADDR[/LEN] label text' printed under matching\n"
	"                   hosts and peers, the most specific prefix winning\n"
	"  --customers FILE accounting: lines 'NAME ADDR[/LEN] [ADDR[/LEN]...]'\n"
	"  --subnet L[,L6]  talkers: subnet length for IPv4 (default 24) and IPv6 (64)\n"
	"  -o FORMAT        text (default), json, html (daily), csv (all but daily)\n"
	"  -w FILE          write the report to FILE (replaced whole at the end)\n"
	"  --memory SIZE    memory target (default 256M); aggregates past it spill to\n"
	"                   $TMPDIR and the report is still exact\n"
	"  --stats          print records read per pass and spills to stderr\n";

enum kind { K_DAILY, K_ACCT, K_PORTS, K_TALKERS, K_BCAST };

static const struct {
	const char *name;
	enum kind kind;
	unsigned fmts;     /* 1 << enum floe_report_fmt */
} kinds[] = {
	{"daily", K_DAILY, 1u << FLOE_REPORT_TEXT | 1u << FLOE_REPORT_JSON | 1u << FLOE_REPORT_HTML},
	{"accounting", K_ACCT, 1u << FLOE_REPORT_TEXT | 1u << FLOE_REPORT_CSV | 1u << FLOE_REPORT_JSON},
	{"ports", K_PORTS, 1u << FLOE_REPORT_TEXT | 1u << FLOE_REPORT_CSV | 1u << FLOE_REPORT_JSON},
	{"talkers", K_TALKERS, 1u << FLOE_REPORT_TEXT | 1u << FLOE_REPORT_CSV | 1u << FLOE_REPORT_JSON},
	{"broadcast", K_BCAST, 1u << FLOE_REPORT_TEXT | 1u << FLOE_REPORT_CSV | 1u << FLOE_REPORT_JSON},
};

/* The options of this command that cli_parse does not know. */
struct ropts {
	int fmt;
	const char *wfile;
	uint64_t peers, ports;
	const char *notes, *customers;
	unsigned subnet4, subnet6;
	char local_text[512];
};

/* Takes this command's own options out of argv (the rest goes to
 * cli_parse).  Returns EXIT_OK or EXIT_USAGE after a message. */
static int take_opts(struct cli_opts *o, struct ropts *r, int *argc, char **argv)
{
	int k = 0;
	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i], *next = i + 1 < *argc ? argv[i + 1] : NULL;
		bool mine = strcmp(a, "-o") == 0 || strcmp(a, "-w") == 0 || strcmp(a, "--peers") == 0 ||
		            strcmp(a, "--ports") == 0 || strcmp(a, "--notes") == 0 ||
		            strcmp(a, "--customers") == 0 || strcmp(a, "--subnet") == 0;
		if (strcmp(a, "--local") == 0 && next) {
			size_t have = strlen(r->local_text);
			snprintf(r->local_text + have, sizeof(r->local_text) - have, "%s%s", have ? "," : "", next);
		}
		if (!mine) {
			argv[k++] = argv[i];
			continue;
		}
		if (!next) {
			cli_error(o, "%s needs an argument", a);
			return EXIT_USAGE;
		}
		i++;
		if (strcmp(a, "-o") == 0) {
			if ((r->fmt = floe_report_fmt_parse(next)) < 0) {
				cli_error(o, "unknown report format '%s' (text, csv, json, html)", next);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "-w") == 0) {
			r->wfile = next;
		} else if (strcmp(a, "--notes") == 0) {
			r->notes = next;
		} else if (strcmp(a, "--customers") == 0) {
			r->customers = next;
		} else if (strcmp(a, "--subnet") == 0) {
			unsigned a4 = 0, a6 = 64;
			int used = 0;
			const char *s = next + (next[0] == '/');
			if ((sscanf(s, "%u%n", &a4, &used) != 1 || (s[used] && sscanf(s + used, ",%*[/]%u", &a6) != 1 &&
			     sscanf(s + used, ",%u", &a6) != 1)) || a4 < 1 || a4 > 32 || a6 < 1 || a6 > 128) {
				cli_error(o, "bad --subnet '%s': an IPv4 length 1..32, optionally ',' and an IPv6 "
				          "length 1..128", next);
				return EXIT_USAGE;
			}
			r->subnet4 = a4;
			r->subnet6 = a6;
		} else {
			uint64_t *v = a[3] == 'e' ? &r->peers : &r->ports;
			if (!cli_parse_count(next, v) || *v == 0 || *v > 100000) {
				cli_error(o, "bad %s '%s' (1..100000)", a, next);
				return EXIT_USAGE;
			}
		}
	}
	*argc = k;
	return EXIT_OK;
}

/* ---- reading ---- */

#define COLS(m) floe_columns_of(offsetof(struct floe_flow, m), sizeof(((struct floe_flow *)0)->m))

/* The columns a report decodes: times, addresses, ports, protocol,
 * counters, flags (and MACs for broadcast), plus the filter's. */
static uint64_t report_columns(enum kind k, const struct floe_filter *filter)
{
	uint64_t m = COLS(stime) | COLS(ltime) | COLS(saddr) | COLS(daddr) | COLS(sport) | COLS(dport) |
	             COLS(proto) | COLS(ipver) | COLS(etype) | COLS(flags) | COLS(spkts) | COLS(dpkts) |
	             COLS(sbytes) | COLS(dbytes) | COLS(trans);
	if (k == K_BCAST)
		m |= COLS(smac) | COLS(dmac);
	if (filter) {
		uint64_t fm = cli_filter_columns(filter);
		if (!fm)
			return 0;
		m |= fm;
	}
	return m;
}

/* ---- the engines behind cli_add_fn ---- */

static enum floe_err add_daily(void *ud, const void *f)
{
	return floe_daily_add(ud, f);
}

static const char *daily_err(void *ud)
{
	return floe_daily_error(ud);
}

static enum floe_err add_acct(void *ud, const void *f)
{
	return floe_acct_add(ud, f);
}

static const char *acct_err(void *ud)
{
	(void)ud;
	return "out of memory: customers x days do not fit in --memory";
}

static enum floe_err add_rtop(void *ud, const void *f)
{
	return floe_rtop_add(ud, f);
}

static const char *rtop_err(void *ud)
{
	return floe_rtop_error(ud);
}

/* Reads a prefix file (notes or customers) into *out. */
static int load_prefixes(struct cli_opts *o, const char *path, bool customers, struct floe_budget *b,
                         struct floe_prefixes **out)
{
	char *text = cli_slurp(o, path);
	if (!text)
		return EXIT_USAGE;
	struct floe_errbuf eb = {0};
	enum floe_err e = customers ? floe_customers_parse(text, strlen(text), b, out, &eb)
	                            : floe_notes_parse(text, strlen(text), b, out, &eb);
	free(text);
	if (e != FLOE_OK) {
		cli_error(o, "%s: %s", path, eb.msg);
		return e == FLOE_NOMEM ? EXIT_FAIL : EXIT_USAGE;
	}
	return EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
	struct cli_opts o = {.cmd = "report"};
	if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		fputs(report_help, argc < 1 ? stderr : stdout);
		return argc < 1 ? EXIT_USAGE : EXIT_OK;
	}
	size_t ki = 0;
	while (ki < sizeof(kinds) / sizeof(kinds[0]) && strcmp(kinds[ki].name, argv[0]) != 0)
		ki++;
	if (ki == sizeof(kinds) / sizeof(kinds[0])) {
		cli_error(&o, "unknown report '%s' (daily, accounting, ports, talkers, broadcast)", argv[0]);
		return EXIT_USAGE;
	}
	enum kind kind = kinds[ki].kind;
	char cmdname[32];
	snprintf(cmdname, sizeof(cmdname), "report %s", kinds[ki].name);
	o.cmd = cmdname;
	argc--;
	argv++;
	struct ropts r = {.fmt = FLOE_REPORT_TEXT};
	char **args = malloc(((size_t)argc + 1) * sizeof(*args));
	if (!args) {
		cli_error(&o, "out of memory");
		return EXIT_FAIL;
	}
	memcpy(args, argv, (size_t)argc * sizeof(*args));
	int nargs = argc;
	struct floe_filter *filter = NULL;
	struct floe_prefixes *pfx = NULL;
	struct floe_daily *daily = NULL;
	struct floe_acct *acct = NULL;
	struct floe_rtop *rtop = NULL;
	FILE *out = stdout;
	char tmpname[4096] = "";
	bool help;
	int rc = take_opts(&o, &r, &nargs, args);
	if (rc == EXIT_OK)
		rc = cli_parse(&o, OPT_READ | OPT_SOURCE | OPT_AGG, nargs, args, &help);
	o.cmd = cmdname;
	if (rc != EXIT_OK)
		goto out;
	if (help) {
		fputs(report_help, stdout);
		goto out;
	}
	rc = EXIT_USAGE;
	if (o.nrfiles == 0 && o.nrdirs == 0) {
		cli_error(&o, "no input: give -r FILE or -R DIR (try 'floe report --help')");
		goto out;
	}
	for (size_t i = 0; i < o.nrfiles; i++)
		if (strcmp(o.rfiles[i], "-") == 0 && kind == K_DAILY) {
			cli_error(&o, "reads its input twice: give files or an archive, not standard input");
			goto out;
		}
	if (o.keys || o.bin || o.sortkeys) {
		cli_error(&o, "-m, -b and --sort are for cluster, sort and bins");
		goto out;
	}
	if (!(kinds[ki].fmts & (1u << r.fmt))) {
		cli_error(&o, "-o %s is not a format of this report", (const char *[]){"text", "csv", "json",
		          "html"}[r.fmt]);
		goto out;
	}
	if ((r.notes && kind != K_DAILY) || (r.peers && kind != K_DAILY) ||
	    (r.ports && kind != K_DAILY && kind != K_TALKERS) || (r.customers && kind != K_ACCT) ||
	    (r.subnet4 && kind != K_TALKERS)) {
		cli_error(&o, "an option given is not for this report (try 'floe report --help')");
		goto out;
	}
	if (kind == K_ACCT && !r.customers) {
		cli_error(&o, "give the customers: --customers FILE (lines 'NAME CIDR [CIDR...]')");
		goto out;
	}
	if (kind == K_DAILY && !o.local)
		cli_warn(&o, "no --local networks: every byte is transit, no host is local");
	struct floe_errbuf eb = {0};
	if (o.filter && !(filter = floe_filter_compile(o.filter, &eb))) {
		cli_error(&o, "bad filter '%s': %s", o.filter, eb.msg);
		goto out;
	}
	uint64_t mem = o.memory ? o.memory : CLI_DEFAULT_MEMORY;
	struct floe_budget budget;
	floe_budget_init(&budget, (size_t)(mem > RESERVE + (8u << 20) ? mem - RESERVE : (8u << 20)));
	const char *pfile = kind == K_DAILY ? r.notes : r.customers;
	if (pfile && (rc = load_prefixes(&o, pfile, kind == K_ACCT, &budget, &pfx)) != EXIT_OK)
		goto out;

	rc = EXIT_FAIL;
	if (r.wfile && strcmp(r.wfile, "-") != 0) {
		snprintf(tmpname, sizeof(tmpname), "%s.tmp.%ld", r.wfile, (long)getpid());
		if (!(out = fopen(tmpname, "w"))) {
			cli_error(&o, "cannot write '%s': %s", tmpname, strerror(errno));
			tmpname[0] = '\0';
			out = stdout;
			goto out;
		}
	}
	uint64_t cols = report_columns(kind, filter);
	uint64_t nrec[2] = {0, 0};
	enum floe_err e = FLOE_OK;
	int rrc = EXIT_OK;
	if (kind == K_DAILY) {
		struct floe_daily_opts d = {.local = o.local, .notes = pfx, .top = o.top, .peers = r.peers,
		                            .ports = r.ports, .range = o.trange, .budget = &budget, .log = cli_log()};
		if (!(daily = floe_daily_create(&d, &eb))) {
			cli_error(&o, "%s", eb.msg);
			rc = eb.code == FLOE_LIMIT ? EXIT_USAGE : EXIT_FAIL;
			goto out;
		}
		for (int pass; (pass = floe_daily_pass(daily)) != 0;) {
			size_t nh = 0;
			const uint8_t (*hosts)[16] = pass == 2 ? floe_daily_hosts(daily, &nh) : NULL;
			rrc = cli_read_records(&o, filter, pass == 2 && nh <= 64 ? hosts : NULL, nh, cols,
			                       add_daily, daily, daily_err, &nrec[pass - 1]);
			if (rrc == EXIT_FAIL)
				goto out;
			if (floe_daily_end_pass(daily) != FLOE_OK) {
				cli_error(&o, "%s", floe_daily_error(daily));
				goto out;
			}
		}
		e = floe_daily_write(out, (enum floe_report_fmt)r.fmt, floe_daily_result(daily), r.local_text);
	} else if (kind == K_ACCT) {
		struct floe_acct_opts a = {.customers = pfx, .range = o.trange, .budget = &budget};
		if (!(acct = floe_acct_create(&a, &eb))) {
			cli_error(&o, "%s", eb.msg);
			goto out;
		}
		rrc = cli_read_records(&o, filter, NULL, 0, cols, add_acct, acct, acct_err, &nrec[0]);
		if (rrc == EXIT_FAIL)
			goto out;
		size_t n;
		const struct floe_acct_row *rows = floe_acct_rows(acct, &n);
		if (!rows && n) {
			cli_error(&o, "%s", acct_err(NULL));
			goto out;
		}
		e = floe_acct_write(out, (enum floe_report_fmt)r.fmt, rows, n, pfx);
	} else {
		struct floe_rtop_opts t = {.kind = kind == K_PORTS ? FLOE_RTOP_PORTS : kind == K_TALKERS ?
		                           FLOE_RTOP_TALKERS : FLOE_RTOP_BROADCAST, .top = o.top, .per = r.ports,
		                           .subnet4 = r.subnet4, .subnet6 = r.subnet6, .budget = &budget,
		                           .log = cli_log()};
		if (!(rtop = floe_rtop_create(&t, &eb))) {
			cli_error(&o, "%s", eb.msg);
			rc = eb.code == FLOE_LIMIT ? EXIT_USAGE : EXIT_FAIL;
			goto out;
		}
		rrc = cli_read_records(&o, filter, NULL, 0, cols, add_rtop, rtop, rtop_err, &nrec[0]);
		if (rrc == EXIT_FAIL)
			goto out;
		const struct floe_rtop_row *rows, *rows2;
		size_t n, n2;
		if (floe_rtop_finish(rtop, &rows, &n, &rows2, &n2) != FLOE_OK) {
			cli_error(&o, "%s", floe_rtop_error(rtop));
			goto out;
		}
		e = floe_rtop_write(out, (enum floe_report_fmt)r.fmt, t.kind, rows, n, rows2, n2);
	}
	if (e == FLOE_OK && fflush(out) != 0)
		e = FLOE_IO;
	if (e != FLOE_OK) {
		cli_error(&o, "cannot write the report%s%s: %s", r.wfile ? " to " : "", r.wfile ? r.wfile : "",
		          floe_strerror(e));
		goto out;
	}
	if (tmpname[0]) {
		bool ok = fclose(out) == 0;
		out = stdout;
		if (!ok || rename(tmpname, r.wfile) != 0) {
			cli_error(&o, "cannot write '%s': %s", r.wfile, strerror(errno));
			goto out;
		}
		tmpname[0] = '\0';
	}
	rc = rrc;
	if (o.stats) {
		struct floe_daily_stats st = {0};
		if (daily)
			floe_daily_stats(daily, &st);
		size_t peak = budget.peak + st.peak;
		fprintf(stderr, "records pass 1 %" PRIu64 ", pass 2 %" PRIu64 ", spills %" PRIu64 ", groups %" PRIu64
		        ", budget peak %zu MB of %zu MB\n", nrec[0], nrec[1], st.spills, st.groups,
		        peak >> 20, budget.limit >> 20);
	}
out:
	if (tmpname[0]) {
		fclose(out);
		unlink(tmpname);
	}
	floe_daily_destroy(daily);
	floe_acct_destroy(acct);
	floe_rtop_destroy(rtop);
	floe_prefixes_destroy(pfx);
	floe_filter_destroy(filter);
	cli_opts_release(&o);
	free(args);
	return rc;
}
