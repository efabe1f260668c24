/*
 * tap.h - a minimal TAP producer for floe's C unit tests.
 *
 * Meson runs each unit test program with protocol 'tap' and counts every
 * "ok"/"not ok" line, so a table-driven test reports each row.  Usage:
 *
 *   TAP_CHECK(cond, "name %d", i);      // one test point
 *   return tap_done();                  // prints the plan, exit status
 */
#ifndef FLOE_TEST_TAP_H
#define FLOE_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline void tap_point(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	if (!ok)
		tap_failed++;
	printf("%s %d - ", ok ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		printf("# failed at %s:%d\n", file, line);
	fflush(stdout);
}

#define TAP_CHECK(cond, ...) tap_point(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define TAP_DIAG(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
