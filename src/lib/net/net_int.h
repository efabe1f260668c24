/*
 * net_int.h - what the stream server and client share: a non-blocking
 * connection that is a plain socket or a TLS session over one (OpenSSL),
 * and the TLS contexts.  OpenSSL's codes are translated here.
 *
 * Must not depend on: meter, decode, archive, query, libpcap.
 */
#ifndef FLOE_NET_INT_H
#define FLOE_NET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "err.h"

struct floe_conn {
	int fd;
	SSL *ssl;          /* NULL: plain TCP */
	bool hs_done;      /* TLS handshake finished (always true for plain) */
	short want;        /* poll events the last TLS call asked for; 0: the caller's own */
};

/* A server context: certificate chain and key; with ca, client
 * certificates are required and verified.  NULL with eb set (IO). */
SSL_CTX *floe_tls_server_ctx(const char *cert, const char *key, const char *ca,
                             struct floe_errbuf *eb);
/* A client context verifying servers against ca (required), presenting
 * cert and key if given.  NULL with eb set. */
SSL_CTX *floe_tls_client_ctx(const char *ca, const char *cert, const char *key,
                             struct floe_errbuf *eb);

/* Wraps fd (non-blocking) in c; with ctx, a TLS session (server or client
 * side; host: the name the client checks, may be NULL).  false on NOMEM. */
bool floe_conn_init(struct floe_conn *c, int fd, SSL_CTX *ctx, bool server, const char *host);
/* Closes the socket and frees the session. */
void floe_conn_close(struct floe_conn *c);
/* Advances the TLS handshake: 1 done, 0 call again when c->want is ready,
 * -1 failed (the reason in buf). */
int floe_conn_handshake(struct floe_conn *c, char *buf, size_t cap);
/* Reads / writes up to n bytes: > 0 bytes moved, 0 would block (poll for
 * c->want, or POLLIN / POLLOUT when it is 0), -1 closed or failed. */
ssize_t floe_conn_read(struct floe_conn *c, void *p, size_t n);
ssize_t floe_conn_write(struct floe_conn *c, const void *p, size_t n);
/* Bytes TLS has decrypted and buffered (poll does not see them). */
bool floe_conn_pending(const struct floe_conn *c);
/* The poll events to wait for: c->want if set, else dflt. */
short floe_conn_events(const struct floe_conn *c, short dflt);

/* Wall and monotonic clocks in ns. */
int64_t floe_net_now(void);
int64_t floe_net_mono(void);

#endif
