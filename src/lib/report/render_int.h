/*
 * render_int.h - what the report renderers share (render.c, html.c,
 * accounting.c, tops.c).
 *
 * Internal to report/.
 */
#ifndef FLOE_REPORT_RENDER_INT_H
#define FLOE_REPORT_RENDER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/report.h"

/* "tcp/443", "icmp/8" (ICMP: the type), "gre" (no ports). */
void floe_rep_port_name(uint8_t proto, uint16_t port, char *buf, size_t len);
/* s as a JSON string (null for NULL); s must be UTF-8. */
void floe_rep_json_str(FILE *fp, const char *s);
/* "2025-06-13 06:00:00" (UTC). */
void floe_rep_time(int64_t t, char *buf, size_t len);
/* "1d 2h 3m", "2h 0m 5s". */
void floe_rep_span(int64_t ns, char *buf, size_t len);

/* The lines of the daily report's header: name, what they count (text,
 * HTML), where in the result. */
struct floe_rep_class {
	const char *name, *text, *html;
	size_t off;     /* of a uint64_t in struct floe_daily_result */
};
#define FLOE_REP_NCLASSES 5
extern const struct floe_rep_class floe_rep_classes[FLOE_REP_NCLASSES];
uint64_t floe_rep_class_bytes(const struct floe_daily_result *r, size_t i);

enum floe_err floe_rep_daily_html(FILE *fp, const struct floe_daily_result *r, const char *local_text);

#endif
