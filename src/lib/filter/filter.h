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
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flow.h"

struct floe_filter;

/* Compiles text (NUL-terminated, borrowed).  Returns NULL with eb set:
 *   MALFORMED  a syntax error, unknown field, bad address, prefix length,
 *              number or state; the message names the 1-based column:
 *              "column N: expected ..., found '...'"
 *   LIMIT      text longer than 64 KiB, or nesting of '(' and 'not' deeper
 *              than 200 levels
 *   NOMEM      allocation failed
 * The caller shows eb->msg to the user and gives up.  An empty or all-blank
 * text (or just Argus's "-") compiles to a filter that matches everything.
 * eb may be NULL.  The returned handle is owned by the caller. */
struct floe_filter *floe_filter_compile(const char *text, struct floe_errbuf *eb);
/* Frees f; NULL does nothing. */
void floe_filter_destroy(struct floe_filter *f);

/* True if rec matches.  No allocation, no parsing; and/or short-circuit.
 * A compiled filter is immutable: threads may share it. */
bool floe_filter_match(const struct floe_filter *f, const struct floe_flow *rec);

/*
 * Block skipping (Bloom filters of addresses, DESIGN.md "Files").  Returns
 * true, with the distinct addresses in out[0..*n), if every record f matches
 * must have one of them as saddr or daddr: `host X and tcp`, `host X or
 * host Y`, `src host X`, `net X/32`.  Returns false (*n = 0) when f requires
 * no such set (`tcp`, `not host X`, `host X or tcp`, `net 10.0.0.0/8`) or
 * the set would exceed cap addresses; the caller then reads every block.
 * Addresses are 16 bytes, IPv4 v4-mapped, as in struct floe_flow.
 */
bool floe_filter_required_addrs(const struct floe_filter *f, uint8_t (*out)[16],
                                size_t cap, size_t *n);

#endif
