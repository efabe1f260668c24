/*
 * filter.h - the record filter language (docs/filter.md).
 *
 * tcpdump-like, as Argus and nfdump users write it:
 *   host 10.0.1.17 and dst port 22
 *   src net 10.0.0.0/8 and not port 53
 *   tcp or udp, proto 47, ip6, (a or b) and not c
 * Text is compiled once into a predicate tree; matching a record does no
 * parsing and no allocation.  Field names come from the field catalog
 * (field.h).
 *
 * Must not depend on: meter, decode, codec, libpcap.
 */
#ifndef FLOE_FILTER_H
#define FLOE_FILTER_H

#include <stdbool.h>

#include "err.h"
#include "flow.h"

struct floe_filter;

/* Compiles text.  Returns NULL with eb set on a syntax error (MALFORMED,
 * message "column N: expected ..., found '...'") or NOMEM.  An empty or
 * all-blank text compiles to a filter that matches everything. */
struct floe_filter *floe_filter_compile(const char *text, struct floe_errbuf *eb);
void floe_filter_destroy(struct floe_filter *f);

bool floe_filter_match(const struct floe_filter *f, const struct floe_flow *rec);

#endif
