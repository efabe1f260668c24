/*
 * axis.h - what a chart's axes need: nice tick values (1, 2, 2.5, 5 times
 * a power of ten), values with SI prefixes and a unit ("1.5 Mbit/s",
 * "250 kB"), time ticks on round UTC times with labels suited to the
 * span (seconds, HH:MM, dates), and bin widths in words ("5 min").
 *
 * Prefixes are decimal (k = 1000), as link speeds and counters are
 * quoted.  Times are ns since the epoch, UTC.
 *
 * Must not depend on anything but the C library.
 */
#ifndef FLOE_GRAPH_AXIS_H
#define FLOE_GRAPH_AXIS_H

#include <stddef.h>
#include <stdint.h>

/* Ticks from 0 (or lo) up to the first multiple of a nice step at or
 * above hi, at most maxn intervals (maxn >= 1).  Writes up to cap values
 * to ticks and returns how many; *step gets the step.  hi <= lo: one
 * interval of step 1 above lo. */
size_t floe_axis_ticks(double lo, double hi, unsigned maxn, double *ticks, size_t cap,
                       double *step);

/* Formats v of an axis whose largest tick is top and whose ticks are
 * step apart: the SI prefix of top (k M G T P), the decimals step needs,
 * then the unit: "0", "1.5 Mbit/s", "250 kB"; without a unit "2.5k". */
void floe_axis_format(double v, double top, double step, const char *unit, char *buf, size_t len);

/* Formats v alone with the prefix it needs and 3 significant digits at
 * most: "1.23 GB", "950 B", "12.5k". */
void floe_axis_format_value(double v, const char *unit, char *buf, size_t len);

/* Time ticks: the multiples in [t0, t1] of the round step (1 s ... 1 year)
 * that gives at most maxn intervals; days and longer steps fall on UTC
 * midnights.  Writes up to cap ticks, returns how many; *step gets the
 * step in ns. */
size_t floe_axis_time_ticks(int64_t t0, int64_t t1, unsigned maxn, int64_t *ticks, size_t cap,
                            int64_t *step);

/* The label of time tick t of a step: main gets "HH:MM:SS" (steps under
 * a minute), "HH:MM" (under a day) or "YYYY-MM-DD" (a day or more); date
 * gets "YYYY-MM-DD" under a day-step when t is the first tick (prev =
 * INT64_MIN) or falls on another day than prev, else "". */
void floe_axis_time_label(int64_t t, int64_t step, int64_t prev, char *main, size_t mlen,
                          char *date, size_t dlen);

/* A duration in words: "30 s", "5 min", "1 h", "1 d", "1.5 h", "250 ms". */
void floe_axis_dur(int64_t ns, char *buf, size_t len);

#endif
