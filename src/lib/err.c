/* err.c - error strings, sticky error buffers and the log sink. */
#include "err.h"

#include <stdio.h>
#include <string.h>

const char *floe_strerror(enum floe_err err)
{
	switch (err) {
	case FLOE_OK: return "success";
	case FLOE_EOF: return "end of input";
	case FLOE_MALFORMED: return "malformed input";
	case FLOE_TRUNCATED: return "truncated input";
	case FLOE_NOMEM: return "out of memory";
	case FLOE_IO: return "input/output error";
	case FLOE_LIMIT: return "limit reached";
	case FLOE_AGAIN: return "try again";
	case FLOE_UNSUPPORTED: return "unsupported";
	case FLOE_INVALID: return "invalid argument";
	case FLOE_CHECKSUM: return "checksum mismatch";
	}
	return "unknown error";
}

enum floe_err floe_errbuf_set(struct floe_errbuf *eb, enum floe_err err,
                              const char *fmt, ...)
{
	if (eb->code != FLOE_OK)
		return eb->code;
	eb->code = err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	va_end(ap);
	return err;
}

void floe_errbuf_clear(struct floe_errbuf *eb)
{
	eb->code = FLOE_OK;
	eb->msg[0] = '\0';
}

void floe_logf(const struct floe_log *log, enum floe_loglevel level,
               const char *fmt, ...)
{
	if (!log || !log->fn)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log->fn(log->ud, level, buf);
}
