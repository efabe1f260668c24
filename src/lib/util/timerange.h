/*
 * timerange.h - time ranges as operators type them after -t (docs/archive.md).
 *
 * A range is [start, end) in ns since the epoch, UTC; an open end is
 * INT64_MIN (start) or INT64_MAX (end).  Accepted forms:
 *
 *   2025-06-13T06:00/2025-06-14T06:00   absolute, '/' between the ends;
 *                                        seconds and fractions optional,
 *                                        ' ' or '.' instead of 'T'
 *   2025-06-13                          that whole day (an hour, minute or
 *                                        second alone: that hour ...)
 *   today   yesterday 06:00/+24h        the local date of now (or the day
 *                                        before) in place of YYYY-MM-DD
 *   2012/03/25.12:00:00-2012/03/25.13:00:00   Argus's ra -t, '-' between
 *   2025-06-13T06:00/+24h   T/-1h       a length after or before T
 *   -1d   -2h30m   -2d/-1d              relative to now (a lone -D: until now)
 *   2025-06-13T06:00/   /2025-06-14     open ends
 *
 * A trailing 'Z' or +hh:mm / -hh:mm (or +hhmm) gives the zone; without one
 * a time is local time (TZ), as ra and nfdump read it.  A record belongs to
 * a range if it overlaps it: stime < end and ltime >= start.
 *
 * Must not depend on anything but libc (mktime for local time).
 */
#ifndef FLOE_UTIL_TIMERANGE_H
#define FLOE_UTIL_TIMERANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct floe_timerange {
	int64_t start;   /* ns, inclusive; INT64_MIN: open */
	int64_t end;     /* ns, exclusive; INT64_MAX: open */
};

/* The range that holds every time. */
#define FLOE_TIMERANGE_ALL ((struct floe_timerange){INT64_MIN, INT64_MAX})

/* Parses text (NUL-terminated, borrowed); now (ns) anchors relative forms.
 * Returns OK with *out set, or INVALID with eb set: the message names the
 * 1-based column, "column 12: expected a time (hh:mm), found 'x'", or
 * says "empty range (end is not after start)" / "year out of range". */
FLOE_WUR enum floe_err floe_timerange_parse(const char *text, int64_t now,
                                            struct floe_timerange *out, struct floe_errbuf *eb);

/* True if [stime, ltime] overlaps r (stime < end and ltime >= start). */
static inline bool floe_timerange_overlaps(const struct floe_timerange *r, int64_t stime,
                                           int64_t ltime)
{
	return stime < r->end && ltime >= r->start;
}

/* True if r is the whole time line. */
static inline bool floe_timerange_is_all(const struct floe_timerange *r)
{
	return r->start == INT64_MIN && r->end == INT64_MAX;
}

#endif
