/*
 * test_timerange.c - the -t parser: a table of text -> [start, end) or an
 * error with its column, under explicit time zones (TZ is set here, never
 * inherited).
 */
#include "util/timerange.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"

#define S 1000000000LL
#define NOW (1749794400LL * S)   /* 2025-06-13T06:00:00Z */
#define MIN INT64_MIN
#define MAX INT64_MAX

struct row {
	const char *tz;
	const char *text;
	int64_t start, end;   /* expected, when err is NULL */
	const char *err;      /* expected substring of the message */
};

static const struct row rows[] = {
	/* absolute, ISO */
	{"UTC0", "2025-06-13T06:00/2025-06-14T06:00", 1749794400 * S, 1749880800 * S, NULL},
	{"UTC0", "2025-06-13 06:00:00.5/2025-06-13T07:00Z", 1749794400 * S + S / 2, 1749798000 * S, NULL},
	{"UTC0", "2025-06-13T06:00:00.000000001Z/+1s", 1749794400 * S + 1, 1749794401 * S + 1, NULL},
	{"UTC0", "2025-06-13", 1749772800 * S, 1749859200 * S, NULL},
	{"UTC0", "2025-06-13T06", 1749794400 * S, 1749798000 * S, NULL},
	{"UTC0", "2025-06-13T06:00", 1749794400 * S, 1749794460 * S, NULL},
	{"UTC0", "2025-06-13T06:00:01", 1749794401 * S, 1749794402 * S, NULL},
	{"UTC0", "2025-06-13/2025-06-14", 1749772800 * S, 1749859200 * S, NULL},
	{"UTC0", "  2025-06-13T06:00/+24h  ", 1749794400 * S, 1749880800 * S, NULL},
	/* Argus's forms */
	{"UTC0", "2012/03/25.12:00:00-2012/03/25.13:00:00", 1332676800 * S, 1332680400 * S, NULL},
	{"UTC0", "2012/03/25", 1332633600 * S, 1332720000 * S, NULL},
	{"UTC0", "2012/03/25.12:00:00-", 1332676800 * S, MAX, NULL},
	/* lengths and relative */
	{"UTC0", "2025-06-13T06:00/+24h", 1749794400 * S, 1749880800 * S, NULL},
	{"UTC0", "2025-06-13T06:00/-1h", 1749790800 * S, 1749794400 * S, NULL},
	{"UTC0", "2025-06-13T06:00/+1h30m", 1749794400 * S, 1749799800 * S, NULL},
	{"UTC0", "-1d", NOW - 86400 * S, NOW, NULL},
	{"UTC0", "-2h", NOW - 7200 * S, NOW, NULL},
	{"UTC0", "-1w", NOW - 7 * 86400 * S, NOW, NULL},
	{"UTC0", "-2d/-1d", NOW - 2 * 86400 * S, NOW - 86400 * S, NULL},
	{"UTC0", "-2d/+1h", NOW - 2 * 86400 * S, NOW - 2 * 86400 * S + 3600 * S, NULL},
	{"UTC0", "+1h", NOW, NOW + 3600 * S, NULL},
	/* today and yesterday: now is 2025-06-13T06:00Z (01:00 in EST5) */
	{"UTC0", "today", 1749772800 * S, 1749859200 * S, NULL},
	{"UTC0", "yesterday 06:00/+24h", 1749708000 * S, 1749794400 * S, NULL},
	{"UTC0", "Yesterday/today", 1749686400 * S, 1749772800 * S, NULL},
	{"EST5", "yesterday 06:00/+24h", 1749726000 * S, 1749812400 * S, NULL},
	{"UTC0", "yesterdays", 0, 0, "column 10"},
	/* open ends */
	{"UTC0", "2025-06-13T06:00Z/", 1749794400 * S, MAX, NULL},
	{"UTC0", "/2025-06-14", MIN, 1749859200 * S, NULL},
	/* zones */
	{"UTC0", "2025-06-13T06:00+02:00/+1h", 1749787200 * S, 1749790800 * S, NULL},
	{"UTC0", "2025-06-13T06:00-0500/+1h", 1749812400 * S, 1749816000 * S, NULL},
	{"EST5", "2025-06-13T06:00/+1h", 1749812400 * S, 1749816000 * S, NULL},
	{"EST5", "2025-06-13T06:00Z/+1h", 1749794400 * S, 1749798000 * S, NULL},
	{"EST5", "2025-06-13", 1749790800 * S, 1749877200 * S, NULL},
	{"EST5", "2025-06-13Z", 1749772800 * S, 1749859200 * S, NULL},
	/* a local day of 23 hours (CET to CEST) */
	{"CET-1CEST,M3.5.0,M10.5.0/3", "2025-03-30", 1743289200 * S, 1743372000 * S, NULL},
	/* errors, with their columns */
	{"UTC0", "", 0, 0, "column 1: expected a time range"},
	{"UTC0", "last week", 0, 0, "column 1: expected a time"},
	{"UTC0", "2025-13-01", 0, 0, "column 6: expected a month"},
	{"UTC0", "2025-02-30", 0, 0, "column 9: expected a day"},
	{"UTC0", "2025-06-13T25:00", 0, 0, "column 12: expected an hour"},
	{"UTC0", "2025-06-13T06:61", 0, 0, "column 15: expected minutes"},
	{"UTC0", "2025-06-13T06:00/2025-06-13T05:00", 0, 0, "empty range"},
	{"UTC0", "2025-06-13/+5x", 0, 0, "column 14: expected a unit"},
	{"UTC0", "1969-12-31", 0, 0, "column 1: year 1969 out of range"},
	{"UTC0", "2025-06-13T06:00 foo", 0, 0, "column 18: expected '/'"},
	{"UTC0", "/", 0, 0, "column 2: expected a time after '/'"},
	{"UTC0", "/+1h", 0, 0, "a length needs a start"},
	{"UTC0", "2025-06-13T06:00+2", 0, 0, "expected a zone offset"},
	{"UTC0", "-", 0, 0, "column 1: expected a time"},
	{"UTC0", "-99999999999d", 0, 0, "length too large"},
	{"UTC0", "2025/06-13", 0, 0, "column 8: expected '/' after the month"},
	{"UTC0", "2025-06-13T06:00:00.1234567890", 0, 0, "at most 9 fractional digits"},
};

int main(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		setenv("TZ", r->tz, 1);
		tzset();
		struct floe_timerange tr = {0, 0};
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_timerange_parse(r->text, NOW, &tr, &eb);
		if (r->err) {
			TAP_CHECK(e == FLOE_INVALID && strstr(eb.msg, r->err), "'%s' fails: %s", r->text,
			          eb.msg);
		} else {
			TAP_CHECK(e == FLOE_OK && tr.start == r->start && tr.end == r->end,
			          "'%s' [%s] -> [%lld, %lld) (want [%lld, %lld)) %s", r->text, r->tz,
			          (long long)tr.start, (long long)tr.end, (long long)r->start,
			          (long long)r->end, eb.msg);
		}
	}
	struct floe_timerange all = FLOE_TIMERANGE_ALL, h = {10, 20};
	TAP_CHECK(floe_timerange_is_all(&all), "ALL is all");
	TAP_CHECK(floe_timerange_overlaps(&h, 5, 10), "overlap: ltime == start is inside");
	TAP_CHECK(!floe_timerange_overlaps(&h, 20, 30), "overlap: stime == end is outside");
	TAP_CHECK(!floe_timerange_overlaps(&h, 1, 9), "overlap: before");
	TAP_CHECK(floe_timerange_overlaps(&h, 1, 100), "overlap: spanning");
	return tap_done();
}
