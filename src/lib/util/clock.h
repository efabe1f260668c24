/*
 * clock.h - a clock's time in nanoseconds, and a deadline for timed waits.
 *
 * Must not depend on anything but the C library.
 */
#ifndef FLOE_CLOCK_H
#define FLOE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Clock c now, in ns. */
static inline int64_t floe_clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Clock c in ns from now (ns < 1 s), for pthread_cond_timedwait on a
 * condition of that clock. */
static inline struct timespec floe_clock_after(clockid_t c, long ns)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	ts.tv_nsec += ns;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

#endif
