/*
 * prefixes.h - labelled address prefixes with longest-prefix lookup: the
 * notes file of `floe report daily --notes` and the customers file of
 * `floe report accounting --customers` (docs/report.md).
 *
 * util/netset.h answers "is a in the set"; a report needs "which entry,
 * the most specific one": a set maps each prefix to the index of a label.
 * Layout: the prefixes sorted by length (longest first), then address;
 * a lookup masks the address once per distinct length and binary-searches
 * that length's run, so it costs a few dozen comparisons per distinct
 * length, never a walk of the list.  Everything is charged to a budget.
 *
 * The two file formats (both plain text, one entry a line, blank lines
 * and lines whose first non-blank character is '#' ignored):
 *   notes:      ADDR[/LEN]  label text to the end of the line
 *   customers:  NAME ADDR[/LEN] [ADDR[/LEN]...]   ('#' also ends a line)
 * The same prefix twice is an error (which label would win?); nested
 * prefixes are not: the longest that contains an address wins.
 *
 * Must not depend on: codec, query, archive, the CLI.
 */
#ifndef FLOE_REPORT_PREFIXES_H
#define FLOE_REPORT_PREFIXES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct floe_budget;
struct floe_prefixes;

/* Longest label text accepted (bytes). */
#define FLOE_LABEL_MAX 200

/* Parses a notes file of len bytes (need not be NUL-terminated) into
 * *out: one label per line, the text after the prefix.  MALFORMED with
 * eb naming the line (bad address, no label, control characters, a
 * duplicate prefix); LIMIT for a label past FLOE_LABEL_MAX; NOMEM. */
FLOE_WUR enum floe_err floe_notes_parse(const char *text, size_t len, struct floe_budget *b,
                                        struct floe_prefixes **out, struct floe_errbuf *eb);

/* Parses a customers file: a label per NAME (a word of printable
 * characters, at most 64), with one or more prefixes.  A NAME may not
 * repeat, nor a prefix.  Errors as floe_notes_parse. */
FLOE_WUR enum floe_err floe_customers_parse(const char *text, size_t len, struct floe_budget *b,
                                            struct floe_prefixes **out, struct floe_errbuf *eb);

/* The label index of the longest prefix containing a, or -1. */
long floe_prefixes_find(const struct floe_prefixes *p, const uint8_t a[16]);
/* Labels are numbered 0..count-1 in file order. */
size_t floe_prefixes_nlabels(const struct floe_prefixes *p);
const char *floe_prefixes_label(const struct floe_prefixes *p, size_t i);
/* Number of prefixes. */
size_t floe_prefixes_count(const struct floe_prefixes *p);
/* The label text of the longest prefix containing a, or NULL. */
const char *floe_prefixes_lookup(const struct floe_prefixes *p, const uint8_t a[16]);

void floe_prefixes_destroy(struct floe_prefixes *p);

#endif
