/* sink.c - the record sink of capture, read and export (sink.h). */
#include "sink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* -o ipfix and floe export: an IPFIX writer to a file, stdout or UDP. */
static int ipfix_open(struct cli_sink *s, const struct cli_opts *o, struct floe_errbuf *eb)
{
	struct floe_ipfix_opts io = {.domain = o->ipfix_domain};
	floe_ipfix_out_fn out;
	void *ctx;
	if (o->export_url) {
		s->udp_fd = floe_ipfix_udp_open(o->export_url, eb);
		if (s->udp_fd < 0)
			return EXIT_FAIL;
		s->udp = true;
		/* RFC 7011 §8.4: on UDP templates are sent again periodically */
		io.max_msg = o->ipfix_mtu ? o->ipfix_mtu : FLOE_IPFIX_UDP_MSG;
		io.template_interval = o->ipfix_template_secs ? o->ipfix_template_secs : 60;
		io.template_msgs = 100;
		s->ipfix_name = o->export_url;
		out = floe_ipfix_out_udp;
		ctx = &s->udp_fd;
	} else {
		if (o->archive) {
			floe_errbuf_set(eb, FLOE_INVALID, "-o ipfix writes an IPFIX file, not an archive");
			return EXIT_FAIL;
		}
		if (o->wfile && strcmp(o->wfile, "-") != 0) {
			s->ipfix_fp = fopen(o->wfile, "wb");
			if (!s->ipfix_fp) {
				floe_errbuf_set(eb, FLOE_IO, "cannot create '%s': %s", o->wfile, strerror(errno));
				return EXIT_FAIL;
			}
			s->ipfix_name = o->wfile;
		} else {
			if (isatty(STDOUT_FILENO)) {
				floe_errbuf_set(eb, FLOE_INVALID, "%s",
				                "not writing binary IPFIX to a terminal: redirect standard "
				                "output or give -w FILE");
				return EXIT_FAIL;
			}
			s->ipfix_fp = stdout;
			s->ipfix_name = "standard output";
		}
		out = floe_ipfix_out_file;
		ctx = s->ipfix_fp;
	}
	s->ipfix = floe_ipfix_writer_create(&io, out, ctx, eb);
	if (!s->ipfix)
		return EXIT_FAIL;
	floe_ipfix_writer_set_time(s->ipfix, (int64_t)time(NULL));
	return EXIT_OK;
}

int cli_sink_open(struct cli_sink *s, const struct cli_opts *o)
{
	struct floe_errbuf eb = {0};
	*s = (struct cli_sink){0};
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	if (o->listen) {
		if (cli_stream_out_open(&s->stream, o) != EXIT_OK)
			return EXIT_FAIL;
		if (!o->archive && !o->wfile && !o->out_ipfix && !o->export_url)
			return EXIT_OK;   /* served only */
	}
	if (o->export_url || o->out_ipfix) {
		if (ipfix_open(s, o, &eb) != EXIT_OK) {
			cli_error(o, "%s", eb.msg);
			cli_sink_abandon(s);
			return EXIT_FAIL;
		}
		return EXIT_OK;
	}
	if (o->archive) {
		struct floe_archive_opts ao = {.dir = o->archive, .instance = o->instance ? o->instance : "floe",
		                               .rotate = o->rotate, .block_records = o->block_records,
		                               .log = cli_log(), .recover = true,
		                               .expire_keep = o->keep, .expire_max_bytes = o->max_size,
		                               .threads = cli_write_threads(o)};
		s->ar = floe_archive_create(&ao, &eb);
	} else if (o->wfile) {
		struct floe_writer_opts wo = {.instance = o->instance, .block_records = o->block_records,
		                              .log = cli_log(), .threads = cli_write_threads(o)};
		s->w = floe_writer_open(o->wfile, &wo, &eb);
	} else {
		s->out = floe_output_create(stdout, (enum floe_outfmt)o->outfmt, o->cols, o->ncols, &o->fmt,
		                            !o->no_header);
		if (!s->out)
			floe_errbuf_set(&eb, FLOE_NOMEM, "out of memory");
	}
	if (!s->ar && !s->w && !s->out) {
		cli_error(o, "%s", eb.msg);
		cli_sink_abandon(s);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

enum floe_err cli_sink_add(struct cli_sink *s, const struct floe_flow *f)
{
	if (s->err != FLOE_OK)
		return s->err;
	if (s->stream) {
		f = cli_stream_out_add(s->stream, f, &s->err);
		if (s->err != FLOE_OK || (!s->ipfix && !s->ar && !s->w && !s->out))
			return s->err;
	}
	if (s->ipfix) {
		/* Export Time: when the message leaves (RFC 7011 §3.1) */
		floe_ipfix_writer_set_time(s->ipfix, (int64_t)time(NULL));
		s->err = floe_ipfix_writer_add(s->ipfix, f);
	} else if (s->ar)
		s->err = floe_archive_add(s->ar, f);
	else if (s->w)
		s->err = floe_writer_add(s->w, f);
	else
		s->err = floe_output_write(s->out, f);
	return s->err;
}

/* Flushes and closes the IPFIX writer and its file or socket. */
static bool ipfix_close(struct cli_sink *s, bool discard)
{
	bool ok = s->err == FLOE_OK;
	if (!discard && floe_ipfix_writer_flush(s->ipfix) != FLOE_OK)
		ok = false;
	floe_ipfix_writer_destroy(s->ipfix);
	s->ipfix = NULL;
	if (s->ipfix_fp == stdout) {
		if (fflush(stdout) != 0)
			ok = false;
	} else if (s->ipfix_fp && fclose(s->ipfix_fp) != 0) {
		ok = false;
	}
	s->ipfix_fp = NULL;
	if (s->udp)
		close(s->udp_fd);
	s->udp = false;
	return ok;
}

int cli_sink_close(struct cli_sink *s, const struct cli_opts *o, bool discard)
{
	struct floe_errbuf eb = {0};
	int rc = EXIT_OK;
	if (s->ipfix) {
		const char *name = s->ipfix_name;
		if (!ipfix_close(s, discard)) {
			floe_errbuf_set(&eb, FLOE_IO, "cannot write IPFIX to '%s'", name);
			rc = EXIT_FAIL;
		}
	}
	/* archive and writer errors are sticky: closing returns the first one,
	 * with its message naming the file */
	if (s->ar && floe_archive_close(s->ar, &eb) != FLOE_OK)
		rc = EXIT_FAIL;
	if (s->w && floe_writer_close(s->w, &eb) != FLOE_OK)
		rc = EXIT_FAIL;
	if (s->out) {
		bool failed = s->err != FLOE_OK;
		if (discard)
			floe_output_discard(s->out);
		else if (floe_output_finish(s->out) != FLOE_OK)
			failed = true;
		if (failed) {
			floe_errbuf_set(&eb, FLOE_IO, "cannot write output");
			rc = EXIT_FAIL;
		}
	}
	if (rc != EXIT_OK)
		cli_error(o, "%s", eb.msg);
	if (cli_stream_out_close(s->stream, o, discard) != EXIT_OK)
		rc = EXIT_FAIL;
	*s = (struct cli_sink){0};
	return rc;
}

void cli_sink_abandon(struct cli_sink *s)
{
	if (s->ipfix || s->ipfix_fp || s->udp)
		(void)ipfix_close(s, true);
	floe_archive_abandon(s->ar);
	floe_writer_abandon(s->w);
	floe_output_discard(s->out);
	(void)cli_stream_out_close(s->stream, NULL, true);
	*s = (struct cli_sink){0};
}
