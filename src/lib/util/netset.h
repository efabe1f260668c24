/*
 * netset.h - a set of address prefixes (CIDR) with fast membership tests.
 *
 * Used for the local networks (--local), filter lists (`host in [...]`,
 * `host in @file`, watchlists): from a handful of networks to millions of
 * host addresses.  Layout: one open-addressing hash set per distinct
 * prefix length, probed from the longest length down; a lookup costs one
 * probe per distinct length (a list of 1M hosts plus a few dozen networks:
 * a few dozen probes at most), never a walk of the list.
 *
 * Addresses and lengths in 128-bit terms (util/addr.h).  Memory is charged
 * to an optional budget.
 */
#ifndef FLOE_UTIL_NETSET_H
#define FLOE_UTIL_NETSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct floe_netset;
struct floe_budget;

/* Creates an empty set; NULL on NOMEM. */
struct floe_netset *floe_netset_create(struct floe_budget *budget);
void floe_netset_destroy(struct floe_netset *s);

/* Adds net/plen (host bits are cleared).  NOMEM if the budget says no. */
FLOE_WUR enum floe_err floe_netset_add(struct floe_netset *s, const uint8_t net[16], unsigned plen);

/* Parses and adds a list of "ADDR[/LEN]" separated by spaces, commas or
 * newlines; '#' starts a comment to the end of the line.  INVALID with eb
 * naming the bad entry (and its line) on a parse error. */
FLOE_WUR enum floe_err floe_netset_add_text(struct floe_netset *s, const char *text,
                                            struct floe_errbuf *eb);

/* True if a lies in any prefix of the set. */
bool floe_netset_contains(const struct floe_netset *s, const uint8_t a[16]);

/* Number of prefixes added (duplicates counted once). */
size_t floe_netset_count(const struct floe_netset *s);

/* If the set holds only full-length addresses (hosts) and at most cap of
 * them, copies them to out and returns true (used for Bloom skipping). */
bool floe_netset_hosts(const struct floe_netset *s, uint8_t (*out)[16], size_t cap, size_t *n);

#endif
