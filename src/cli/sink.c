/* sink.c - the record sink of capture and read (sink.h). */
#include "sink.h"

#include <stdio.h>

int cli_sink_open(struct cli_sink *s, const struct cli_opts *o)
{
	struct floe_errbuf eb = {0};
	*s = (struct cli_sink){0};
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	if (o->archive) {
		struct floe_archive_opts ao = {.dir = o->archive, .instance = o->instance ? o->instance : "floe",
		                               .rotate = o->rotate, .block_records = o->block_records,
		                               .log = cli_log()};
		s->ar = floe_archive_create(&ao, &eb);
	} else if (o->wfile) {
		struct floe_writer_opts wo = {.instance = o->instance, .block_records = o->block_records,
		                              .log = cli_log()};
		s->w = floe_writer_open(o->wfile, &wo, &eb);
	} else {
		s->out = floe_output_create(stdout, (enum floe_outfmt)o->outfmt, o->cols, o->ncols, &o->fmt,
		                            !o->no_header);
		if (!s->out)
			floe_errbuf_set(&eb, FLOE_NOMEM, "out of memory");
	}
	if (!s->ar && !s->w && !s->out) {
		cli_error(o, "%s", eb.msg);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

enum floe_err cli_sink_add(struct cli_sink *s, const struct floe_flow *f)
{
	if (s->err != FLOE_OK)
		return s->err;
	if (s->ar)
		s->err = floe_archive_add(s->ar, f);
	else if (s->w)
		s->err = floe_writer_add(s->w, f);
	else
		s->err = floe_output_write(s->out, f);
	return s->err;
}

int cli_sink_close(struct cli_sink *s, const struct cli_opts *o, bool discard)
{
	struct floe_errbuf eb = {0};
	int rc = EXIT_OK;
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
	*s = (struct cli_sink){0};
	return rc;
}

void cli_sink_abandon(struct cli_sink *s)
{
	floe_archive_abandon(s->ar);
	floe_writer_abandon(s->w);
	floe_output_discard(s->out);
	*s = (struct cli_sink){0};
}
