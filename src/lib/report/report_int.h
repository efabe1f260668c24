/*
 * report_int.h - what the report engines share: the service port of a
 * record and spreading counters over time bins.
 *
 * Internal to report/.  Must not depend on anything but flow.h.
 */
#ifndef FLOE_REPORT_INT_H
#define FLOE_REPORT_INT_H

#include <stdint.h>

#include "flow.h"

/* The service port (report.h): the responder's port; the lower one when
 * the initiator was not seen; the ICMP type; 0 without ports. */
static inline uint16_t floe_rep_service_port(const struct floe_flow *f)
{
	switch (f->proto) {
	case 1:
	case 58:
		return f->sport;   /* ICMP, ICMPv6: sport holds the type */
	case 6:
	case 17:
	case 132:
		if ((f->flags & FLOE_F_DIRUNK) && f->sport < f->dport)
			return f->sport;
		return f->dport;
	default:
		return 0;
	}
}

/* Receives the parts of two counters falling in bin b. */
typedef void (*floe_rep_spread_fn)(void *ud, int64_t b, uint64_t v1, uint64_t v2);

static inline int64_t floe_rep_floordiv(int64_t a, int64_t w)
{
	int64_t q = a / w;
	return (a % w != 0 && a < 0) ? q - 1 : q;
}

/* Spreads v1 and v2 of a record over [stime, ltime] across bins of width
 * w starting at base, each bin getting the share of its time overlap (the
 * parts add up exactly: cumulative rounding); bins outside [lo, hi] are
 * left out.  A record with no duration goes whole to the bin of stime. */
static inline void floe_rep_spread(int64_t stime, int64_t ltime, int64_t base, int64_t w, int64_t lo,
                                   int64_t hi, uint64_t v1, uint64_t v2, floe_rep_spread_fn fn, void *ud)
{
	int64_t b0 = floe_rep_floordiv(stime - base, w);
	if (ltime <= stime) {
		if (b0 >= lo && b0 <= hi)
			fn(ud, b0, v1, v2);
		return;
	}
	int64_t b1 = floe_rep_floordiv(ltime - 1 - base, w);
	unsigned __int128 dur = (unsigned __int128)(uint64_t)(ltime - stime);
	int64_t from = b0 < lo ? lo : b0, to = b1 > hi ? hi : b1;
	for (int64_t b = from; b <= to; b++) {
		int64_t bs = base + b * w, be = bs + w;
		uint64_t c0 = (uint64_t)((bs > stime ? bs : stime) - stime);
		uint64_t c1 = (uint64_t)((be < ltime ? be : ltime) - stime);
		uint64_t p1 = (uint64_t)((unsigned __int128)v1 * c1 / dur - (unsigned __int128)v1 * c0 / dur);
		uint64_t p2 = (uint64_t)((unsigned __int128)v2 * c1 / dur - (unsigned __int128)v2 * c0 / dur);
		fn(ud, b, p1, p2);
	}
}

#endif
