/*
 * watchlist.h - a list of addresses and networks to watch for (floe detect
 * watch), loaded from text and matched by longest prefix, telling which
 * entry an address falls in.
 *
 * util/netset.h answers "is it in the set" with one hash probe per distinct
 * prefix length; a watchlist must also say *which* entry matched, for the
 * report.  Layout: the entries sorted by (first address, prefix length),
 * each with the index of the innermost entry enclosing it.  A lookup is a
 * binary search for the last entry starting at or before the address, then
 * a walk up the enclosing entries until one contains it (CIDR prefixes nest
 * or are disjoint, so the first that contains it is the longest match).
 * 1M entries: 24 MB, about 20 comparisons a lookup (docs/detect.md gives
 * load time and lookup rate).
 *
 * Text: "ADDR[/LEN]" entries (IPv4 or IPv6) separated by spaces, commas or
 * newlines; '#' starts a comment to the end of the line; duplicates are kept
 * once.  Memory is charged to an optional budget.
 *
 * Must not depend on anything but util/ (addr, mem).
 */
#ifndef FLOE_DETECT_WATCHLIST_H
#define FLOE_DETECT_WATCHLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct floe_budget;
struct floe_watchlist;

/* Parses text (len bytes, need not end in NUL) into a new list.  NULL with
 * eb set: INVALID naming the bad entry and its line, NOMEM. */
struct floe_watchlist *floe_watchlist_parse(const char *text, size_t len,
                                            struct floe_budget *budget, struct floe_errbuf *eb);
void floe_watchlist_destroy(struct floe_watchlist *w);

/* The index of the longest entry containing a, or -1. */
long floe_watchlist_lookup(const struct floe_watchlist *w, const uint8_t a[16]);

/* Number of distinct entries. */
size_t floe_watchlist_count(const struct floe_watchlist *w);

/* If every entry is a single address and there are at most cap of them,
 * copies them to out, sets *n and returns true (for the source's skipping
 * of files and blocks by address, archive/source.h). */
bool floe_watchlist_hosts(const struct floe_watchlist *w, uint8_t (*out)[16], size_t cap,
                          size_t *n);

/* Writes entry i as "ADDR/LEN" (user notation: an IPv4 /24 is /24). */
void floe_watchlist_format(const struct floe_watchlist *w, size_t i, char *buf, size_t len);

#endif
