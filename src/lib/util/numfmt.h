/*
 * numfmt.h - integer to decimal text without printf, for the output paths
 * that print millions of numbers (aligned text, CSV, JSON).
 */
#ifndef FLOE_UTIL_NUMFMT_H
#define FLOE_UTIL_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal to buf (room for 21 bytes), NUL-terminated; returns
 * the number of digits. */
static inline size_t floe_fmt_u64(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

static inline size_t floe_fmt_i64(char *buf, int64_t v)
{
	if (v >= 0)
		return floe_fmt_u64(buf, (uint64_t)v);
	buf[0] = '-';
	return 1 + floe_fmt_u64(buf + 1, (uint64_t)0 - (uint64_t)v);
}

/* Writes v with exactly width digits, zero-padded (v < 10^width). */
static inline size_t floe_fmt_fixed(char *buf, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		buf[i] = (char)('0' + v % 10);
		v /= 10;
	}
	buf[width] = '\0';
	return (size_t)width;
}

#endif
