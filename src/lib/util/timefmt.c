/* timefmt.c - record time text. */
#include "timefmt.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

static int64_t pow10i(int p)
{
	int64_t v = 1;
	while (p-- > 0)
		v *= 10;
	return v;
}

static void split(int64_t t, int prec, int64_t *sec, int64_t *frac)
{
	int64_t s = t / 1000000000, ns = t % 1000000000;
	if (ns < 0) {
		ns += 1000000000;
		s -= 1;
	}
	*sec = s;
	*frac = ns / pow10i(9 - prec);
}

void floe_time_format(int64_t t, enum floe_timefmt fmt, int prec, char *buf, size_t len)
{
	if (prec < 0)
		prec = 0;
	if (prec > 9)
		prec = 9;
	int64_t sec, frac;
	split(t, prec, &sec, &frac);
	if (fmt == FLOE_TIME_EPOCH) {
		if (prec)
			snprintf(buf, len, "%" PRId64 ".%0*" PRId64, sec, prec, frac);
		else
			snprintf(buf, len, "%" PRId64, sec);
		return;
	}
	time_t tt = (time_t)sec;
	struct tm tm;
	if (!(fmt == FLOE_TIME_LOCAL ? localtime_r(&tt, &tm) : gmtime_r(&tt, &tm))) {
		snprintf(buf, len, "?");
		return;
	}
	bool rfc = fmt == FLOE_TIME_RFC3339;
	size_t n = strftime(buf, len, rfc ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
	if (prec && n < len)
		n += (size_t)snprintf(buf + n, len - n, ".%0*" PRId64, prec, frac);
	if (rfc && n + 1 < len) {
		buf[n] = 'Z';
		buf[n + 1] = '\0';
	}
}

void floe_dur_format(int64_t ns, int prec, char *buf, size_t len)
{
	if (prec < 0)
		prec = 0;
	if (prec > 9)
		prec = 9;
	int64_t sec, frac;
	split(ns, prec, &sec, &frac);
	if (prec)
		snprintf(buf, len, "%" PRId64 ".%0*" PRId64, sec, prec, frac);
	else
		snprintf(buf, len, "%" PRId64, sec);
}
