/*
 * client.c - the stream client (stream.h): subscribes to one or more
 * servers, decodes their blocks and proves by seq that nothing was lost.
 *
 * Each source is a non-blocking connection driven by one poll over all of
 * them.  A source that goes away without END is reconnected with backoff
 * (100 ms doubling to backoff_max); its hello then asks to resume after
 * the last seq of each sensor it served (docs/stream.md "Resuming").
 */
#include "stream.h"
#include "net_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec/codec.h"
#include "util/mem.h"

#define MAX_SOURCES 64
#define MAX_SENSORS 4096            /* sensors tracked by seq */
#define SILENCE_LIMIT (30LL * 1000000000)   /* no frame this long: the source is gone */
#define CONNECT_TIMEOUT (10LL * 1000000000)  /* to connect, and then to get the hello */
#define BACKOFF_MIN (100LL * 1000000)
#define ANY_SOURCE UINT32_MAX       /* a sensor's resume point goes to every source */

enum src_state { SRC_IDLE, SRC_CONNECTING, SRC_TLS, SRC_HELLO, SRC_LIVE, SRC_ENDED };

struct src {
	const char *text;
	char host[256];
	uint16_t port;
	enum src_state state;
	struct floe_conn conn;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;                   /* the hello, while it is being sent */
	size_t out_len, out_off;
	int64_t next_try, backoff, since, last_rx;
	bool connected_once;
	uint64_t session;
	uint64_t kernel_dropped, iface_dropped;  /* its sensor's, last STATUS */
};

struct sensor {
	uint32_t sensor;
	uint32_t src;                   /* the source that served it last */
	uint64_t seq;                   /* last seen */
	bool used;
};

struct floe_stream_client {
	struct floe_stream_client_opts o;
	struct src src[MAX_SOURCES];
	size_t nsrc, last_src, rr;
	SSL_CTX *ctx;
	struct floe_flow *recs;         /* FLOE_BLOCK_MAX_RECORDS, allocated at the first block */
	struct sensor sensors[MAX_SENSORS];
	size_t nsensors;
	struct floe_stream_client_stats st;
	struct floe_errbuf eb;
	bool started;
	bool filtered;                  /* a filter was sent: SEEN frames tell the seq */
};

static void src_drop(struct floe_stream_client *c, struct src *s, bool ended)
{
	if (s->state == SRC_LIVE && c->st.sources_live)
		c->st.sources_live--;
	floe_conn_close(&s->conn);
	s->in_len = 0;
	free(s->out);
	s->out = NULL;
	s->out_len = s->out_off = 0;
	if (ended) {
		s->state = SRC_ENDED;
		return;
	}
	s->state = SRC_IDLE;
	s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_MIN;
	if (s->backoff > c->o.backoff_max)
		s->backoff = c->o.backoff_max;
	s->next_try = floe_net_mono() + s->backoff;
}

/* A source failed after it had connected, or at the start with opts.wait:
 * log and retry later.  Otherwise a failure is the client's error. */
static enum floe_err src_fail(struct floe_stream_client *c, struct src *s, enum floe_err e,
                              const char *fmt, const char *why)
{
	char msg[400];
	snprintf(msg, sizeof(msg), fmt, s->text, why);
	if (!s->connected_once && !c->o.wait) {
		src_drop(c, s, true);
		return floe_errbuf_set(&c->eb, e, "%s", msg);
	}
	floe_logf(c->o.log, FLOE_LOG_WARN, "stream: %s; reconnecting", msg);
	src_drop(c, s, false);
	return FLOE_OK;
}

static struct sensor *sensor_find(struct floe_stream_client *c, uint32_t id, bool add)
{
	size_t h = (id * 2654435761u) % MAX_SENSORS;
	for (size_t k = 0; k < MAX_SENSORS; k++) {
		struct sensor *e = &c->sensors[(h + k) % MAX_SENSORS];
		if (e->used && e->sensor == id)
			return e;
		if (!e->used) {
			if (!add || c->nsensors >= MAX_SENSORS * 3 / 4)
				return NULL;
			e->used = true;
			e->sensor = id;
			e->seq = 0;
			c->nsensors++;
			return e;
		}
	}
	return NULL;
}

/* Starts a non-blocking connect. */
static enum floe_err src_connect(struct floe_stream_client *c, struct src *s)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", s->port);
	int gr = getaddrinfo(s->host, ps, &hints, &ai);
	if (gr != 0 || !ai)
		return src_fail(c, s, FLOE_IO, "cannot connect to '%s': %s", gai_strerror(gr));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return src_fail(c, s, FLOE_IO, "cannot connect to '%s': %s", strerror(e));
	}
	freeaddrinfo(ai);
	if (!floe_conn_init(&s->conn, fd, c->ctx, false, s->host)) {
		close(fd);
		return floe_errbuf_set(&c->eb, FLOE_NOMEM, "out of memory");
	}
	s->state = SRC_CONNECTING;
	s->since = s->last_rx = floe_net_mono();
	return FLOE_OK;
}

/* The hello for s: resume after the last seq of the sensors s served. */
static enum floe_err src_hello(struct floe_stream_client *c, struct src *s)
{
	static struct floe_stream_resume none;
	struct floe_stream_resume *rs = NULL;
	size_t nr = 0;
	size_t idx = (size_t)(s - c->src);
	if (c->nsensors) {
		rs = malloc(FLOE_STREAM_RESUME_MAX * sizeof(*rs));
		if (!rs)
			return floe_errbuf_set(&c->eb, FLOE_NOMEM, "out of memory");
		for (size_t k = 0; k < MAX_SENSORS && nr < FLOE_STREAM_RESUME_MAX; k++)
			if (c->sensors[k].used &&
			    (c->sensors[k].src == idx || c->sensors[k].src == ANY_SOURCE))
				rs[nr++] = (struct floe_stream_resume){c->sensors[k].sensor,
				                                       c->sensors[k].seq};
	}
	struct floe_stream_hello h = {.major = FLOE_STREAM_MAJOR,
	                              .minor = FLOE_STREAM_MINOR,
	                              .role = FLOE_STREAM_SUBSCRIBER,
	                              .token = c->o.token,
	                              .token_len = c->o.token ? strlen(c->o.token) : 0,
	                              .filter = c->o.filter,
	                              .filter_len = c->filtered ? strlen(c->o.filter) : 0,
	                              .resume = rs ? rs : &none,
	                              .nresume = nr};
	/* the first time: the backlog if asked; after a loss: all of it the
	 * resume list does not cover (sensors not yet seen from s) */
	if (c->o.backlog || s->connected_once)
		h.flags |= FLOE_STREAM_F_BACKLOG;
	h.session = s->connected_once ? s->session : c->o.resume_session;
	snprintf(h.instance, sizeof(h.instance), "%s", c->o.instance ? c->o.instance : "");
	size_t sz = floe_stream_hello_size(&h);
	s->out = malloc(FLOE_STREAM_FRAME_HDR + sz);
	if (!s->out || sz == 0) {
		free(rs);
		return floe_errbuf_set(&c->eb, FLOE_NOMEM, "out of memory");
	}
	floe_stream_frame_header(s->out, FLOE_SF_HELLO, (uint32_t)sz);
	(void)floe_stream_hello_encode(&h, s->out + FLOE_STREAM_FRAME_HDR, sz);
	s->out_len = FLOE_STREAM_FRAME_HDR + sz;
	s->out_off = 0;
	free(rs);
	return FLOE_OK;
}

/* Checks that seq first..last of sensor follow what came before from
 * source idx: a gap is counted lost, a step back is a restart. */
static void seen(struct floe_stream_client *c, size_t idx, uint32_t sensor, uint64_t first,
                 uint64_t last)
{
	struct sensor *e = sensor_find(c, sensor, true);
	if (!e) {
		c->st.untracked += last - first + 1;
		return;
	}
	e->src = (uint32_t)idx;
	if (e->seq == 0) {
		/* the first record of the sensor: asking for the backlog, seq
		 * 1 is expected; older ones the server no longer had are lost */
		if (c->o.backlog && first > 1) {
			floe_logf(c->o.log, FLOE_LOG_WARN,
			          "stream: '%s': sensor %u: records 1..%llu were no longer at the "
			          "server: counted as lost", c->src[idx].text, sensor,
			          (unsigned long long)(first - 1));
			c->st.lost += first - 1;
		}
	} else if (first > e->seq + 1) {
		floe_logf(c->o.log, FLOE_LOG_WARN,
		          "stream: '%s': sensor %u: %llu records lost (seq %llu..%llu)",
		          c->src[idx].text, sensor, (unsigned long long)(first - e->seq - 1),
		          (unsigned long long)(e->seq + 1), (unsigned long long)(first - 1));
		c->st.lost += first - e->seq - 1;
	} else if (first <= e->seq) {
		floe_logf(c->o.log, FLOE_LOG_WARN,
		          "stream: '%s': sensor %u restarted (seq %llu after %llu)",
		          c->src[idx].text, sensor, (unsigned long long)first,
		          (unsigned long long)e->seq);
		c->st.restarts++;
	}
	e->seq = last;
}

/* Counts gaps and restarts of the sensors in a block.  With a filter the
 * records skip what it rejected: the SEEN frame after the block checks. */
static void track(struct floe_stream_client *c, size_t idx, const struct floe_flow *r, size_t n)
{
	if (c->filtered)
		return;
	for (size_t i = 0; i < n; i++)
		if (r[i].seq)
			seen(c, idx, r[i].sensor, r[i].seq, r[i].seq);
}

/* Handles the complete frames in s->in.  OK with *n > 0: a block was
 * decoded.  OK with *n == 0: nothing more to do now. */
static enum floe_err src_frames(struct floe_stream_client *c, struct src *s, size_t *n)
{
	*n = 0;
	struct floe_errbuf eb = {0};
	while (s->in_len >= FLOE_STREAM_FRAME_HDR &&
	       (s->state == SRC_HELLO || s->state == SRC_LIVE)) {
		uint8_t type;
		uint32_t plen;
		if (floe_stream_frame_parse(s->in, s->in_len, &type, &plen, &eb) != FLOE_OK) {
			src_drop(c, s, true);
			return floe_errbuf_set(&c->eb, eb.code, "stream '%s': %s", s->text, eb.msg);
		}
		size_t flen = FLOE_STREAM_FRAME_HDR + plen;
		if (s->in_len < flen)
			return FLOE_OK;
		const uint8_t *p = s->in + FLOE_STREAM_FRAME_HDR;
		enum floe_err e = FLOE_OK;
		if (type == FLOE_SF_ERROR) {
			char text[FLOE_STREAM_TEXT_MAX + 1];
			size_t l = plen < FLOE_STREAM_TEXT_MAX ? plen : FLOE_STREAM_TEXT_MAX;
			memcpy(text, p, l);
			text[l] = '\0';
			for (size_t i = 0; i < l; i++)
				if ((unsigned char)text[i] < 0x20)
					text[i] = ' ';
			if (s->state == SRC_HELLO) {
				src_drop(c, s, true);
				return floe_errbuf_set(&c->eb, FLOE_INVALID,
				                       "stream '%s' refused: %s", s->text, text);
			}
			return src_fail(c, s, FLOE_IO, "stream '%s' stopped: %s", text);
		}
		if (s->state == SRC_HELLO) {
			struct floe_stream_hello h;
			if (type != FLOE_SF_HELLO)
				e = floe_errbuf_set(&eb, FLOE_MALFORMED,
				                    "expected the server's hello");
			else if ((e = floe_stream_hello_decode(p, plen, &h, &eb)) == FLOE_OK &&
			         h.role != FLOE_STREAM_SERVER)
				e = floe_errbuf_set(&eb, FLOE_MALFORMED,
				                    "the peer is not a server");
			if (e != FLOE_OK) {
				src_drop(c, s, true);
				return floe_errbuf_set(&c->eb, e, "stream '%s': %s", s->text,
				                       eb.msg);
			}
			if (s->connected_once && h.session != s->session)
				floe_logf(c->o.log, FLOE_LOG_INFO,
				          "stream: '%s' is a new run of its server", s->text);
			s->session = h.session;
			c->st.connects++;
			if (s->connected_once)
				c->st.reconnects++;
			s->backoff = 0;
			s->state = SRC_LIVE;
			c->st.sources_live++;
			if (s->connected_once)
				floe_logf(c->o.log, FLOE_LOG_INFO,
				          "stream: reconnected to '%s' (instance '%s')", s->text,
				          h.instance);
			s->connected_once = true;
		} else if (type == FLOE_SF_BLOCK) {
			if (!c->recs) {
				size_t bytes = FLOE_BLOCK_MAX_RECORDS * sizeof(struct floe_flow);
				c->recs = floe_malloc(NULL, bytes);
				if (!c->recs)
					return floe_errbuf_set(&c->eb, FLOE_NOMEM, "out of memory");
			}
			size_t used;
			e = floe_block_decode(p, plen, c->recs, n, &used, &eb);
			if (e == FLOE_OK && used != plen)
				e = floe_errbuf_set(&eb, FLOE_MALFORMED,
				                    "%zu bytes after the block", plen - used);
			if (e != FLOE_OK) {
				*n = 0;
				src_drop(c, s, true);
				return floe_errbuf_set(&c->eb, e, "stream '%s': block: %s", s->text,
				                       eb.msg);
			}
			c->st.blocks++;
			c->st.records += *n;
		} else if (type == FLOE_SF_STATUS) {
			struct floe_stream_status st;
			if (floe_stream_status_decode(p, plen, &st, &eb) != FLOE_OK) {
				src_drop(c, s, true);
				return floe_errbuf_set(&c->eb, FLOE_MALFORMED, "stream '%s': %s",
				                       s->text, eb.msg);
			}
			c->st.server_dropped = st.dropped;
			s->kernel_dropped = st.kernel_dropped;
			s->iface_dropped = st.iface_dropped;
		} else if (type == FLOE_SF_SEEN) {
			/* records up to these seq that did not come, our filter rejected */
			size_t ne;
			if (floe_stream_seen_decode(p, plen, &ne, &eb) != FLOE_OK) {
				src_drop(c, s, true);
				return floe_errbuf_set(&c->eb, FLOE_MALFORMED, "stream '%s': %s",
				                       s->text, eb.msg);
			}
			for (size_t i = 0; i < ne; i++) {
				struct floe_stream_seen r = floe_stream_seen_entry(p, i);
				seen(c, (size_t)(s - c->src), r.sensor, r.first, r.last);
			}
		} else if (type == FLOE_SF_END) {
			src_drop(c, s, true);
			return FLOE_OK;
		} else if (type != FLOE_SF_KEEPALIVE) {
			src_drop(c, s, true);
			return floe_errbuf_set(&c->eb, FLOE_MALFORMED,
			                       "stream '%s': unexpected frame type %u", s->text,
			                       type);
		}
		c->st.bytes += flen;
		memmove(s->in, s->in + flen, s->in_len - flen);
		s->in_len -= flen;
		if (*n) {
			c->last_src = (size_t)(s - c->src);
			track(c, c->last_src, c->recs, *n);
			return FLOE_OK;
		}
	}
	return FLOE_OK;
}

/* Moves s forward after poll said rev.  OK with *n > 0: a block. */
static enum floe_err src_step(struct floe_stream_client *c, struct src *s, short rev, size_t *n)
{
	*n = 0;
	if (s->state == SRC_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		if (!(rev & (POLLOUT | POLLERR | POLLHUP)))
			return FLOE_OK;
		if (getsockopt(s->conn.fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
			return src_fail(c, s, FLOE_IO, "cannot connect to '%s': %s",
			                strerror(err ? err : errno));
		s->state = SRC_TLS;
	}
	if (s->state == SRC_TLS) {
		char why[512];
		int r = floe_conn_handshake(&s->conn, why, sizeof(why));
		if (r < 0) {
			/* a certificate that fails is not a network hiccup */
			src_drop(c, s, true);
			return floe_errbuf_set(&c->eb, FLOE_IO, "stream '%s': %s", s->text, why);
		}
		if (r == 0)
			return FLOE_OK;
		enum floe_err e = src_hello(c, s);
		if (e != FLOE_OK)
			return e;
		s->state = SRC_HELLO;
		s->last_rx = floe_net_mono();
	}
	while (s->out && s->out_off < s->out_len) {
		ssize_t w = floe_conn_write(&s->conn, s->out + s->out_off, s->out_len - s->out_off);
		if (w < 0)
			return src_fail(c, s, FLOE_IO, "stream '%s': %s", "connection lost");
		if (w == 0)
			break;
		s->out_off += (size_t)w;
	}
	if (s->out && s->out_off == s->out_len) {
		free(s->out);
		s->out = NULL;
	}
	/* read what is there, up to one frame past what is buffered */
	for (int rounds = 0; rounds < 16; rounds++) {
		size_t want = FLOE_STREAM_FRAME_HDR;
		if (s->in_len >= FLOE_STREAM_FRAME_HDR) {
			uint8_t type;
			uint32_t plen;
			struct floe_errbuf eb = {0};
			if (floe_stream_frame_parse(s->in, s->in_len, &type, &plen, &eb) !=
			    FLOE_OK) {
				src_drop(c, s, true);
				return floe_errbuf_set(&c->eb, eb.code, "stream '%s': %s", s->text,
				                       eb.msg);
			}
			want = FLOE_STREAM_FRAME_HDR + plen;
			if (s->in_len >= want)
				break;
		}
		/* read ahead up to 256 KiB past the frame */
		size_t room = want - s->in_len + (256u << 10);
		if (!floe_grow(NULL, (void **)&s->in, &s->in_cap, s->in_len + room, 1, 1u << 16))
			return floe_errbuf_set(&c->eb, FLOE_NOMEM, "out of memory");
		ssize_t r = floe_conn_read(&s->conn, s->in + s->in_len, room);
		if (r == 0)
			break;
		if (r < 0) {
			if (s->state == SRC_HELLO && !s->connected_once && !c->o.wait) {
				src_drop(c, s, true);
				return floe_errbuf_set(&c->eb, FLOE_IO,
				                       "stream '%s' closed the connection "
				                       "before its hello",
				                       s->text);
			}
			return src_fail(c, s, FLOE_IO, "stream '%s': %s", "connection lost");
		}
		s->in_len += (size_t)r;
		s->last_rx = floe_net_mono();
	}
	return src_frames(c, s, n);
}

struct floe_stream_client *floe_stream_client_create(const struct floe_stream_client_opts *opts,
                                                     struct floe_errbuf *eb)
{
	if (opts->nsources == 0 || opts->nsources > MAX_SOURCES) {
		floe_errbuf_set(eb, FLOE_INVALID, "give 1 to %d stream sources", MAX_SOURCES);
		return NULL;
	}
	if ((opts->token && strlen(opts->token) > FLOE_STREAM_TOKEN_MAX) ||
	    (opts->filter && strlen(opts->filter) > FLOE_STREAM_FILTER_MAX)) {
		floe_errbuf_set(eb, FLOE_INVALID, "token or filter too long for a stream hello");
		return NULL;
	}
	if ((opts->tls_cert || opts->tls_key) && !opts->tls_ca) {
		floe_errbuf_set(eb, FLOE_INVALID, "a client certificate goes with --tls-ca");
		return NULL;
	}
	struct floe_stream_client *c = calloc(1, sizeof(*c));
	if (!c) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	c->o = *opts;
	c->filtered = opts->filter && opts->filter[strspn(opts->filter, " \t\r\n")];
	if (c->o.backoff_max <= 0)
		c->o.backoff_max = 10LL * 1000000000;
	c->nsrc = opts->nsources;
	for (size_t i = 0; i < c->nsrc; i++) {
		struct src *s = &c->src[i];
		s->text = opts->sources[i];
		s->conn.fd = -1;
		if (floe_stream_parse_addr(s->text, NULL, s->host, sizeof(s->host), &s->port, eb) !=
		    FLOE_OK) {
			floe_stream_client_destroy(c);
			return NULL;
		}
	}
	if (opts->nresume > FLOE_STREAM_RESUME_MAX) {
		floe_errbuf_set(eb, FLOE_INVALID, "at most %u resume points",
		                FLOE_STREAM_RESUME_MAX);
		floe_stream_client_destroy(c);
		return NULL;
	}
	for (size_t i = 0; i < opts->nresume; i++) {
		struct sensor *e = sensor_find(c, opts->resume[i].sensor, true);
		if (e) {
			e->seq = opts->resume[i].seq;
			e->src = ANY_SOURCE;
		}
	}
	c->o.resume = NULL;   /* copied into the sensor table */
	c->o.nresume = 0;
	if (opts->tls_ca) {
		c->ctx = floe_tls_client_ctx(opts->tls_ca, opts->tls_cert, opts->tls_key, eb);
		if (!c->ctx) {
			floe_stream_client_destroy(c);
			return NULL;
		}
	}
	return c;
}

enum floe_err floe_stream_client_next(struct floe_stream_client *c, const struct floe_flow **recs,
                                      size_t *n, int64_t timeout)
{
	*n = 0;
	if (c->eb.code != FLOE_OK)
		return c->eb.code;
	int64_t end = timeout < 0 ? INT64_MAX : floe_net_mono() + timeout;
	if (!c->started) {
		c->started = true;
		for (size_t i = 0; i < c->nsrc; i++)
			if (src_connect(c, &c->src[i]) != FLOE_OK)
				return c->eb.code;
	}
	for (;;) {
		/* frames already buffered first, round robin */
		for (size_t k = 0; k < c->nsrc; k++) {
			struct src *s = &c->src[(c->rr + k) % c->nsrc];
			if (s->state != SRC_LIVE && s->state != SRC_HELLO)
				continue;
			if (src_frames(c, s, n) != FLOE_OK)
				return c->eb.code;
			if (*n) {
				c->rr = (size_t)(s - c->src) + 1;
				*recs = c->recs;
				return FLOE_OK;
			}
		}
		int64_t now = floe_net_mono();
		struct pollfd pf[MAX_SOURCES];
		int64_t wake_at = end;
		size_t ended = 0;
		bool pending = false;
		for (size_t i = 0; i < c->nsrc; i++) {
			struct src *s = &c->src[i];
			pf[i] = (struct pollfd){.fd = -1};
			switch (s->state) {
			case SRC_ENDED:
				ended++;
				continue;
			case SRC_IDLE:
				if (now >= s->next_try) {
					if (src_connect(c, s) != FLOE_OK)
						return c->eb.code;
				} else {
					wake_at = s->next_try < wake_at ? s->next_try : wake_at;
					continue;
				}
				break;
			case SRC_CONNECTING:
				if (now - s->since > CONNECT_TIMEOUT &&
				    src_fail(c, s, FLOE_IO, "cannot connect to '%s': %s",
				             "timed out") != FLOE_OK)
					return c->eb.code;
				break;
			case SRC_TLS:
			case SRC_HELLO:
				if (now - s->since > CONNECT_TIMEOUT &&
				    src_fail(c, s, FLOE_IO, "stream '%s': %s",
				             "no hello within 10 s") != FLOE_OK)
					return c->eb.code;
				break;
			default:
				if (now - s->last_rx > SILENCE_LIMIT &&
				    src_fail(c, s, FLOE_IO, "stream '%s': %s", "silent for 30 s") !=
				            FLOE_OK)
					return c->eb.code;
				break;
			}
			if (s->state == SRC_IDLE || s->state == SRC_ENDED)
				continue;
			short ev = s->state == SRC_CONNECTING ? POLLOUT : POLLIN;
			if (s->out)
				ev |= POLLOUT;
			pf[i] = (struct pollfd){.fd = s->conn.fd,
			                        .events = floe_conn_events(&s->conn, ev)};
			pending |= floe_conn_pending(&s->conn);
		}
		if (ended == c->nsrc)
			return FLOE_EOF;
		int64_t wait_ns = pending ? 0 : wake_at - now;
		int ms = wait_ns <= 0           ? 0
		         : wait_ns > 1000000000 ? 1000
		                                : (int)((wait_ns + 999999) / 1000000);
		int pr = poll(pf, c->nsrc, ms);
		if (pr < 0 && errno != EINTR)
			return floe_errbuf_set(&c->eb, FLOE_IO, "poll: %s", strerror(errno));
		if (pr < 0)
			return FLOE_AGAIN;   /* a signal: let the caller look */
		for (size_t k = 0; k < c->nsrc; k++) {
			size_t i = (c->rr + k) % c->nsrc;
			struct src *s = &c->src[i];
			if (pf[i].fd < 0 || (!pf[i].revents && !floe_conn_pending(&s->conn)))
				continue;
			if (src_step(c, s, pf[i].revents, n) != FLOE_OK)
				return c->eb.code;
			if (*n) {
				c->rr = i + 1;
				*recs = c->recs;
				return FLOE_OK;
			}
		}
		if (floe_net_mono() >= end)
			return FLOE_AGAIN;
	}
}

const char *floe_stream_client_error(const struct floe_stream_client *c)
{
	return c->eb.msg;
}

size_t floe_stream_client_source(const struct floe_stream_client *c)
{
	return c->last_src;
}

uint64_t floe_stream_client_session(const struct floe_stream_client *c, size_t i)
{
	return i < c->nsrc ? c->src[i].session : 0;
}

void floe_stream_client_stats(const struct floe_stream_client *c,
                              struct floe_stream_client_stats *st)
{
	*st = c->st;
	st->kernel_dropped = st->iface_dropped = 0;
	for (size_t i = 0; i < c->nsrc; i++) {
		st->kernel_dropped += c->src[i].kernel_dropped;
		st->iface_dropped += c->src[i].iface_dropped;
	}
}

void floe_stream_client_destroy(struct floe_stream_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nsrc; i++) {
		floe_conn_close(&c->src[i].conn);
		free(c->src[i].in);
		free(c->src[i].out);
	}
	floe_free(NULL, c->recs, FLOE_BLOCK_MAX_RECORDS * sizeof(struct floe_flow));
	SSL_CTX_free(c->ctx);
	free(c);
}
