/*
 * tls.c - connections for streams: plain TCP or TLS (OpenSSL), both
 * non-blocking, so that one poll loop serves many of them (net_int.h).
 */
#include "net_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

int64_t floe_net_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t floe_net_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* OpenSSL's queued reason, for messages. */
static const char *ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	if (!e) {
		snprintf(buf, cap, "unknown TLS error");
		return buf;
	}
	ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
	return buf;
}

SSL_CTX *floe_tls_server_ctx(const char *cert, const char *key, const char *ca,
                             struct floe_errbuf *eb)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		floe_errbuf_set(eb, FLOE_NOMEM, "TLS: %s", ssl_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		floe_errbuf_set(eb, FLOE_IO, "cannot use TLS certificate '%s': %s", cert,
		                ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		floe_errbuf_set(eb, FLOE_IO, "cannot use TLS key '%s': %s", key,
		                ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (ca) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			floe_errbuf_set(eb, FLOE_IO, "cannot use TLS CA '%s': %s", ca,
			                ssl_reason(why, sizeof(why)));
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *floe_tls_client_ctx(const char *ca, const char *cert, const char *key,
                             struct floe_errbuf *eb)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		floe_errbuf_set(eb, FLOE_NOMEM, "TLS: %s", ssl_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		floe_errbuf_set(eb, FLOE_IO, "cannot use TLS CA '%s': %s", ca,
		                ssl_reason(why, sizeof(why)));
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (cert && key) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			floe_errbuf_set(eb, FLOE_IO,
			                "cannot use TLS certificate '%s' and key '%s': %s", cert,
			                key, ssl_reason(why, sizeof(why)));
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

bool floe_conn_init(struct floe_conn *c, int fd, SSL_CTX *ctx, bool server, const char *host)
{
	*c = (struct floe_conn){.fd = fd, .hs_done = ctx == NULL};
	if (!ctx)
		return true;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return false;
	}
	if (server) {
		SSL_set_accept_state(c->ssl);
	} else {
		SSL_set_connect_state(c->ssl);
		if (host && *host) {
			/* the name checked against the certificate: a DNS name or an IP */
			X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) {
				ERR_clear_error();
				SSL_set_tlsext_host_name(c->ssl, host);
				X509_VERIFY_PARAM_set1_host(vp, host, 0);
			}
		}
	}
	return true;
}

void floe_conn_close(struct floe_conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	*c = (struct floe_conn){.fd = -1};
}

/* Maps an SSL_* result: 0 (want: c->want set) or -1. */
static int ssl_again(struct floe_conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->want = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want = POLLOUT;
		return 0;
	default:
		return -1;
	}
}

int floe_conn_handshake(struct floe_conn *c, char *buf, size_t cap)
{
	if (c->hs_done)
		return 1;
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->hs_done = true;
		c->want = 0;
		return 1;
	}
	if (ssl_again(c, r) == 0)
		return 0;
	long v = SSL_get_verify_result(c->ssl);
	if (v != X509_V_OK)
		snprintf(buf, cap, "TLS handshake failed: certificate: %s",
		         X509_verify_cert_error_string(v));
	else {
		char why[256];
		snprintf(buf, cap, "TLS handshake failed: %s", ssl_reason(why, sizeof(why)));
	}
	ERR_clear_error();
	return -1;
}

ssize_t floe_conn_read(struct floe_conn *c, void *p, size_t n)
{
	if (!c->ssl) {
		ssize_t r = read(c->fd, p, n);
		if (r > 0)
			return r;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		return -1;
	}
	ERR_clear_error();
	c->want = 0;
	int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	if (r > 0)
		return r;
	return ssl_again(c, r);
}

ssize_t floe_conn_write(struct floe_conn *c, const void *p, size_t n)
{
	if (!c->ssl) {
		ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return -1;
	}
	ERR_clear_error();
	c->want = 0;
	/* OpenSSL writes with write(): a peer that went away would raise
	 * SIGPIPE in the process.  Block it for this call and take a pending
	 * one back (send() with MSG_NOSIGNAL does this for plain TCP). */
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	if (!sigismember(&old, SIGPIPE)) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
			;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (r > 0)
		return r;
	return ssl_again(c, r);
}

bool floe_conn_pending(const struct floe_conn *c)
{
	return c->ssl && SSL_pending(c->ssl) > 0;
}

short floe_conn_events(const struct floe_conn *c, short dflt)
{
	return c->want ? c->want : dflt;
}
