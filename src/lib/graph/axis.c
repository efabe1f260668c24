/*
 * axis.c - tick values and labels of chart axes (axis.h).
 */
#include "graph/axis.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS ((int64_t)1000000000)

static const char *const prefixes[] = {"", "k", "M", "G", "T", "P", "E"};
#define NPREFIX (sizeof(prefixes) / sizeof(prefixes[0]))

size_t floe_axis_ticks(double lo, double hi, unsigned maxn, double *ticks, size_t cap, double *step)
{
	static const double nice[] = {1, 2, 2.5, 5, 10};
	if (maxn < 1)
		maxn = 1;
	double range = hi - lo;
	if (!(range > 0) || !isfinite(range)) {
		*step = 1;
		if (cap > 0)
			ticks[0] = lo;
		if (cap > 1)
			ticks[1] = lo + 1;
		return cap < 2 ? cap : 2;
	}
	double raw = range / maxn;
	double mag = pow(10, floor(log10(raw)));
	double st = 10 * mag;
	for (size_t i = 0; i < sizeof(nice) / sizeof(nice[0]); i++)
		if (nice[i] * mag >= raw * (1 - 1e-9)) {
			st = nice[i] * mag;
			break;
		}
	*step = st;
	size_t n = (size_t)ceil(range / st - 1e-9);
	size_t k = 0;
	for (size_t i = 0; i <= n && k < cap; i++)
		ticks[k++] = lo + (double)i * st;
	return k;
}

/* The prefix index of magnitude v: 0 under 1000, 1 under 10^6, ... */
static size_t prefix_of(double v)
{
	v = fabs(v);
	size_t p = 0;
	while (p + 1 < NPREFIX && v >= 1000) {
		v /= 1000;
		p++;
	}
	return p;
}

static void put_num(char *buf, size_t len, const char *num, size_t p, const char *unit)
{
	if (unit && *unit)
		snprintf(buf, len, "%s %s%s", num, prefixes[p], unit);
	else
		snprintf(buf, len, "%s%s", num, prefixes[p]);
}

void floe_axis_format(double v, double top, double step, const char *unit, char *buf, size_t len)
{
	if (v == 0) {
		snprintf(buf, len, "0");
		return;
	}
	size_t p = prefix_of(top);
	double scale = pow(1000, (double)p);
	/* the decimals that show step exactly (up to 6) */
	double x = step / scale;
	int d = 0;
	while (d < 6) {
		double y = x * pow(10, d);
		if (fabs(y - round(y)) < 1e-6 * (y > 1 ? y : 1))
			break;
		d++;
	}
	char num[64];
	snprintf(num, sizeof(num), "%.*f", d, v / scale);
	put_num(buf, len, num, p, unit);
}

/* Writes x with 3 significant digits (at most 2 decimals), trailing zeros
 * dropped. */
static void sig3(double x, char *num, size_t len)
{
	double a = fabs(x);
	int d = a >= 100 ? 0 : a >= 10 ? 1 : 2;
	snprintf(num, len, "%.*f", d, x);
	char *dot = strchr(num, '.');
	if (dot) {
		char *e = num + strlen(num);
		while (e > dot + 1 && e[-1] == '0')
			*--e = '\0';
		if (e == dot + 1)
			*dot = '\0';
	}
}

void floe_axis_format_value(double v, const char *unit, char *buf, size_t len)
{
	size_t p = prefix_of(v);
	double x = v / pow(1000, (double)p);
	/* 999.96k rounds to 1000k: 1M instead */
	if (fabs(x) >= 999.5 && p + 1 < NPREFIX) {
		p++;
		x /= 1000;
	}
	char num[64];
	sig3(x, num, sizeof(num));
	put_num(buf, len, num, p, unit);
}

size_t floe_axis_time_ticks(int64_t t0, int64_t t1, unsigned maxn, int64_t *ticks, size_t cap,
                            int64_t *step)
{
	static const int64_t steps[] = {
		1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
		3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400,
		28 * 86400, 56 * 86400, 112 * 86400, 364 * 86400, 728 * 86400, 1820 * 86400,
	};
	if (maxn < 1)
		maxn = 1;
	int64_t span = t1 > t0 ? t1 - t0 : NS;
	int64_t st = 0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (steps[i] * NS * (int64_t)maxn >= span) {
			st = steps[i] * NS;
			break;
		}
	if (!st) {
		int64_t big = steps[sizeof(steps) / sizeof(steps[0]) - 1] * NS;
		st = (span / maxn + big - 1) / big * big;
	}
	*step = st;
	/* the first multiple of st at or after t0 */
	int64_t q = t0 / st;
	if (q * st < t0)
		q++;
	size_t k = 0;
	for (int64_t t = q * st; t <= t1 && k < cap; t += st)
		ticks[k++] = t;
	return k;
}

static void utc(int64_t t, struct tm *tm)
{
	int64_t s = t / NS;
	if (t % NS < 0)
		s--;
	time_t tt = (time_t)s;
	gmtime_r(&tt, tm);
}

void floe_axis_time_label(int64_t t, int64_t step, int64_t prev, char *main, size_t mlen,
                          char *date, size_t dlen)
{
	struct tm tm;
	utc(t, &tm);
	if (dlen)
		date[0] = '\0';
	if (step >= 86400 * NS) {
		strftime(main, mlen, "%Y-%m-%d", &tm);
		return;
	}
	strftime(main, mlen, step < 60 * NS ? "%H:%M:%S" : "%H:%M", &tm);
	bool newday = prev == INT64_MIN;
	if (!newday) {
		struct tm pm;
		utc(prev, &pm);
		newday = pm.tm_year != tm.tm_year || pm.tm_yday != tm.tm_yday;
	}
	if (newday && dlen)
		strftime(date, dlen, "%Y-%m-%d", &tm);
}

void floe_axis_dur(int64_t ns, char *buf, size_t len)
{
	static const struct {
		int64_t ns;
		const char *name;
	} units[] = {
		{86400 * NS, "d"}, {3600 * NS, "h"}, {60 * NS, "min"}, {NS, "s"},
		{1000000, "ms"}, {1000, "us"}, {1, "ns"},
	};
	size_t i = 0;
	while (i + 1 < sizeof(units) / sizeof(units[0]) && ns < units[i].ns)
		i++;
	char num[64];
	sig3((double)ns / (double)units[i].ns, num, sizeof(num));
	snprintf(buf, len, "%s %s", num, units[i].name);
}
