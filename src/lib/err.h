/*
 * err.h - the one error type of libfloe.
 *
 * Every fallible function returns enum floe_err (or NULL plus an error
 * out-parameter).  Codes are distinct so callers can act on them: TRUNCATED
 * means "more bytes may fix it" (a torn last block, a short read), MALFORMED
 * means the bytes are wrong and will stay wrong.  Foreign codes (zstd,
 * libpcap, errno) are translated where they enter libfloe.
 *
 * Must not depend on anything but the C library.
 */
#ifndef FLOE_ERR_H
#define FLOE_ERR_H

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__)
#define FLOE_WUR __attribute__((warn_unused_result))
#define FLOE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FLOE_WUR
#define FLOE_PRINTF(a, b)
#endif

enum floe_err {
	FLOE_OK = 0,
	FLOE_EOF,          /* end of input, not an error for readers */
	FLOE_MALFORMED,    /* input bytes violate the format */
	FLOE_TRUNCATED,    /* input ends before a structure does */
	FLOE_NOMEM,        /* allocation failed or budget exhausted */
	FLOE_IO,           /* read/write/open failed (errno in the message) */
	FLOE_LIMIT,        /* a configured bound was reached */
	FLOE_AGAIN,        /* try again later (non-blocking I/O) */
	FLOE_UNSUPPORTED,  /* valid input we do not handle (newer version...) */
	FLOE_INVALID,      /* bad argument or option from the caller/user */
	FLOE_CHECKSUM,     /* stored checksum does not match the data */
};

/* A static English description of err; never NULL. */
const char *floe_strerror(enum floe_err err);

/*
 * A sticky error slot with a message, embedded in handles (readers, writers,
 * parsers).  The first error wins; later ones are ignored so the message
 * names the root cause.
 */
struct floe_errbuf {
	enum floe_err code;
	char msg[256];
};

/* Record err with a printf-style message unless an error is already set.
 * Returns the code now stored in eb. */
enum floe_err floe_errbuf_set(struct floe_errbuf *eb, enum floe_err err,
                              const char *fmt, ...) FLOE_PRINTF(3, 4);
void floe_errbuf_clear(struct floe_errbuf *eb);

/*
 * Logging: the library never prints.  Handles take an optional log sink;
 * NULL discards.
 */
enum floe_loglevel { FLOE_LOG_ERR, FLOE_LOG_WARN, FLOE_LOG_INFO, FLOE_LOG_DEBUG };

struct floe_log {
	void (*fn)(void *ud, enum floe_loglevel level, const char *msg);
	void *ud;
};

void floe_logf(const struct floe_log *log, enum floe_loglevel level,
               const char *fmt, ...) FLOE_PRINTF(3, 4);

#endif
