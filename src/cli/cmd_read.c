/*
 * cmd_read.c - `floe read`: print or copy records from floe files.
 *
 *   floe read -r FILE... [-s FIELDS] [-o text|csv|json] [-n] [-u]
 *             [-w OUT] [--stats] [FILTER]
 *
 * Like Argus's ra: records are printed in file order; -w writes the
 * matching records as a floe file ("-" for a pipe), so reads compose.
 */
#include "cli.h"
#include "codec/codec.h"
#include "filter/filter.h"
#include "query/output.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char read_help[] =
	"usage: floe read -r FILE... [options] [FILTER]\n"
	"\n"
	"Prints the records of floe files (\"-\" reads standard input).\n"
	"\n"
	"  -r FILE...       input files\n"
	"  -w FILE          write matching records as a floe file (\"-\": stdout)\n"
	"  -s FIELDS        columns, e.g. -s stime saddr daddr bytes, or +field/-field\n"
	"                   to change the defaults ('floe fields' lists them)\n"
	"  -o FORMAT        text (default), csv or json\n"
	"  -n               numbers, not names, for protocols\n"
	"  -u               times as seconds since the epoch\n"
	"  -p DIGITS        fractional digits of times (default 6)\n"
	"  --no-header      no column header\n"
	"  --block-records N  records per block (default 65536)\n"
	"  --stats          print counts of blocks and records to stderr\n"
	"\n"
	"FILTER is tcpdump-like: 'host 10.0.0.1 and dst port 22', 'tcp and not net\n"
	"10.0.0.0/8', 'bytes > 1M' (docs/filter.md).\n";

struct read_state {
	struct cli_opts *o;
	struct floe_filter *filter;
	struct floe_output *out;
	struct floe_writer *w;
	uint8_t (*addrs)[16];
	size_t naddrs;
	uint64_t matched;
	struct floe_reader_stats total;
	uint64_t files;
};

/* Skips a block whose Bloom filter rules out every address the filter
 * requires (filter.h: floe_filter_required_addrs). */
static bool block_may_match(void *ud, const struct floe_block_summary *s)
{
	struct read_state *st = ud;
	for (size_t i = 0; i < st->naddrs; i++)
		if (floe_block_may_contain(s, st->addrs[i]))
			return true;
	return false;
}

static int read_one(struct read_state *st, const char *path)
{
	struct cli_opts *o = st->o;
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(path, cli_log(), &eb);
	if (!r) {
		cli_error(o, "%s", eb.msg);
		return EXIT_FAIL;
	}
	if (st->naddrs)
		floe_reader_set_block_filter(r, block_may_match, st);
	int rc = EXIT_OK;
	for (;;) {
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = floe_reader_next(r, &recs, &n);
		if (e == FLOE_EOF)
			break;
		if (e != FLOE_OK) {
			cli_error(o, "%s", floe_reader_error(r));
			rc = EXIT_FAIL;
			break;
		}
		for (size_t i = 0; i < n; i++) {
			if (st->filter && !floe_filter_match(st->filter, &recs[i]))
				continue;
			st->matched++;
			if (st->w) {
				if (floe_writer_add(st->w, &recs[i]) != FLOE_OK) {
					rc = EXIT_FAIL;
					break;
				}
			} else if (floe_output_write(st->out, &recs[i]) != FLOE_OK) {
				rc = EXIT_FAIL;
				break;
			}
		}
		if (rc != EXIT_OK)
			break;
	}
	struct floe_reader_stats rs;
	floe_reader_stats(r, &rs);
	st->total.blocks_read += rs.blocks_read;
	st->total.blocks_skipped += rs.blocks_skipped;
	st->total.blocks_damaged += rs.blocks_damaged;
	st->total.records += rs.records;
	st->total.bytes_read += rs.bytes_read;
	st->files++;
	if (rc == EXIT_OK && rs.blocks_damaged)
		rc = EXIT_DAMAGED;
	floe_reader_close(r);
	return rc;
}

int cmd_read(int argc, char **argv)
{
	struct cli_opts o = {.cmd = "read"};
	bool help;
	int rc = cli_parse(&o, OPT_READ | OPT_WRITE | OPT_PRINT, argc, argv, &help);
	if (rc != EXIT_OK || help) {
		if (help)
			fputs(read_help, stdout);
		cli_opts_release(&o);
		return rc;
	}
	if (o.nrfiles == 0) {
		cli_error(&o, "no input: give -r FILE (try 'floe read --help')");
		cli_opts_release(&o);
		return EXIT_USAGE;
	}

	struct read_state st = {.o = &o};
	struct floe_errbuf eb = {0};
	if (o.filter) {
		struct floe_filter_opts fo = {.local = o.local};
		st.filter = floe_filter_compile_opts(o.filter, &fo, &eb);
		if (!st.filter) {
			cli_error(&o, "bad filter '%s': %s", o.filter, eb.msg);
			cli_opts_release(&o);
			return EXIT_USAGE;
		}
		size_t cap = 64;
		st.addrs = calloc(cap, sizeof(*st.addrs));
		if (st.addrs && !floe_filter_required_addrs(st.filter, st.addrs, cap, &st.naddrs))
			st.naddrs = 0;
	}

	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	if (o.wfile) {
		struct floe_writer_opts wo = {.block_records = o.block_records, .log = cli_log()};
		st.w = floe_writer_open(o.wfile, &wo, &eb);
		if (!st.w) {
			cli_error(&o, "%s", eb.msg);
			rc = EXIT_FAIL;
			goto out;
		}
	} else {
		st.out = floe_output_create(stdout, (enum floe_outfmt)o.outfmt, o.cols, o.ncols, &o.fmt,
		                            !o.no_header);
		if (!st.out) {
			cli_error(&o, "out of memory");
			rc = EXIT_FAIL;
			goto out;
		}
	}

	for (size_t i = 0; i < o.nrfiles; i++) {
		int r1 = read_one(&st, o.rfiles[i]);
		if (r1 == EXIT_FAIL) {
			rc = EXIT_FAIL;
			break;
		}
		if (r1 != EXIT_OK && rc == EXIT_OK)
			rc = r1;
	}

	if (st.w) {
		floe_errbuf_clear(&eb);
		if (floe_writer_close(st.w, &eb) != FLOE_OK) {
			cli_error(&o, "%s", eb.msg);
			rc = EXIT_FAIL;
		}
		st.w = NULL;
	}
	if (st.out && rc == EXIT_FAIL) {
		/* nothing half-done on stdout, not even a header */
		floe_output_discard(st.out);
		st.out = NULL;
	}
	if (st.out) {
		if (floe_output_finish(st.out) != FLOE_OK) {
			cli_error(&o, "cannot write output");
			rc = EXIT_FAIL;
		}
		st.out = NULL;
	}
	if (o.stats)
		fprintf(stderr,
		        "files %" PRIu64 ", blocks read %" PRIu64 ", skipped %" PRIu64
		        ", damaged %" PRIu64 ", records examined %" PRIu64 ", matched %" PRIu64 "\n",
		        st.files, st.total.blocks_read, st.total.blocks_skipped, st.total.blocks_damaged,
		        st.total.records, st.matched);
out:
	if (st.w)
		floe_writer_abandon(st.w);
	if (st.out)
		floe_output_discard(st.out);
	free(st.addrs);
	floe_filter_destroy(st.filter);
	cli_opts_release(&o);
	return rc;
}
