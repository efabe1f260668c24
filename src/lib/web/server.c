/*
 * server.c - floe serve's HTTP(S) server over libmicrohttpd (server.h).
 *
 * libmicrohttpd runs a thread per connection (at most max_conns), so a
 * query may block its connection's thread while it reads the archive and
 * an event stream may sleep between events; the number of queries at once
 * is capped separately (queries are what costs memory and disk).
 */
#include "web/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/source.h"
#include "field.h"
#include "net/stream.h"
#include "query/output.h"
#include "util/addr.h"
#include "util/mem.h"
#include "web/assets.h"
#include "web/httpq.h"
#include "web/webq.h"

#define MAX_SESSIONS 64
#define SESSION_NS (12LL * 3600 * 1000000000LL)
#define MAX_BODY 4096
#define LIVE_POLL_NS (2LL * 1000000000LL)
#define LIVE_RECORDS 20
#define LIVE_FILES 64

/* Pages and scripts come from this server only; nothing inline, no eval,
 * no frames, no plug-ins, forms post back here. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self'; connect-src 'self'; form-action 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'";

struct session {
	char id[65];
	int64_t expires;   /* CLOCK_MONOTONIC ns; 0: free */
};

struct floe_web {
	struct floe_web_opts o;
	struct MHD_Daemon *d;
	uint16_t port;
	char host[64];                /* the listening address as in a URL: "[::1]" */
	bool tls;
	char *cert, *key, *token;
	atomic_uint running;          /* queries now */
	atomic_bool stopping;
	pthread_mutex_t mu;           /* sessions */
	struct session sessions[MAX_SESSIONS];
};

/* Per request: the raw URI (before libmicrohttpd decodes it) and a POST body. */
struct req {
	char *uri;
	char body[MAX_BODY];
	size_t blen;
	bool body_over;
	bool started;      /* the first call (headers only) has been seen */
};

static int64_t now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- responses ---- */

static void secure_headers(const struct floe_web *w, struct MHD_Response *r, bool api)
{
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", api ? "no-store" : "no-cache");
	if (w->tls)
		MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result send_buf(struct floe_web *w, struct MHD_Connection *c, unsigned status,
                                const char *type, const void *p, size_t n, bool api)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)(uintptr_t)p,
	                                                         MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	secure_headers(w, r, api);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* {"error": msg} with status. */
static enum MHD_Result send_error(struct floe_web *w, struct MHD_Connection *c, unsigned status,
                                 const char *msg)
{
	struct floe_webbuf b;
	floe_webbuf_init(&b, NULL);
	bool ok = FLOE_WEBBUF_LIT(&b, "{\"error\":") && floe_webbuf_json_str(&b, msg) &&
	          floe_webbuf_printf(&b, ",\"status\":%u}\n", status);
	enum MHD_Result ret = MHD_NO;
	if (ok)
		ret = send_buf(w, c, status, "application/json", b.p, b.len, true);
	floe_webbuf_release(&b);
	return ret;
}

static enum MHD_Result redirect(struct floe_web *w, struct MHD_Connection *c, const char *to,
                                const char *cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Location", to);
	if (cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	secure_headers(w, r, true);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SEE_OTHER, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- login ---- */

static bool same_secret(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n == strlen(b) && sodium_memcmp(a, b, n) == 0;
}

static bool session_valid(struct floe_web *w, const char *id)
{
	if (!id || strlen(id) != 64)
		return false;
	int64_t now = floe_webq_now_mono();
	bool ok = false;
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		if (w->sessions[i].expires > now && same_secret(w->sessions[i].id, id))
			ok = true;
	pthread_mutex_unlock(&w->mu);
	return ok;
}

/* A new session (the oldest is dropped when all are taken); its id in id. */
static void session_new(struct floe_web *w, char id[65])
{
	unsigned char raw[32];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(id, 65, raw, sizeof(raw));
	int64_t now = floe_webq_now_mono();
	pthread_mutex_lock(&w->mu);
	size_t k = 0;
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		if (w->sessions[i].expires < w->sessions[k].expires)
			k = i;
	memcpy(w->sessions[k].id, id, 65);
	w->sessions[k].expires = now + SESSION_NS;
	pthread_mutex_unlock(&w->mu);
}

/* Without a token the server trusts loopback, so a page of another site
 * must not reach it through a name of its own that resolves to 127.0.0.1
 * (DNS rebinding): the Host header must name this server by address or
 * as localhost. */
static bool host_ok(struct floe_web *w, struct MHD_Connection *c)
{
	if (w->token)
		return true;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	if (!h)
		return false;
	char want[80];
	const char *names[] = {"127.0.0.1", "localhost", "[::1]", w->host};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "%s:%u", names[i], (unsigned)w->port);
		if (strcasecmp(h, want) == 0 || (w->port == 80 && strcasecmp(h, names[i]) == 0))
			return true;
	}
	return false;
}

static bool authorized(struct floe_web *w, struct MHD_Connection *c)
{
	if (!w->token)
		return true;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h && strncmp(h, "Bearer ", 7) == 0 && same_secret(h + 7, w->token))
		return true;
	return session_valid(w, MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "floe_session"));
}

/* POST /login with "token=..." (a form): a session cookie and to the
 * dashboard, or back to the form. */
static enum MHD_Result login(struct floe_web *w, struct MHD_Connection *c, struct req *rq)
{
	char tok[512];
	struct floe_errbuf eb = {0};
	if (!w->token)
		return redirect(w, c, "/", NULL);
	if (rq->body_over || rq->blen < 6 || memcmp(rq->body, "token=", 6) != 0 ||
	    floe_httpq_decode(rq->body + 6, rq->blen - 6, tok, sizeof(tok), &eb) != FLOE_OK ||
	    !same_secret(tok, w->token)) {
		floe_logf(w->o.log, FLOE_LOG_WARN, "login refused");
		return redirect(w, c, "/login?failed=1", NULL);
	}
	char id[65], cookie[160];
	session_new(w, id);
	snprintf(cookie, sizeof(cookie), "floe_session=%s; Path=/; HttpOnly; SameSite=Strict%s", id,
	         w->tls ? "; Secure" : "");
	sodium_memzero(tok, sizeof(tok));
	return redirect(w, c, "/", cookie);
}

/* ---- the live page: server-sent events ---- */

/* The archive's closed files (.part excluded: still being written), newest
 * by modification time first: the live page follows what the archive
 * writer closes. */
struct live {
	struct floe_web *w;
	struct floe_webbuf out;       /* events not yet sent */
	size_t sent;
	int64_t next_poll;
	int64_t last_beat;
	uint64_t seq;
	/* files already sent, by path */
	char (*seen)[512];
	size_t nseen;
	struct floe_budget budget;
	/* with streams: the client, and what came since the last tick */
	struct floe_stream_client *sc;
	int64_t next_tick, last_tick;
	uint64_t win_records, win_bytes, win_pkts;
	struct floe_flow recent[LIVE_RECORDS];
	size_t nrecent, recent_pos;
	bool ended;
	/* the walk's candidates */
	struct cand {
		char path[512];
		int64_t mtime;
	} cands[LIVE_FILES];
	size_t ncands;
};

static enum floe_err live_walk(void *ud, const char *path, uint64_t size, struct floe_errbuf *eb)
{
	struct live *l = ud;
	(void)size;
	(void)eb;
	size_t n = strlen(path);
	struct stat st;
	if (n >= sizeof(l->cands[0].path) || n < 5 || strcmp(path + n - 5, ".floe") != 0 ||
	    stat(path, &st) != 0)
		return FLOE_OK;
	int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	/* keep the LIVE_FILES newest */
	size_t at = l->ncands;
	if (at == LIVE_FILES) {
		size_t old = 0;
		for (size_t i = 1; i < at; i++)
			if (l->cands[i].mtime < l->cands[old].mtime)
				old = i;
		if (l->cands[old].mtime >= mt)
			return FLOE_OK;
		at = old;
	} else {
		l->ncands++;
	}
	memcpy(l->cands[at].path, path, n + 1);
	l->cands[at].mtime = mt;
	return FLOE_OK;
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* An event "records": ring[] (n of LIVE_RECORDS, the oldest at pos - n)
 * as the query layer's JSON, one record a data: line. */
static void live_records(struct live *l, const struct floe_flow *ring, size_t nlast, size_t pos)
{
	struct floe_webbuf *o = &l->out;
	size_t ncols;
	const struct floe_field *const *cols = floe_fields_default(&ncols);
	char *mem = NULL;
	size_t memlen = 0;
	FILE *fp = open_memstream(&mem, &memlen);
	struct floe_fmtopts fo = {.timefmt = 0, .prec = 6, .numeric = false};
	struct floe_output *w = NULL;
	if (fp)
		w = floe_output_create(fp, FLOE_OUT_JSON, cols, ncols, &fo, false);
	for (size_t i = 0; w && i < nlast; i++) {
		const struct floe_flow *f = &ring[(pos + LIVE_RECORDS - nlast + i) % LIVE_RECORDS];
		if (floe_output_write(w, f) != FLOE_OK)
			break;
	}
	if (w && floe_output_finish(w) != FLOE_OK)
		memlen = 0;
	if (fp)
		fclose(fp);
	if (mem && memlen) {
		floe_webbuf_printf(o, "id: %" PRIu64 "\nevent: records\n", ++l->seq);
		for (char *p = mem; *p;) {
			char *nl = strchr(p, '\n');
			size_t k = nl ? (size_t)(nl - p) : strlen(p);
			if (k) {
				FLOE_WEBBUF_LIT(o, "data: ");
				floe_webbuf_add(o, p, k);
				FLOE_WEBBUF_LIT(o, "\n");
			}
			p += k + (nl != NULL);
		}
		FLOE_WEBBUF_LIT(o, "\n");
	}
	free(mem);
}

/* One event for a newly closed file: its totals and rate, and its last
 * records as the query layer's JSON. */
static void live_file(struct live *l, const char *path)
{
	struct floe_errbuf eb = {0};
	struct floe_source_opts so = {.range = FLOE_TIMERANGE_ALL, .log = l->w->o.log};
	struct floe_source *src = floe_source_create(&so, &eb);
	if (!src || floe_source_add_file(src, path, &eb) != FLOE_OK) {
		floe_source_destroy(src);
		return;
	}
	struct floe_flow last[LIVE_RECORDS];
	size_t nlast = 0, pos = 0;
	uint64_t recs = 0, bytes = 0, pkts = 0;
	int64_t first = INT64_MAX, end = INT64_MIN;
	const struct floe_flow *r;
	size_t n;
	enum floe_err e;
	while ((e = floe_source_next(src, &r, &n)) == FLOE_OK) {
		for (size_t i = 0; i < n; i++) {
			recs++;
			bytes += r[i].sbytes + r[i].dbytes;
			pkts += r[i].spkts + r[i].dpkts;
			first = r[i].stime < first ? r[i].stime : first;
			end = r[i].ltime > end ? r[i].ltime : end;
			last[pos] = r[i];
			pos = (pos + 1) % LIVE_RECORDS;
			nlast += nlast < LIVE_RECORDS;
		}
	}
	floe_source_destroy(src);
	if (e != FLOE_EOF || recs == 0)
		return;
	double secs = end > first ? (double)(end - first) / 1e9 : 0;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	struct floe_webbuf *o = &l->out;
	floe_webbuf_printf(o, "id: %" PRIu64 "\nevent: file\ndata: {\"file\":", ++l->seq);
	floe_webbuf_json_str(o, base);
	floe_webbuf_printf(o, ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"pkts\":%" PRIu64
	                   ",\"first\":%.3f,\"last\":%.3f,\"bps\":%.0f,\"pps\":%.1f}\n\n",
	                   recs, bytes, pkts, (double)first / 1e9, (double)end / 1e9,
	                   secs > 0 ? (double)bytes * 8 / secs : 0, secs > 0 ? (double)pkts / secs : 0);
	live_records(l, last, nlast, pos);
}

static bool live_seen(struct live *l, const char *path)
{
	for (size_t i = 0; i < l->nseen; i++)
		if (strcmp(l->seen[i], path) == 0)
			return true;
	return false;
}

static void live_poll(struct live *l)
{
	struct floe_errbuf eb = {0};
	l->ncands = 0;
	for (size_t i = 0; i < l->w->o.ndirs; i++)
		if (floe_archive_walk(l->w->o.dirs[i], live_walk, l, &eb) != FLOE_OK)
			floe_errbuf_clear(&eb);
	qsort(l->cands, l->ncands, sizeof(l->cands[0]), cand_cmp);
	/* the first poll sends the newest file only; later ones each new one */
	size_t from = l->nseen == 0 && l->ncands ? l->ncands - 1 : 0;
	for (size_t i = from; i < l->ncands; i++) {
		if (live_seen(l, l->cands[i].path))
			continue;
		if (l->nseen == LIVE_FILES * 4) {  /* forget the oldest quarter */
			memmove(l->seen, l->seen + LIVE_FILES, (l->nseen - LIVE_FILES) * sizeof(l->seen[0]));
			l->nseen -= LIVE_FILES;
		}
		memcpy(l->seen[l->nseen++], l->cands[i].path, sizeof(l->seen[0]));
		live_file(l, l->cands[i].path);
	}
	if (l->seq == 0 && !l->out.len)
		floe_webbuf_printf(&l->out, "event: waiting\ndata: {\"files\":0}\n\n");
}

/* With streams: takes what the client has (waiting up to 200 ms), and
 * once a second sends the second's rates and its last records. */
static void live_stream(struct live *l)
{
	const struct floe_flow *r;
	size_t n;
	enum floe_err e = floe_stream_client_next(l->sc, &r, &n, 200LL * 1000000);
	if (e == FLOE_OK) {
		for (size_t i = 0; i < n; i++) {
			l->win_records++;
			l->win_bytes += r[i].sbytes + r[i].dbytes;
			l->win_pkts += r[i].spkts + r[i].dpkts;
			l->recent[l->recent_pos] = r[i];
			l->recent_pos = (l->recent_pos + 1) % LIVE_RECORDS;
			l->nrecent += l->nrecent < LIVE_RECORDS;
		}
	}
	int64_t now = floe_webq_now_mono();
	bool over = e != FLOE_OK && e != FLOE_AGAIN;
	if (now >= l->next_tick || over) {
		struct floe_stream_client_stats st;
		floe_stream_client_stats(l->sc, &st);
		double secs = (double)(now - l->last_tick) / 1e9;
		floe_webbuf_printf(&l->out, "id: %" PRIu64 "\nevent: rate\ndata: {\"time\":%.3f,\"secs\":%.3f,"
		                   "\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"pkts\":%" PRIu64
		                   ",\"bps\":%.0f,\"pps\":%.1f,\"total\":%" PRIu64 ",\"lost\":%" PRIu64
		                   ",\"sources_live\":%u}\n\n", ++l->seq, (double)now_real() / 1e9, secs,
		                   l->win_records, l->win_bytes, l->win_pkts,
		                   secs > 0 ? (double)l->win_bytes * 8 / secs : 0,
		                   secs > 0 ? (double)l->win_pkts / secs : 0, st.records, st.lost,
		                   st.sources_live);
		if (l->nrecent)
			live_records(l, l->recent, l->nrecent, l->recent_pos);
		l->win_records = l->win_bytes = l->win_pkts = 0;
		l->nrecent = 0;
		l->last_tick = now;
		l->next_tick = now + 1000000000LL;
	}
	if (e == FLOE_EOF) {
		floe_webbuf_printf(&l->out, "event: end\ndata: {}\n\n");
		l->ended = true;
	} else if (over) {
		FLOE_WEBBUF_LIT(&l->out, "event: failure\ndata: {\"error\":");
		floe_webbuf_json_str(&l->out, floe_stream_client_error(l->sc));
		FLOE_WEBBUF_LIT(&l->out, "}\n\n");
		l->ended = true;
	}
}

static ssize_t live_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct live *l = cls;
	(void)pos;
	for (;;) {
		if (atomic_load(&l->w->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (l->sent == l->out.len && l->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (l->sent < l->out.len) {
			size_t n = l->out.len - l->sent < max ? l->out.len - l->sent : max;
			memcpy(buf, l->out.p + l->sent, n);
			l->sent += n;
			if (l->sent == l->out.len) {
				l->out.len = 0;
				l->sent = 0;
				l->out.full = false;
			}
			return (ssize_t)n;
		}
		if (l->sc) {
			live_stream(l);
			continue;
		}
		int64_t now = floe_webq_now_mono();
		if (now >= l->next_poll) {
			live_poll(l);
			l->next_poll = now + LIVE_POLL_NS;
			continue;
		}
		if (now - l->last_beat > 15LL * 1000000000LL) {
			l->last_beat = now;
			floe_webbuf_printf(&l->out, ": alive\n\n");
			continue;
		}
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void live_free(void *cls)
{
	struct live *l = cls;
	floe_stream_client_destroy(l->sc);
	floe_webbuf_release(&l->out);
	free(l->seen);
	free(l);
}

static enum MHD_Result live_start(struct floe_web *w, struct MHD_Connection *c)
{
	struct live *l = calloc(1, sizeof(*l));
	if (l)
		l->seen = calloc(LIVE_FILES * 4, sizeof(l->seen[0]));
	if (!l || !l->seen) {
		free(l);
		return send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	l->w = w;
	floe_budget_init(&l->budget, 4u << 20);
	floe_webbuf_init(&l->out, &l->budget);
	l->last_beat = floe_webq_now_mono();
	floe_webbuf_printf(&l->out, "retry: 3000\n\n");
	if (w->o.nstreams) {
		struct floe_stream_client_opts co = {
			.sources = w->o.streams, .nsources = w->o.nstreams, .instance = "floe-serve",
			.token = w->o.stream_token, .tls_ca = w->o.stream_ca, .wait = true,
			.backoff_max = 2LL * 1000000000LL, .log = w->o.log,
		};
		struct floe_errbuf eb = {0};
		if (!(l->sc = floe_stream_client_create(&co, &eb))) {
			live_free(l);
			return send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, eb.msg);
		}
		l->last_tick = floe_webq_now_mono();
		l->next_tick = l->last_tick + 1000000000LL;
		FLOE_WEBBUF_LIT(&l->out, "event: mode\ndata: {\"mode\":\"stream\",\"sources\":[");
		for (size_t i = 0; i < w->o.nstreams; i++) {
			if (i)
				FLOE_WEBBUF_LIT(&l->out, ",");
			floe_webbuf_json_str(&l->out, w->o.streams[i]);
		}
		FLOE_WEBBUF_LIT(&l->out, "]}\n\n");
	} else {
		FLOE_WEBBUF_LIT(&l->out, "event: mode\ndata: {\"mode\":\"archive\"}\n\n");
	}
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, live_read,
	                                                           l, live_free);
	if (!r) {
		live_free(l);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	secure_headers(w, r, true);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- the API ---- */

enum api { API_SUMMARY, API_SERIES, API_HOST, API_QUERY, API_GRAPH };

static unsigned status_of(enum floe_err e)
{
	switch (e) {
	case FLOE_INVALID:
	case FLOE_MALFORMED:
		return MHD_HTTP_BAD_REQUEST;
	case FLOE_LIMIT:
	case FLOE_NOMEM:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static bool stopping(void *ud)
{
	return atomic_load(&((struct floe_web *)ud)->stopping);
}

static enum MHD_Result api(struct floe_web *w, struct MHD_Connection *c, enum api which,
                           const char *arg, const char *qs)
{
	struct floe_errbuf eb = {0};
	struct floe_httpq *q = malloc(sizeof(*q));
	if (!q)
		return send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	uint8_t addr[16];
	enum floe_err e = floe_httpq_parse(qs, strlen(qs), now_real(), q, &eb);
	if (e == FLOE_OK && which == API_HOST && !floe_addr_parse(arg, addr))
		e = floe_errbuf_set(&eb, FLOE_MALFORMED, "not an IPv4 or IPv6 address: '%.60s'", arg);
	if (e != FLOE_OK) {
		free(q);
		return send_error(w, c, MHD_HTTP_BAD_REQUEST, eb.msg);
	}
	if (atomic_fetch_add(&w->running, 1) >= w->o.max_queries) {
		atomic_fetch_sub(&w->running, 1);
		free(q);
		char m[128];
		snprintf(m, sizeof(m), "busy: %u queries are running; try again in a moment",
		         w->o.max_queries);
		return send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, m);
	}
	struct floe_budget budget;
	floe_budget_init(&budget, w->o.query_memory);
	struct floe_webq_ctx ctx = {
		.dirs = w->o.dirs, .ndirs = w->o.ndirs, .local = w->o.local, .budget = &budget,
		.deadline = floe_webq_now_mono() + w->o.query_timeout, .tmpdir = w->o.tmpdir,
		.log = w->o.log, .cancel = stopping, .cancel_ud = w,
	};
	struct floe_webbuf out;
	floe_webbuf_init(&out, &budget);
	switch (which) {
	case API_SUMMARY: e = floe_webq_summary(&ctx, q, &out, &eb); break;
	case API_SERIES: e = floe_webq_series(&ctx, q, &out, &eb); break;
	case API_HOST: e = floe_webq_host(&ctx, q, addr, &out, &eb); break;
	case API_QUERY: e = floe_webq_table(&ctx, q, &out, &eb); break;
	case API_GRAPH: e = floe_webq_graph(&ctx, q, &out, &eb); break;
	}
	atomic_fetch_sub(&w->running, 1);
	enum MHD_Result ret;
	if (e != FLOE_OK) {
		ret = send_error(w, c, status_of(e), eb.msg[0] ? eb.msg : floe_strerror(e));
	} else if (which == API_GRAPH) {
		ret = send_buf(w, c, MHD_HTTP_OK, "image/svg+xml", out.p, out.len, true);
	} else if (which == API_QUERY && q->format == FLOE_HQF_CSV) {
		struct MHD_Response *r = MHD_create_response_from_buffer(out.len, out.p,
		                                                         MHD_RESPMEM_MUST_COPY);
		ret = MHD_NO;
		if (r) {
			MHD_add_response_header(r, "Content-Type", "text/csv; charset=utf-8");
			MHD_add_response_header(r, "Content-Disposition",
			                        "attachment; filename=\"floe-query.csv\"");
			secure_headers(w, r, true);
			ret = MHD_queue_response(c, MHD_HTTP_OK, r);
			MHD_destroy_response(r);
		}
	} else {
		ret = send_buf(w, c, MHD_HTTP_OK, "application/json", out.p, out.len, true);
	}
	floe_webbuf_release(&out);
	free(q);
	return ret;
}

/* ---- routing ---- */

static void *uri_start(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)c;
	struct req *rq = calloc(1, sizeof(*rq));
	if (rq && !(rq->uri = strdup(uri))) {
		free(rq);
		rq = NULL;
	}
	return rq;
}

static void req_done(void *cls, struct MHD_Connection *c, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct req *rq = *con_cls;
	if (rq) {
		free(rq->uri);
		free(rq);
	}
	*con_cls = NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct floe_web *w = cls;
	struct req *rq = *con_cls;
	(void)url;
	(void)version;
	if (!rq)
		return MHD_NO;
	if (!host_ok(w, c))
		return send_error(w, c, MHD_HTTP_MISDIRECTED_REQUEST, "this server answers only to its "
		                  "own address (Host: 127.0.0.1:PORT or localhost:PORT)");
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;
	if (post && !rq->started) {
		rq->started = true;   /* the body, if any, comes in the next calls */
		return MHD_YES;
	}
	if (post && *upload_size) {
		if (rq->blen + *upload_size > sizeof(rq->body))
			rq->body_over = true;
		else
			memcpy(rq->body + rq->blen, upload, *upload_size);
		rq->blen += rq->body_over ? 0 : *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	/* the raw path, decoded here, and the raw query string */
	const char *qm = strchr(rq->uri, '?');
	size_t plen = qm ? (size_t)(qm - rq->uri) : strlen(rq->uri);
	const char *qs = qm ? qm + 1 : "";
	char path[512];
	struct floe_errbuf eb = {0};
	if (floe_httpq_decode(rq->uri, plen, path, sizeof(path), &eb) != FLOE_OK)
		return send_error(w, c, MHD_HTTP_BAD_REQUEST, eb.msg);
	char *hash = strchr(path, '#');
	if (hash)
		*hash = '\0';
	if (strcmp(path, "/login") == 0 && post)
		return login(w, c, rq);
	if (!get)
		return send_error(w, c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET (and POST /login)");
	const struct floe_web_asset *a = floe_web_asset_find(path);
	bool open = strcmp(path, "/login") == 0 || strcmp(path, "/static/style.css") == 0 ||
	            strcmp(path, "/static/login.js") == 0 || strcmp(path, "/static/favicon.svg") == 0;
	if (!open && !authorized(w, c)) {
		if (strncmp(path, "/api/", 5) == 0)
			return send_error(w, c, MHD_HTTP_UNAUTHORIZED, "log in first: Authorization: Bearer "
			                  "TOKEN, or the form at /login");
		return redirect(w, c, "/login", NULL);
	}
	if (a && (strcmp(path, "/login") != 0 || w->token))
		return send_buf(w, c, MHD_HTTP_OK, a->type, a->data, a->len, false);
	static const struct {
		const char *path;
		enum api which;
		bool prefix;
	} routes[] = {
		{"/api/summary", API_SUMMARY, false}, {"/api/series", API_SERIES, false},
		{"/api/host/", API_HOST, true}, {"/api/query", API_QUERY, false},
		{"/api/graph.svg", API_GRAPH, false},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t n = strlen(routes[i].path);
		bool hit = routes[i].prefix ? strncmp(path, routes[i].path, n) == 0 :
		                              strcmp(path, routes[i].path) == 0;
		if (hit)
			return api(w, c, routes[i].which, path + n, qs);
	}
	if (strcmp(path, "/api/live") == 0)
		return live_start(w, c);
	return send_error(w, c, MHD_HTTP_NOT_FOUND, "no such page");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct floe_web *w = cls;
	char m[256];
	vsnprintf(m, sizeof(m), fmt, ap);
	size_t n = strlen(m);
	while (n && m[n - 1] == '\n')
		m[--n] = '\0';
	/* mostly one connection's trouble (a client gone, a TLS handshake
	 * refused): debugging, not the operator's concern */
	floe_logf(w->o.log, FLOE_LOG_DEBUG, "http: %s", m);
}

/* ---- the server ---- */

/* "127.0.0.1:8080", "[::1]:0", "localhost:8080" into a socket address. */
static bool parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *v6,
                         bool *loopback)
{
	char host[64];
	const char *colon;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return false;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return false;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	char *endp;
	unsigned long port = strtoul(colon + 1, &endp, 10);
	if (!colon[1] || *endp || port > 65535)
		return false;
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		*v6 = false;
		*loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
		return true;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		*v6 = true;
		*loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
		return true;
	}
	return false;
}

struct floe_web *floe_web_create(const struct floe_web_opts *o, struct floe_errbuf *eb)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool v6, loopback;
	if (!o->listen || !parse_listen(o->listen, &ss, &sslen, &v6, &loopback)) {
		floe_errbuf_set(eb, FLOE_INVALID, "bad listen address '%s': give HOST:PORT, e.g. "
		                "127.0.0.1:8080 or [::1]:8080", o->listen ? o->listen : "");
		return NULL;
	}
	bool tls = o->tls_cert && o->tls_key;
	if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
		floe_errbuf_set(eb, FLOE_INVALID, "TLS needs both a certificate and its key");
		return NULL;
	}
	if (!loopback && (!tls || !o->token)) {
		floe_errbuf_set(eb, FLOE_INVALID, "'%s' is not a loopback address: serving other "
		                "machines needs TLS (--tls-cert, --tls-key) and a login token (--token)",
		                o->listen);
		return NULL;
	}
	if (o->token && strlen(o->token) < 16) {
		floe_errbuf_set(eb, FLOE_INVALID, "the token is shorter than 16 characters");
		return NULL;
	}
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		floe_errbuf_set(eb, FLOE_UNSUPPORTED, "this libmicrohttpd has no TLS");
		return NULL;
	}
	if (sodium_init() < 0) {
		floe_errbuf_set(eb, FLOE_NOMEM, "cannot initialise libsodium");
		return NULL;
	}
	struct floe_web *w = calloc(1, sizeof(*w));
	if (!w) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	w->o = *o;
	if (!w->o.query_memory)
		w->o.query_memory = 64u << 20;
	if (!w->o.query_timeout)
		w->o.query_timeout = 30LL * 1000000000LL;
	if (!w->o.max_queries)
		w->o.max_queries = 4;
	if (!w->o.max_conns)
		w->o.max_conns = 64;
	w->tls = tls;
	pthread_mutex_init(&w->mu, NULL);
	if ((o->token && !(w->token = strdup(o->token))) || (tls && (!(w->cert = strdup(o->tls_cert)) ||
	                                                             !(w->key = strdup(o->tls_key))))) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		floe_web_destroy(w);
		return NULL;
	}
	w->o.token = w->token;
	w->o.tls_cert = w->cert;
	w->o.tls_key = w->key;
	/* the socket first: its port and name are known before any request
	 * thread can ask for them */
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd >= 0 && v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
		floe_errbuf_set(eb, FLOE_IO, "cannot listen on %s: %s", o->listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		floe_web_destroy(w);
		return NULL;
	}
	char a[INET6_ADDRSTRLEN] = "";
	if (v6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
		w->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
		w->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	}
	snprintf(w->host, sizeof(w->host), v6 ? "[%s]" : "%s", a);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
	struct MHD_OptionItem tlsopts[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, w->cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, w->key},
		{MHD_OPTION_END, 0, NULL},
	};
	/* libmicrohttpd closes the listening socket when it stops */
	w->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, w,
	                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w,
	                        MHD_OPTION_LISTEN_SOCKET, fd,
	                        MHD_OPTION_CONNECTION_LIMIT, w->o.max_conns,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
	                        MHD_OPTION_URI_LOG_CALLBACK, uri_start, w,
	                        MHD_OPTION_NOTIFY_COMPLETED, req_done, w,
	                        MHD_OPTION_ARRAY, tls ? tlsopts : tlsopts + 2,
	                        MHD_OPTION_END);
	if (!w->d) {
		close(fd);
		floe_errbuf_set(eb, FLOE_IO, "cannot serve on %s%s", o->listen,
		                tls ? ": the TLS certificate or key is not valid PEM" : "");
		floe_web_destroy(w);
		return NULL;
	}
	return w;
}

uint16_t floe_web_port(const struct floe_web *w)
{
	return w->port;
}

void floe_web_destroy(struct floe_web *w)
{
	if (!w)
		return;
	atomic_store(&w->stopping, true);
	if (w->d)
		MHD_stop_daemon(w->d);
	pthread_mutex_destroy(&w->mu);
	if (w->token)
		sodium_memzero(w->token, strlen(w->token));
	if (w->key)
		sodium_memzero(w->key, strlen(w->key));
	free(w->token);
	free(w->cert);
	free(w->key);
	free(w);
}
