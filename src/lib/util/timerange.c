/*
 * timerange.c - the -t parser (timerange.h has the grammar).
 *
 * A hand-written scanner over the NUL-terminated text: every read checks
 * the character first, so no index runs past the terminator.  Calendar
 * arithmetic for UTC is Howard Hinnant's days_from_civil; local times go
 * through mktime, so TZ decides, as it does for ra and nfdump.
 *
 * Must not depend on anything but libc.
 */
#include "util/timerange.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NS 1000000000LL
#define YEAR_MIN 1970
#define YEAR_MAX 2261   /* int64 ns ends in April 2262 */
#define MAX_LEN_NS (200LL * 365 * 86400 * NS)

struct tp {
	const char *s;
	size_t i;
	int64_t now;
	struct floe_errbuf *eb;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char peek(const struct tp *p, size_t k)
{
	/* stops at the terminator: s[i..i+k] is only read if all before it are not NUL */
	for (size_t j = 0; j < k; j++)
		if (p->s[p->i + j] == '\0')
			return '\0';
	return p->s[p->i + k];
}

/* Describes what is at the cursor for messages: 'abc' or "the end". */
static void found(const struct tp *p, char *buf, size_t len)
{
	if (p->s[p->i] == '\0')
		snprintf(buf, len, "the end");
	else
		snprintf(buf, len, "'%.12s'", p->s + p->i);
}

static enum floe_err fail(struct tp *p, const char *expected)
{
	char f[32];
	found(p, f, sizeof(f));
	return floe_errbuf_set(p->eb, FLOE_INVALID, "column %zu: expected %s, found %s", p->i + 1,
	                       expected, f);
}

/* Reads min..max digits into *v. */
static bool num(struct tp *p, int min, int max, int *v)
{
	int n = 0, x = 0;
	while (n < max && is_digit(p->s[p->i])) {
		x = x * 10 + (p->s[p->i] - '0');
		p->i++;
		n++;
	}
	*v = x;
	return n >= min;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Calendar fields to seconds: UTC minus off_s when zoned, else local time.
 * day may be one past the month's end (the end of a whole-day range). */
static bool to_seconds(int y, int mo, int d, int h, int mi, int s, bool zoned, int off_s,
                       int64_t *out)
{
	if (zoned) {
		*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off_s;
		return true;
	}
	struct tm tm = {0};
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
		return false;
	*out = (int64_t)t;
	return true;
}

/* True if the text k characters on starts a date: YYYY-M- or YYYY/M/
 * (so "-0500/..." stays a zone and "-2012/03/25" is the next time). */
static bool at_date(const struct tp *p, size_t k)
{
	for (size_t j = 0; j < 4; j++)
		if (!is_digit(peek(p, k + j)))
			return false;
	char c = peek(p, k + 4);
	if (c != '-' && c != '/')
		return false;
	if (!is_digit(peek(p, k + 5)))
		return false;
	return peek(p, k + 6) == c || (is_digit(peek(p, k + 6)) && peek(p, k + 7) == c);
}

/* An absolute time: the instant *t and the length *unit of its least
 * significant field (a date alone: up to the next midnight). */
static enum floe_err parse_abs(struct tp *p, int64_t *t, int64_t *unit, char *datesep)
{
	int y, mo, d, h = 0, mi = 0, s = 0;
	int64_t frac = 0, fracunit = NS;
	int level = 0;   /* 0 date, 1 hour, 2 minute, 3 second, 4 fraction */
	size_t col = p->i;
	int back = -1;   /* today: 0, yesterday: 1 */
	if (strncasecmp(p->s + p->i, "today", 5) == 0)
		back = 0, p->i += 5;
	else if (strncasecmp(p->s + p->i, "yesterday", 9) == 0)
		back = 1, p->i += 9;
	if (back >= 0) {
		/* the local calendar date of now, or of the day before */
		time_t now_s = (time_t)(p->now / NS);
		struct tm tm;
		if (!localtime_r(&now_s, &tm))
			return fail(p, "a time (the clock is out of range)");
		tm.tm_mday -= back;
		tm.tm_hour = 12;   /* away from DST changes, then normalised */
		tm.tm_isdst = -1;
		if (mktime(&tm) == (time_t)-1)
			return fail(p, "a time (the clock is out of range)");
		y = tm.tm_year + 1900;
		mo = tm.tm_mon + 1;
		d = tm.tm_mday;
		*datesep = '-';
		goto time_of_day;
	}
	if (!num(p, 4, 4, &y))
		return fail(p, "a time (YYYY-MM-DD or YYYY/MM/DD)");
	if (y < YEAR_MIN || y > YEAR_MAX) {
		p->i = col;
		return floe_errbuf_set(p->eb, FLOE_INVALID, "column %zu: year %d out of range (%d..%d)",
		                       col + 1, y, YEAR_MIN, YEAR_MAX);
	}
	char sep = p->s[p->i];
	if (sep != '-' && sep != '/')
		return fail(p, "'-' or '/' after the year");
	*datesep = sep;
	p->i++;
	col = p->i;
	if (!num(p, 1, 2, &mo) || mo < 1 || mo > 12) {
		p->i = col;
		return fail(p, "a month (01..12)");
	}
	if (p->s[p->i] != sep)
		return fail(p, sep == '-' ? "'-' after the month" : "'/' after the month");
	p->i++;
	col = p->i;
	if (!num(p, 1, 2, &d) || d < 1 || d > days_in_month(y, mo)) {
		p->i = col;
		return fail(p, "a day of the month");
	}
	char c;
time_of_day:
	c = p->s[p->i];
	if ((c == 'T' || c == 't' || c == ' ' || c == '.' || c == '_') && is_digit(peek(p, 1))) {
		p->i++;
		col = p->i;
		if (!num(p, 1, 2, &h) || h > 23) {
			p->i = col;
			return fail(p, "an hour (00..23)");
		}
		level = 1;
		if (p->s[p->i] == ':') {
			p->i++;
			col = p->i;
			if (!num(p, 2, 2, &mi) || mi > 59) {
				p->i = col;
				return fail(p, "minutes (00..59)");
			}
			level = 2;
			if (p->s[p->i] == ':') {
				p->i++;
				col = p->i;
				if (!num(p, 2, 2, &s) || s > 59) {
					p->i = col;
					return fail(p, "seconds (00..59)");
				}
				level = 3;
				if (p->s[p->i] == '.' && is_digit(peek(p, 1))) {
					p->i++;
					int n = 0;
					while (is_digit(p->s[p->i])) {
						if (n == 9)
							return fail(p, "at most 9 fractional digits");
						frac = frac * 10 + (p->s[p->i] - '0');
						fracunit /= 10;
						p->i++;
						n++;
					}
					frac *= fracunit;
					level = 4;
				}
			}
		}
	}
	/* zone: Z after a date or a time, offsets only after a time of day;
	 * "-2012/..." is the next time, not a zone */
	bool zoned = false;
	int off = 0;
	c = p->s[p->i];
	if (c == 'Z' || c == 'z') {
		zoned = true;
		p->i++;
	} else if (level > 0 && (c == '+' || (c == '-' && !at_date(p, 1))) && is_digit(peek(p, 1))) {
		int sign = c == '-' ? -1 : 1, oh, om = 0;
		p->i++;
		col = p->i;
		if (!num(p, 2, 2, &oh) || oh > 23) {
			p->i = col;
			return fail(p, "a zone offset (hh:mm)");
		}
		if (p->s[p->i] == ':')
			p->i++;
		col = p->i;
		if (!num(p, 2, 2, &om) || om > 59) {
			p->i = col;
			return fail(p, "zone minutes (hh:mm)");
		}
		zoned = true;
		off = sign * (oh * 3600 + om * 60);
	}
	int64_t sec, next;
	if (!to_seconds(y, mo, d, h, mi, s, zoned, off, &sec))
		return floe_errbuf_set(p->eb, FLOE_INVALID, "column %zu: not a valid local time", col + 1);
	static const int64_t units[] = {0, 3600 * NS, 60 * NS, NS, 1};
	if (level == 0) {
		if (!to_seconds(y, mo, d + 1, 0, 0, 0, zoned, off, &next))
			return floe_errbuf_set(p->eb, FLOE_INVALID, "column %zu: not a valid local time",
			                       col + 1);
		*unit = (next - sec) * NS;
	} else {
		*unit = level == 4 ? fracunit : units[level];
	}
	*t = sec * NS + frac;
	return FLOE_OK;
}

/* A length: one or more <digits><unit>, unit s m h d w ("1h30m"). */
static enum floe_err parse_len(struct tp *p, int64_t *len)
{
	int64_t total = 0;
	int parts = 0;
	while (is_digit(p->s[p->i])) {
		size_t col = p->i;
		int64_t v = 0;
		while (is_digit(p->s[p->i])) {
			v = v * 10 + (p->s[p->i] - '0');
			p->i++;
			if (v > MAX_LEN_NS / NS) {
				p->i = col;
				return floe_errbuf_set(p->eb, FLOE_INVALID, "column %zu: length too large",
				                       col + 1);
			}
		}
		int64_t mult;
		switch (p->s[p->i]) {
		case 's': mult = NS; break;
		case 'm': mult = 60 * NS; break;
		case 'h': mult = 3600 * NS; break;
		case 'd': mult = 86400 * NS; break;
		case 'w': mult = 7 * 86400 * NS; break;
		default: return fail(p, "a unit (s, m, h, d or w)");
		}
		p->i++;
		if (v > (MAX_LEN_NS - total) / mult) {
			p->i = col;
			return floe_errbuf_set(p->eb, FLOE_INVALID, "column %zu: length too large", col + 1);
		}
		total += v * mult;
		parts++;
	}
	if (parts == 0)
		return fail(p, "a length such as 2h, 30m or 1d");
	*len = total;
	return FLOE_OK;
}

static bool is_sign_len(const struct tp *p)
{
	char c = p->s[p->i];
	return (c == '+' || c == '-') && is_digit(peek(p, 1));
}

enum floe_err floe_timerange_parse(const char *text, int64_t now, struct floe_timerange *out,
                                   struct floe_errbuf *eb)
{
	struct tp p = {.s = text, .i = 0, .now = now, .eb = eb};
	int64_t start = INT64_MIN, end = INT64_MAX, t = 0, unit = 0, len;
	bool rel = false, abs_first = false;
	char datesep = '-';
	enum floe_err e;

	while (p.s[p.i] == ' ')
		p.i++;
	if (p.s[p.i] == '\0')
		return fail(&p, "a time range (e.g. 2025-06-13T06:00/2025-06-14T06:00, -1d)");
	if (p.s[p.i] == '/') {
		/* open start */
	} else if (is_sign_len(&p)) {
		char sign = p.s[p.i++];
		if ((e = parse_len(&p, &len)) != FLOE_OK)
			return e;
		rel = true;
		if (sign == '-') {
			start = now - len;
			end = now;
		} else {
			start = now;
			end = now + len;
		}
		t = start;
	} else {
		if ((e = parse_abs(&p, &t, &unit, &datesep)) != FLOE_OK)
			return e;
		abs_first = true;
		start = t;
		end = t + unit;
	}

	char c = p.s[p.i];
	bool sep = c == '/' ||
	           (c == '-' && abs_first && datesep == '/' && (at_date(&p, 1) || peek(&p, 1) == '\0'));
	if (sep) {
		p.i++;
		if (!rel && !abs_first)
			start = INT64_MIN;
		if (p.s[p.i] == '\0' || p.s[p.i] == ' ') {
			if (!rel && !abs_first)
				return fail(&p, "a time after '/'");
			end = INT64_MAX;
		} else if (is_sign_len(&p)) {
			char sign = p.s[p.i++];
			size_t col = p.i;
			if ((e = parse_len(&p, &len)) != FLOE_OK)
				return e;
			if (start == INT64_MIN) {
				p.i = col - 1;
				return fail(&p, "a time (a length needs a start)");
			}
			if (sign == '+') {
				end = start + len;
			} else if (rel) {
				end = now - len;   /* -2d/-1d: both relative to now */
			} else {
				end = t;           /* T/-1h: the hour before T */
				start = t - len;
			}
		} else {
			int64_t t2, unit2;
			char ds2;
			if ((e = parse_abs(&p, &t2, &unit2, &ds2)) != FLOE_OK)
				return e;
			end = t2;
		}
	}
	while (p.s[p.i] == ' ')
		p.i++;
	if (p.s[p.i] != '\0')
		return fail(&p, abs_first || rel ? "'/' or the end of the range" : "the end of the range");
	if (start >= end)
		return floe_errbuf_set(eb, FLOE_INVALID, "empty range (end is not after start)");
	out->start = start;
	out->end = end;
	return FLOE_OK;
}
