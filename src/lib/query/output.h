/*
 * output.h - record writers for people and scripts: aligned text (like ra),
 * CSV with a header, JSON lines.  Column names and titles come from the
 * field catalog.  The binary form is the block codec (codec/codec.h).
 *
 * The writer writes to a FILE * owned by the caller; it does no other I/O.
 */
#ifndef FLOE_QUERY_OUTPUT_H
#define FLOE_QUERY_OUTPUT_H

#include <stdio.h>

#include "err.h"
#include "field.h"
#include "flow.h"

enum floe_outfmt { FLOE_OUT_TEXT, FLOE_OUT_CSV, FLOE_OUT_JSON };

/* Parses "text", "csv", "json"; -1 if unknown. */
int floe_outfmt_parse(const char *s);

struct floe_output;

/* Creates a writer of cols (borrowed; must outlive the writer).  header:
 * print the column titles (text) or names (CSV) first.  NULL on NOMEM. */
struct floe_output *floe_output_create(FILE *fp, enum floe_outfmt fmt,
                                       const struct floe_field *const *cols, size_t ncols,
                                       const struct floe_fmtopts *opts, bool header);
/* Writes one record.  Returns IO if the stream failed. */
FLOE_WUR enum floe_err floe_output_write(struct floe_output *o, const struct floe_flow *f);
/* Writes one record where cells[i], if not NULL, is the text of column i
 * (values computed outside the catalog: pct(), dcount()); cells may be
 * NULL.  JSON prints a cell as a number if its column's type is numeric. */
FLOE_WUR enum floe_err floe_output_write_cells(struct floe_output *o, const struct floe_flow *f,
                                               const char *const *cells);
/* Flushes; returns IO if anything failed.  Frees.  NULL: OK. */
FLOE_WUR enum floe_err floe_output_finish(struct floe_output *o);
/* Frees without caring for errors (the caller is already failing). */
void floe_output_discard(struct floe_output *o);

/* Writes s (NUL-terminated) to fp as one CSV field (RFC 4180): as it is,
 * or quoted with '"' doubled when it holds a comma, a quote, CR or LF.
 * The CSV writer's cells and the CSV of reports use it; a write error
 * shows in ferror(fp). */
void floe_output_csv_cell(FILE *fp, const char *s);

/* Writes s (NUL-terminated) to fp as a JSON string: quotes, '"' and '\\'
 * escaped, control characters as \u00XX, every other byte unchanged (no
 * UTF-8 check).  The JSON writer's strings and JSON the front end prints
 * (floe detect) use it; a write error shows in ferror(fp). */
void floe_output_json_string(FILE *fp, const char *s);

/*
 * Parses a column selection the way ra's -s does: names or aliases,
 * separated by spaces or commas; "+name" adds to the current list (the
 * defaults if it starts with one), "-name" removes.  Fills cols (capacity
 * cap) and *n.  Returns INVALID with eb naming the unknown field.
 */
FLOE_WUR enum floe_err floe_output_parse_cols(const char *spec, const struct floe_field **cols,
                                              size_t cap, size_t *n, struct floe_errbuf *eb);

#endif
