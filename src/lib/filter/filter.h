/*
 * filter.h - the record filter language (docs/filter.md).
 *
 * tcpdump-like, as Argus and nfdump users write it:
 *   host 10.0.1.17 and dst port 22
 *   src net 10.0.0.0/8 and not port 53
 *   tcp or udp, proto 47, ip6, (a or b) and not c
 *   host in [10.0.0.1 192.168.0.0/16], src host in @watchlist.txt
 *   src local and dst remote, dirunk
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
struct floe_netset;

/* What a filter may refer to besides the record itself. */
struct floe_filter_opts {
	/* The local networks (--local) for `local` and `remote`; NULL if none
	 * are configured, and then those words do not compile.  Borrowed: it
	 * must outlive the compiled filter and not change while it is used. */
	const struct floe_netset *local;
};

/* Compiles text (NUL-terminated, borrowed).  Returns NULL with eb set:
 *   MALFORMED  a syntax error, unknown field, bad address, prefix length,
 *              number or state, or a bad entry in an @file list; the
 *              message names the 1-based column:
 *              "column N: expected ..., found '...'"
 *   INVALID    `local`/`remote` with no local networks in opts
 *              ("column N: local networks are not set: use --local")
 *   IO         an @file list cannot be read (the message quotes the path
 *              and errno's text)
 *   LIMIT      text longer than 64 KiB, nesting of '(' and 'not' deeper
 *              than 200 levels, or an @file larger than 1 GiB
 *   NOMEM      allocation failed
 * The caller shows eb->msg to the user and gives up.  An empty or all-blank
 * text (or just Argus's "-") compiles to a filter that matches everything.
 * opts and eb may be NULL.  `@file` paths are opened relative to the
 * current directory, once, at compile time.  The returned handle is owned
 * by the caller. */
struct floe_filter *floe_filter_compile_opts(const char *text, const struct floe_filter_opts *opts,
                                             struct floe_errbuf *eb);
/* floe_filter_compile_opts with no options. */
struct floe_filter *floe_filter_compile(const char *text, struct floe_errbuf *eb);
/* Frees f; NULL does nothing. */
void floe_filter_destroy(struct floe_filter *f);

/* True if rec matches.  No allocation, no parsing; and/or short-circuit.
 * A compiled filter is immutable: threads may share it. */
bool floe_filter_match(const struct floe_filter *f, const struct floe_flow *rec);

/*
 * Late materialization: calls fn with the byte range (offset and size in
 * struct floe_flow) of every field floe_filter_match may read for f, so a
 * source can decode only those to evaluate it.  Returns false when f
 * reads a derived field (`bytes > 1M`, `dur > 60`), whose inputs it does
 * not list: the caller then provides every field.
 */
bool floe_filter_fields(const struct floe_filter *f,
                        void (*fn)(void *ud, size_t off, size_t size), void *ud);

/*
 * Block skipping (Bloom filters of addresses, DESIGN.md "Files").  Returns
 * true, with the distinct addresses in out[0..*n), if every record f matches
 * must have one of them as saddr or daddr: `host X and tcp`, `host X or
 * host Y`, `src host X`, `net X/32`.  Returns false (*n = 0) when f requires
 * no such set (`tcp`, `not host X`, `host X or tcp`, `net 10.0.0.0/8`) or
 * the set would exceed cap addresses; the caller then reads every block.
 * A list of host addresses counts as that many hosts (`host in [A B C]`,
 * `host in @hosts.txt` when the file holds at most cap addresses and no
 * network); a list with a network in it, `local` and `remote` name none.
 * Addresses are 16 bytes, IPv4 v4-mapped, as in struct floe_flow.
 */
bool floe_filter_required_addrs(const struct floe_filter *f, uint8_t (*out)[16],
                                size_t cap, size_t *n);

/*
 * File and block skipping by time.  Returns true if f bounds the time of
 * the records it matches, with every matching record having
 *     ltime >= *tmin  and  stime <= *tmax
 * (its interval [stime, ltime] meets [*tmin, *tmax]; ns since the epoch,
 * INT64_MIN / INT64_MAX for an open side).  A source may skip a file or
 * block whose records all end before *tmin or all start after *tmax.
 * Derived from comparisons of stime and ltime with constants, using
 * stime <= ltime: `stime >= T` and `ltime >= T` bound *tmin, `stime < T`
 * and `ltime < T` bound *tmax, `=` both; `and` intersects, `or` takes the
 * hull of its branches (so one unbounded branch makes it unbounded), `not`
 * and `!=` give no bound.  *tmin > *tmax means no record can match.
 * Returns false (INT64_MIN, INT64_MAX) when nothing is derived.
 */
bool floe_filter_time_range(const struct floe_filter *f, int64_t *tmin, int64_t *tmax);

#endif
