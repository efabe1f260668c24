/*
 * timefmt.c - record time text.
 *
 * Printing is on the hot path of every listing (millions of lines), so
 * digits are written by hand and the calendar part of a time is computed
 * once per second per thread, not per record.
 */
#include "timefmt.h"
#include "util/numfmt.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

static int64_t pow10i(int p)
{
	int64_t v = 1;
	while (p-- > 0)
		v *= 10;
	return v;
}

static int clamp_prec(int prec)
{
	return prec < 0 ? 0 : prec > 9 ? 9 : prec;
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

/* Copies n bytes of src into buf of len, always terminated. */
static void emit(char *buf, size_t len, const char *src, size_t n)
{
	if (!len)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(buf, src, n);
	buf[n] = '\0';
}

/* "SEC.FRAC" with prec fractional digits; returns the length. */
static size_t sec_frac(char *out, int64_t sec, int64_t frac, int prec)
{
	size_t n = floe_fmt_i64(out, sec);
	if (prec) {
		out[n++] = '.';
		n += floe_fmt_fixed(out + n, (uint64_t)frac, prec);
	}
	return n;
}

/* The calendar text of one second, cached: consecutive records of a
 * listing mostly share their second. */
struct cal_cache {
	int64_t sec;
	int fmt;
	bool valid;
	char text[40];
	size_t len;
};

static _Thread_local struct cal_cache cache;

static bool calendar(int64_t sec, enum floe_timefmt fmt, const char **text, size_t *len)
{
	/* the local zone may change under a long-lived process: only UTC
	 * texts are reused */
	if (cache.valid && cache.sec == sec && cache.fmt == (int)fmt && fmt != FLOE_TIME_LOCAL) {
		*text = cache.text;
		*len = cache.len;
		return true;
	}
	time_t tt = (time_t)sec;
	struct tm tm;
	if (!(fmt == FLOE_TIME_LOCAL ? localtime_r(&tt, &tm) : gmtime_r(&tt, &tm)))
		return false;
	size_t n = strftime(cache.text, sizeof(cache.text),
	                    fmt == FLOE_TIME_RFC3339 ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
	if (n == 0)
		return false;
	cache.sec = sec;
	cache.fmt = (int)fmt;
	cache.len = n;
	cache.valid = true;
	*text = cache.text;
	*len = n;
	return true;
}

void floe_time_format(int64_t t, enum floe_timefmt fmt, int prec, char *buf, size_t len)
{
	prec = clamp_prec(prec);
	int64_t sec, frac;
	split(t, prec, &sec, &frac);
	char out[64];
	size_t n;
	if (fmt == FLOE_TIME_EPOCH) {
		n = sec_frac(out, sec, frac, prec);
	} else {
		const char *cal;
		size_t cl;
		if (!calendar(sec, fmt, &cal, &cl)) {
			emit(buf, len, "?", 1);
			return;
		}
		memcpy(out, cal, cl);
		n = cl;
		if (prec) {
			out[n++] = '.';
			n += floe_fmt_fixed(out + n, (uint64_t)frac, prec);
		}
		if (fmt == FLOE_TIME_RFC3339)
			out[n++] = 'Z';
	}
	emit(buf, len, out, n);
}

void floe_dur_format(int64_t ns, int prec, char *buf, size_t len)
{
	prec = clamp_prec(prec);
	int64_t sec, frac;
	split(ns, prec, &sec, &frac);
	char out[40];
	size_t n = sec_frac(out, sec, frac, prec);
	emit(buf, len, out, n);
}
