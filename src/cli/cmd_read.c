/*
 * cmd_read.c - `floe read`: print or copy records from floe files.
 *
 *   floe read -r FILE... | -R DIR... [-t RANGE] [-s FIELDS] [-o text|csv|json]
 *             [-n] [-u] [-w OUT | --archive DIR] [--stats] [FILTER]
 *   floe read ... -o ipfix [-w OUT.ipfix]      (an IPFIX file, RFC 5655)
 *
 * Like Argus's ra: records are printed in file order; -w writes the
 * matching records as a floe file ("-" for a pipe), so reads compose.
 */
#include "cli.h"
#include "archive/archive.h"
#include "archive/source.h"
#include "codec/codec.h"
#include "filter/filter.h"
#include "progress.h"
#include "query/output.h"
#include "sink.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char read_help[] =
	"usage: floe read -r FILE... | -R DIR... [options] [FILTER]\n"
	"\n"
	"Prints the records of floe files (\"-\" reads standard input).\n"
	"\n"
	"  -r FILE...       input files\n"
	"  -R DIR...        every .floe (and .floe.part) file below DIR, e.g. an archive\n"
	"  -t RANGE         records overlapping RANGE: 2025-06-13T06:00/2025-06-14T06:00,\n"
	"                   2025-06-13, 2025-06-13T06:00/+2h, -1d (docs/archive.md);\n"
	"                   without Z or +hh:mm times are local (TZ)\n"
	"  --no-index       read every block (no skipping by name, footer, time, Bloom)\n"
	"  --archive DIR    write matching records into an archive (docs/archive.md)\n"
	"  --instance NAME  archive instance (default floe)\n"
	"  --rotate DUR     archive file period, dividing a day (default 1h)\n"
	"  --keep DUR       with --archive: expire files older than DUR (e.g. 180d) at\n"
	"                   start and at each rotation, as 'floe archive expire'\n"
	"  --max-size SIZE  with --archive: and the oldest past SIZE (e.g. 400G)\n"
	"  -w FILE          write matching records as a floe file (\"-\": stdout)\n"
	"  -s FIELDS        columns, e.g. -s stime saddr daddr bytes, or +field/-field\n"
	"                   to change the defaults ('floe fields' lists them)\n"
	"  -o FORMAT        text (default), csv or json; ipfix writes an IPFIX file\n"
	"                   (RFC 5655) to -w FILE or to standard output (docs/ipfix.md)\n"
	"  -n               numbers, not names, for protocols\n"
	"  -u               times as seconds since the epoch\n"
	"  -p DIGITS        fractional digits of times (default 6)\n"
	"  --no-header      no column header\n"
	"  --block-records N  records per block (default 65536)\n"
	"  --encoders N       threads compressing blocks for -w and --archive\n"
	"                     (default 1 on two or more processors; 29 MB each)\n"
	"  --stats          print counts of blocks and records to stderr\n"
	"  -S HOST:PORT     records of a stream server (repeatable; docs/stream.md); the\n"
	"                   filter is applied at the server; ends when every server ends,\n"
	"                   on SIGINT/SIGTERM, or with --count N / --duration D\n"
	"  --listen [ADDR:]PORT  serve the records to stream subscribers (loopback unless\n"
	"                   ADDR; other addresses need --tls-cert, --tls-key and --token)\n"
	"  --tls-cert FILE --tls-key FILE --tls-ca FILE --token FILE  TLS and the token:\n"
	"                   with --listen the server's, with -S the client's (--tls-ca:\n"
	"                   the CA that signed the other side's certificate)\n"
	"  --subscribers N  with --listen: wait for N subscribers before the first record\n"
	"  --linger DUR     with --listen: keep serving DUR after the last record\n"
	"  --subscriber-buffer SIZE  with --listen: a subscriber this far behind is cut\n"
	"                   off (default 32M)\n"
	"  --spool DIR --spool-max SIZE  with --listen: keep the blocks served in DIR\n"
	"                   (at most SIZE, default 1G) for subscribers that were away\n"
	"\n"
	"FILTER is tcpdump-like: 'host 10.0.0.1 and dst port 22', 'tcp and not net\n"
	"10.0.0.0/8', 'bytes > 1M' (docs/filter.md).\n";

struct read_state {
	struct cli_opts *o;
	struct floe_filter *filter;
	struct cli_sink sink;
	uint64_t matched;
	struct cli_progress progress;
};

/* Sends one matching record where the options say. */
static int emit(struct read_state *st, const struct floe_flow *f)
{
	st->matched++;
	/* errors are sticky; cli_sink_close reports them */
	return cli_sink_add(&st->sink, f) == FLOE_OK ? EXIT_OK : EXIT_FAIL;
}

/* Reads every block the source yields; returns EXIT_OK or EXIT_FAIL. */
static int read_all(struct read_state *st, struct floe_source *src)
{
	const struct floe_timerange *tr = &st->o->trange;
	bool timed = !floe_timerange_is_all(tr);
	for (;;) {
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = floe_source_next(src, &recs, &n);
		cli_progress_update(&st->progress, e == FLOE_OK ? n : 0);
		if (e == FLOE_EOF)
			return EXIT_OK;
		if (e != FLOE_OK) {
			cli_error(st->o, "%s", floe_source_error(src));
			return EXIT_FAIL;
		}
		for (size_t i = 0; i < n; i++) {
			if (timed && !floe_timerange_overlaps(tr, recs[i].stime, recs[i].ltime))
				continue;
			if (st->filter && !floe_filter_match(st->filter, &recs[i]))
				continue;
			if (emit(st, &recs[i]) != EXIT_OK)
				return EXIT_FAIL;
		}
	}
}

/* Column pruning: the columns the filter and the printed fields read
 * (late materialization: the filter's columns first, the others only for
 * records it matches). */
static uint64_t col(size_t off, size_t size)
{
	return floe_columns_of(off, size);
}
#define COLS(m) col(offsetof(struct floe_flow, m), sizeof(((struct floe_flow *)0)->m))

/* The columns the printed fields need: stored fields by their offset; the
 * derived ones this list knows; anything else decodes everything. */
static uint64_t output_columns(const struct cli_opts *o)
{
	uint64_t m = 0;
	for (size_t i = 0; i < o->ncols; i++) {
		const struct floe_field *fd = o->cols[i];
		if (fd->size) {
			m |= col(fd->off, fd->size);
		} else if (strcmp(fd->name, "dur") == 0) {
			m |= COLS(stime) | COLS(ltime);
		} else if (strcmp(fd->name, "dir") == 0) {
			m |= COLS(etype) | COLS(flags) | COLS(spkts) | COLS(dpkts) | COLS(proto);
		} else if (strcmp(fd->name, "pkts") == 0) {
			m |= COLS(spkts) | COLS(dpkts);
		} else if (strcmp(fd->name, "bytes") == 0) {
			m |= COLS(sbytes) | COLS(dbytes);
		} else {
			return 0;
		}
	}
	return m;
}

/* The filter on partly decoded records (source.h rec_probe). */
static bool filter_probe(void *ud, const struct floe_flow *rec)
{
	return floe_filter_match(ud, rec);
}

/* Reads stream sources (-S) into the sink; EXIT_DAMAGED if records were
 * lost on the way (seq gaps). */
static int read_stream(struct read_state *st)
{
	const struct floe_timerange *tr = &st->o->trange;
	bool timed = !floe_timerange_is_all(tr);
	struct cli_stream_in *in = cli_stream_in_open(st->o);
	if (!in)
		return EXIT_FAIL;
	if (cli_sink_open(&st->sink, st->o) != EXIT_OK) {
		(void)cli_stream_in_close(in);
		return EXIT_FAIL;
	}
	int rc = EXIT_OK;
	for (;;) {
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = cli_stream_in_next(in, &recs, &n);
		if (e != FLOE_OK) {
			rc = e == FLOE_EOF ? EXIT_OK : EXIT_FAIL;
			break;
		}
		for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
			if (timed && !floe_timerange_overlaps(tr, recs[i].stime, recs[i].ltime))
				continue;
			if (st->filter && !floe_filter_match(st->filter, &recs[i]))
				continue;
			rc = emit(st, &recs[i]);
		}
		if (rc != EXIT_OK)
			break;
	}
	int src = cli_stream_in_close(in);
	if (rc == EXIT_OK)
		rc = src;
	if (cli_sink_close(&st->sink, st->o, rc == EXIT_FAIL) != EXIT_OK)
		rc = EXIT_FAIL;
	return rc;
}

static void print_stats(const struct floe_source_stats *ss, uint64_t matched)
{
	fprintf(stderr,
	        "files considered %" PRIu64 ", skipped %" PRIu64 " (by name %" PRIu64
	        ", by footer %" PRIu64 ", by address filter %" PRIu64 "), read %" PRIu64
	        ", failed %" PRIu64 "\n"
	        "blocks considered %" PRIu64 ", skipped %" PRIu64 " (%" PRIu64
	        " after decoding times and addresses), read %" PRIu64 ", damaged %" PRIu64 "\n"
	        "records examined %" PRIu64 ", matched %" PRIu64 "\n",
	        ss->files_considered,
	        ss->files_skipped_name + ss->files_skipped_footer + ss->files_skipped_addr,
	        ss->files_skipped_name, ss->files_skipped_footer, ss->files_skipped_addr,
	        ss->files_read, ss->files_failed,
	        ss->blocks_considered, ss->blocks_skipped, ss->blocks_probed, ss->blocks_read,
	        ss->blocks_damaged,
	        ss->records, matched);
}

int cmd_read(int argc, char **argv)
{
	struct cli_opts o = {.cmd = "read"};
	int rc;
	if (!cli_begin(&o, OPT_READ | OPT_WRITE | OPT_PRINT | OPT_SOURCE | OPT_ARCHIVE | OPT_STREAM |
	               OPT_LISTEN, argc, argv, read_help, &rc))
		return rc;
	return cli_read_run(&o);
}

int cli_read_run(struct cli_opts *o)
{
	int rc = EXIT_OK;
	if (o->nrfiles == 0 && o->nrdirs == 0 && o->nstreams == 0) {
		cli_error(o, "no input: give -r FILE, -R DIR or -S HOST:PORT (try 'floe %s --help')",
		          o->cmd);
		cli_opts_release(o);
		return EXIT_USAGE;
	}

	struct read_state st = {.o = o};
	struct floe_errbuf eb = {0};
	struct floe_source *src = NULL;
	uint8_t (*addrs)[16] = NULL;
	size_t naddrs = 0;
	if (o->filter) {
		struct floe_filter_opts fo = {.local = o->local};
		st.filter = floe_filter_compile_opts(o->filter, &fo, &eb);
		if (!st.filter) {
			cli_error(o, "bad filter '%s': %s", o->filter, eb.msg);
			cli_opts_release(o);
			return EXIT_USAGE;
		}
		size_t cap = 64;
		addrs = calloc(cap, sizeof(*addrs));
		if (addrs && !floe_filter_required_addrs(st.filter, addrs, cap, &naddrs))
			naddrs = 0;
	}
	if (o->nstreams) {
		rc = read_stream(&st);
		goto out;
	}
	/* RFC 5655 IPFIX files are decoded by the collector (cmd_collect.c) */
	if (o->nrfiles && o->nrdirs == 0) {
		size_t nipfix = 0;
		for (size_t i = 0; i < o->nrfiles; i++)
			nipfix += cli_is_ipfix_file(o->rfiles[i]);
		if (nipfix == o->nrfiles) {
			rc = cli_read_ipfix(o, st.filter);
			goto out;
		}
	}
	struct floe_source_opts so = {.range = o->trange, .addrs = (const uint8_t (*)[16])addrs,
	                              .naddrs = naddrs, .no_index = o->no_index, .log = cli_log(),
	                              .threads = cli_read_threads()};
	if (!o->wfile && !o->archive && !o->out_ipfix && !o->export_url && !o->listen) {
		/* printing: decode only the columns printed and matched */
		uint64_t fc = st.filter ? cli_filter_columns(st.filter) : COLS(stime);
		uint64_t oc = output_columns(o);
		/* times, and what printing and matching of any field may consult */
		uint64_t base = COLS(stime) | COLS(ltime) | COLS(proto) | COLS(ipver) | COLS(etype) |
		                COLS(flags);
		if (fc && oc)
			so.columns = fc | oc | base;
		if (fc && st.filter) {
			so.rec_probe = filter_probe;
			so.rec_probe_ud = st.filter;
			so.rec_columns = fc;  /* the filter names what it reads */
		}
	}
	src = floe_source_create(&so, &eb);
	if (!src) {
		cli_error(o, "%s", eb.msg);
		rc = EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < o->nrfiles && rc == EXIT_OK; i++)
		if (floe_source_add_file(src, o->rfiles[i], &eb) != FLOE_OK)
			rc = EXIT_FAIL;
	for (size_t i = 0; i < o->nrdirs && rc == EXIT_OK; i++)
		if (floe_source_add_dir(src, o->rdirs[i], &eb) != FLOE_OK)
			rc = EXIT_FAIL;
	if (rc != EXIT_OK) {
		cli_error(o, "%s", eb.msg);
		goto out;
	}

	if (cli_sink_open(&st.sink, o) != EXIT_OK) {
		rc = EXIT_FAIL;
		goto out;
	}

	cli_progress_init(&st.progress, o->cmd, src, !o->wfile && !o->archive && !o->export_url);
	rc = read_all(&st, src);
	cli_progress_release(&st.progress);
	struct floe_source_stats ss;
	floe_source_stats(src, &ss);
	if (rc == EXIT_OK && (ss.blocks_damaged || ss.files_failed))
		rc = EXIT_DAMAGED;
	if (cli_sink_close(&st.sink, o, rc == EXIT_FAIL) != EXIT_OK)
		rc = EXIT_FAIL;
	if (o->stats)
		print_stats(&ss, st.matched);
out:
	cli_sink_abandon(&st.sink);
	floe_source_destroy(src);
	free(addrs);
	floe_filter_destroy(st.filter);
	cli_opts_release(o);
	return rc;
}
