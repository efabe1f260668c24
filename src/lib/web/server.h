/*
 * server.h - floe serve: the web UI's HTTP(S) server (docs/web.md).
 *
 * libmicrohttpd answers the requests, one thread per connection; this
 * module routes them: the pages and their scripts, embedded in the binary
 * (web/assets.h), the JSON API (webq.h) and charts, and the live page's
 * server-sent events: rates and records of sensors' record streams
 * (net/stream.h), or without streams, the archive's newly closed files.
 * Queries are bounded three ways: a budget of memory each, a deadline
 * each, and a number running at once (503 past it).
 *
 * Security: a listening address other than loopback is refused unless
 * TLS (certificate and key) and a token are configured; with a token every
 * request but the login page needs `Authorization: Bearer TOKEN` or the
 * session cookie the login form sets.  Every answer carries a strict
 * Content-Security-Policy; the pages build their DOM from the JSON API
 * with textContent, so nothing from the archive is parsed as HTML.
 *
 * Must not depend on: the CLI.  Never prints: messages go to opts.log.
 */
#ifndef FLOE_WEB_SERVER_H
#define FLOE_WEB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct floe_netset;

struct floe_web_opts {
	const char *listen;            /* "127.0.0.1:8080", "[::1]:8080", port 0: any free */
	const char *const *dirs;       /* archive directories, borrowed */
	size_t ndirs;
	const struct floe_netset *local; /* for `local`/`remote` in filters; may be NULL */
	const char *tls_cert;          /* PEM text (not a path); NULL: plain HTTP */
	const char *tls_key;           /* PEM text of the key; with tls_cert */
	const char *token;             /* NULL: no login (loopback only) */
	size_t query_memory;           /* budget of one request; 0: 64 MiB */
	int64_t query_timeout;         /* ns a query may read; 0: 30 s */
	unsigned max_queries;          /* queries at once; 0: 4 */
	unsigned max_conns;            /* connections at once; 0: 64 */
	/* The live page's records: stream servers (net/stream.h), each
	 * "HOST:PORT"; none: the page follows the archive's closed files. */
	const char *const *streams;    /* borrowed */
	size_t nstreams;
	const char *stream_token;      /* sent to the stream servers; NULL: none */
	const char *stream_ca;         /* path of a PEM CA: TLS to the stream servers; NULL: TCP */
	const char *tmpdir;            /* spill files of queries; NULL: $TMPDIR or /tmp */
	const struct floe_log *log;
};

struct floe_web;

/* Starts serving (threads of libmicrohttpd).  NULL with eb set:
 *   INVALID      a listen address that does not parse, or not loopback
 *                without tls_cert, tls_key and token; a token shorter than
 *                16 characters
 *   UNSUPPORTED  TLS asked and libmicrohttpd was built without it
 *   IO           cannot listen (the message has errno's text)
 *   NOMEM */
struct floe_web *floe_web_create(const struct floe_web_opts *o, struct floe_errbuf *eb);
/* The port it listens on (the one chosen when listen said port 0). */
uint16_t floe_web_port(const struct floe_web *w);
/* Stops serving (open event streams end) and frees.  NULL: no-op. */
void floe_web_destroy(struct floe_web *w);

#endif
