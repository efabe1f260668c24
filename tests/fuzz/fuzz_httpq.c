/*
 * fuzz_httpq.c - fuzz target for the web API's query string parser
 * (src/lib/web/httpq.c), which reads bytes straight from the network.
 *
 * The input is a query string (any bytes, not NUL-terminated).  Oracles:
 * parsing is deterministic; a parse that succeeds has every value within
 * its documented bounds and its strings terminated inside their fields; a
 * failure is one of the documented codes with a message.  The same bytes
 * are also decoded as a path segment.  TZ is pinned to UTC.
 */
#include "web/httpq.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int tz_set;
	static struct floe_httpq a, b;
	if (!tz_set) {
		setenv("TZ", "UTC0", 1);
		tzset();
		tz_set = 1;
	}
	const int64_t now = 1749794400000000000LL;
	struct floe_errbuf ea = {0}, eb = {0};
	enum floe_err e1 = floe_httpq_parse((const char *)data, size, now, &a, &ea);
	enum floe_err e2 = floe_httpq_parse((const char *)data, size, now, &b, &eb);
	if (e1 != e2)
		abort();
	if (e1 == FLOE_OK) {
		if (a.top < 1 || a.top > FLOE_HTTPQ_MAX_TOP || a.limit < 1 || a.limit > FLOE_HTTPQ_MAX_LIMIT)
			abort();
		if (a.bin != 0 && a.bin < FLOE_HTTPQ_MIN_BIN)
			abort();
		if (a.has_t && !(a.range.start < a.range.end))
			abort();
		if (!memchr(a.by, 0, sizeof(a.by)) || !memchr(a.sort, 0, sizeof(a.sort)) ||
		    !memchr(a.filter, 0, sizeof(a.filter)) || strlen(a.filter) > size)
			abort();
		if (memcmp(&a.range, &b.range, sizeof(a.range)) != 0 || strcmp(a.filter, b.filter) != 0 ||
		    strcmp(a.by, b.by) != 0)
			abort();
		char line[256];
		if (floe_httpq_describe(&a, line, sizeof(line)) >= sizeof(line))
			abort();
	} else if ((e1 != FLOE_MALFORMED && e1 != FLOE_INVALID && e1 != FLOE_LIMIT) || !ea.msg[0] ||
	           strcmp(ea.msg, eb.msg) != 0) {
		abort();
	}
	char path[512];
	struct floe_errbuf ep = {0};
	enum floe_err e3 = floe_httpq_decode((const char *)data, size, path, sizeof(path), &ep);
	if (e3 == FLOE_OK ? strlen(path) > size : !ep.msg[0])
		abort();
	return 0;
}
