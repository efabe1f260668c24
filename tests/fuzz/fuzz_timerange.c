/*
 * fuzz_timerange.c - fuzz target for the -t parser (src/lib/util/timerange.c).
 *
 * The input is -t text, copied and NUL-terminated.  Oracles: a range that
 * parses is non-empty (start < end); a failure is INVALID with a message;
 * parsing is deterministic (the same text twice gives the same answer).
 * TZ is pinned to UTC so the replay is the same on every machine.
 */
#include "util/timerange.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int tz_set;
	if (!tz_set) {
		setenv("TZ", "UTC0", 1);
		tzset();
		tz_set = 1;
	}
	if (size > 4096)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	const int64_t now = 1749794400000000000LL;
	struct floe_timerange a = {0, 0}, b = {0, 0};
	struct floe_errbuf ea = {0}, eb = {0};
	enum floe_err e1 = floe_timerange_parse(text, now, &a, &ea);
	enum floe_err e2 = floe_timerange_parse(text, now, &b, &eb);
	if (e1 != e2)
		abort();
	if (e1 == FLOE_OK) {
		if (!(a.start < a.end) || a.start != b.start || a.end != b.end)
			abort();
	} else if (e1 != FLOE_INVALID || ea.msg[0] == '\0' || strcmp(ea.msg, eb.msg) != 0) {
		abort();
	}
	free(text);
	return 0;
}
