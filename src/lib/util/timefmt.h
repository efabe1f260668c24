/*
 * timefmt.h - printing and parsing record times (int64 ns since the epoch).
 */
#ifndef FLOE_UTIL_TIMEFMT_H
#define FLOE_UTIL_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum floe_timefmt {
	FLOE_TIME_ISO,     /* 2010-04-07 17:29:29.782934 (UTC) */
	FLOE_TIME_EPOCH,   /* 1270661369.782934 (ra -u) */
	FLOE_TIME_LOCAL,   /* like ISO, local time zone */
	FLOE_TIME_RFC3339, /* 2010-04-07T17:29:29.782934Z (JSON) */
};

/* Formats t with `prec` fractional digits (0..9). */
void floe_time_format(int64_t t, enum floe_timefmt fmt, int prec, char *buf, size_t len);
/* Formats a duration in seconds with prec fractional digits. */
void floe_dur_format(int64_t ns, int prec, char *buf, size_t len);

#endif
