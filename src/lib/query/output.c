/*
 * output.c - text, CSV and JSON record writers (output.h).
 *
 * Text aligns columns to the catalog widths as ra does; CSV quotes only
 * what needs quoting (RFC 4180); JSON writes one object per line with
 * numbers unquoted, so `jq` and log shippers take it as is.
 */
#include "query/output.h"
#include "util/mem.h"
#include "util/timefmt.h"
#include "util/words.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __GLIBC__
#include <stdio_ext.h>
#endif

struct floe_output {
	FILE *fp;
	enum floe_outfmt fmt;
	const struct floe_field *const *cols;
	size_t ncols;
	struct floe_fmtopts opts;
	bool header_pending;
};

int floe_outfmt_parse(const char *s)
{
	if (strcasecmp(s, "text") == 0)
		return FLOE_OUT_TEXT;
	if (strcasecmp(s, "csv") == 0)
		return FLOE_OUT_CSV;
	if (strcasecmp(s, "json") == 0 || strcasecmp(s, "jsonl") == 0)
		return FLOE_OUT_JSON;
	return -1;
}

struct floe_output *floe_output_create(FILE *fp, enum floe_outfmt fmt,
                                       const struct floe_field *const *cols, size_t ncols,
                                       const struct floe_fmtopts *opts, bool header)
{
	struct floe_output *o = floe_calloc(NULL, 1, sizeof(*o));
	if (!o)
		return NULL;
	o->fp = fp;
	o->fmt = fmt;
	o->cols = cols;
	o->ncols = ncols;
	o->opts = *opts;
	if (fmt == FLOE_OUT_JSON)
		o->opts.timefmt = FLOE_TIME_RFC3339;
	o->header_pending = header && fmt != FLOE_OUT_JSON;
#ifdef __GLIBC__
	/* one writer per stream: no lock per character */
	__fsetlocking(fp, FSETLOCKING_BYCALLER);
#endif
	return o;
}

static void pad(FILE *fp, int n)
{
	static const char spaces[] = "                                ";
	while (n > 0) {
		int k = n < (int)sizeof(spaces) - 1 ? n : (int)sizeof(spaces) - 1;
		fwrite(spaces, 1, (size_t)k, fp);
		n -= k;
	}
}

static void text_cell(struct floe_output *o, size_t i, const char *s)
{
	int w = o->cols[i]->width;
	int len = (int)strlen(s);
	if (i)
		putc(' ', o->fp);
	if (w >= 0) {
		pad(o->fp, w - len);
		fputs(s, o->fp);
	} else {
		fputs(s, o->fp);
		if (i + 1 < o->ncols)
			pad(o->fp, -w - len);
	}
}

void floe_output_csv_cell(FILE *fp, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, fp);
		return;
	}
	putc('"', fp);
	for (; *s; s++) {
		if (*s == '"')
			putc('"', fp);
		putc(*s, fp);
	}
	putc('"', fp);
}

void floe_output_json_string(FILE *fp, const char *s)
{
	putc('"', fp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20)
			fprintf(fp, "\\u%04x", c);
		else
			putc(c, fp);
	}
	putc('"', fp);
}

static bool json_is_number(const struct floe_field *fd, const struct floe_flow *f)
{
	switch (fd->type) {
	case FLOE_FT_UINT:
	case FLOE_FT_DUR:
	case FLOE_FT_RATE:
		return true;
	case FLOE_FT_PORT:
		return f->etype != FLOE_ETH_ARP;
	default:
		return false;
	}
}

static void write_header(struct floe_output *o)
{
	for (size_t i = 0; i < o->ncols; i++) {
		if (o->fmt == FLOE_OUT_TEXT) {
			text_cell(o, i, o->cols[i]->title);
		} else {
			if (i)
				putc(',', o->fp);
			fputs(o->cols[i]->name, o->fp);
		}
	}
	putc('\n', o->fp);
}

enum floe_err floe_output_write(struct floe_output *o, const struct floe_flow *f)
{
	return floe_output_write_cells(o, f, NULL);
}

/* A text line is assembled in one buffer and written with one fwrite:
 * per-cell strlen, fputs and padding calls were a fifth of the time of
 * printing millions of short lines. */
static void text_line(struct floe_output *o, const struct floe_flow *f, const char *const *cells)
{
	char line[4096];
	size_t n = 0;
	for (size_t i = 0; i < o->ncols; i++) {
		char buf[128];
		size_t len;
		if (cells && cells[i]) {
			len = strlen(cells[i]);
			if (len >= sizeof(buf))
				len = sizeof(buf) - 1;
			memcpy(buf, cells[i], len);
		} else {
			len = floe_field_format(o->cols[i], f, &o->opts, buf, sizeof(buf));
		}
		int w = o->cols[i]->width;
		size_t wabs = (size_t)(w < 0 ? -w : w);
		size_t padn = wabs > len ? wabs - len : 0;
		if (w < 0 && i + 1 == o->ncols)
			padn = 0;  /* no trailing blanks */
		if (n + 1 + padn + len > sizeof(line)) {
			fwrite(line, 1, n, o->fp);
			n = 0;
		}
		if (i)
			line[n++] = ' ';
		if (w >= 0) {
			memset(line + n, ' ', padn);
			memcpy(line + n + padn, buf, len);
		} else {
			memcpy(line + n, buf, len);
			memset(line + n + len, ' ', padn);
		}
		n += padn + len;
	}
	if (n == sizeof(line)) {
		fwrite(line, 1, n, o->fp);
		n = 0;
	}
	line[n++] = '\n';
	fwrite(line, 1, n, o->fp);
}

enum floe_err floe_output_write_cells(struct floe_output *o, const struct floe_flow *f,
                                      const char *const *cells)
{
	char buf[128];
	if (o->header_pending) {
		write_header(o);
		o->header_pending = false;
	}
	if (o->fmt == FLOE_OUT_TEXT) {
		text_line(o, f, cells);
		return ferror(o->fp) ? FLOE_IO : FLOE_OK;
	}
	if (o->fmt == FLOE_OUT_JSON)
		putc('{', o->fp);
	for (size_t i = 0; i < o->ncols; i++) {
		const struct floe_field *fd = o->cols[i];
		if (cells && cells[i])
			snprintf(buf, sizeof(buf), "%s", cells[i]);
		else
			floe_field_format(fd, f, &o->opts, buf, sizeof(buf));
		switch (o->fmt) {
		case FLOE_OUT_TEXT:
			text_cell(o, i, buf);
			break;
		case FLOE_OUT_CSV:
			if (i)
				putc(',', o->fp);
			floe_output_csv_cell(o->fp, buf);
			break;
		case FLOE_OUT_JSON:
			if (i)
				putc(',', o->fp);
			floe_output_json_string(o->fp, fd->name);
			putc(':', o->fp);
			if (json_is_number(fd, f) && buf[0])
				fputs(buf, o->fp);
			else
				floe_output_json_string(o->fp, buf);
			break;
		}
	}
	if (o->fmt == FLOE_OUT_JSON)
		putc('}', o->fp);
	putc('\n', o->fp);
	return ferror(o->fp) ? FLOE_IO : FLOE_OK;
}

enum floe_err floe_output_finish(struct floe_output *o)
{
	if (!o)
		return FLOE_OK;
	if (o->header_pending)
		write_header(o);
	enum floe_err e = (fflush(o->fp) != 0 || ferror(o->fp)) ? FLOE_IO : FLOE_OK;
	floe_free(NULL, o, sizeof(*o));
	return e;
}

static size_t find_col(const struct floe_field **cols, size_t n, const struct floe_field *fd)
{
	for (size_t i = 0; i < n; i++)
		if (cols[i] == fd)
			return i;
	return n;
}

enum floe_err floe_output_parse_cols(const char *spec, const struct floe_field **cols,
                                     size_t cap, size_t *n, struct floe_errbuf *eb)
{
	size_t k = 0;
	bool first = true;
	const char *p = spec;
	const char *start;
	size_t len;
	while (floe_next_word(&p, &start, &len)) {
		char word[64];
		if (len >= sizeof(word))
			return floe_errbuf_set(eb, FLOE_INVALID, "field name too long: '%.*s'", (int)len, start);
		memcpy(word, start, len);
		word[len] = '\0';
		char op = (word[0] == '+' || word[0] == '-') ? word[0] : 0;
		const char *name = op ? word + 1 : word;
		if (op && first) {
			size_t nd;
			const struct floe_field *const *defs = floe_fields_default(&nd);
			for (size_t i = 0; i < nd && k < cap; i++)
				cols[k++] = defs[i];
		}
		first = false;
		const struct floe_field *fd = floe_field_lookup(name);
		if (!fd)
			return floe_errbuf_set(eb, FLOE_INVALID, "unknown field '%s' (see 'floe fields')", name);
		if (op == '-') {
			size_t at = find_col(cols, k, fd);
			if (at < k) {
				memmove(&cols[at], &cols[at + 1], (k - at - 1) * sizeof(*cols));
				k--;
			}
			continue;
		}
		if (k == cap)
			return floe_errbuf_set(eb, FLOE_LIMIT, "too many fields (at most %zu)", cap);
		cols[k++] = fd;
	}
	*n = k;
	return FLOE_OK;
}

void floe_output_discard(struct floe_output *o)
{
	if (o)
		floe_free(NULL, o, sizeof(*o));
}
