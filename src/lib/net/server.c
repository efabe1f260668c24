/*
 * server.c - the stream server (stream.h): one thread polls the listening
 * socket and every subscriber; the producer hands it records through a
 * bounded queue of blocks and never waits for it.
 *
 * Per block the thread encodes one shared frame for the subscribers
 * without a filter and the backlog; a subscriber with a filter gets the
 * records its filter keeps, encoded for it.  Frames are reference counted
 * and queued per subscriber; a subscriber whose queue passes sub_buffer
 * bytes is cut off.  docs/stream.md describes the protocol and these
 * rules.
 *
 * With a spool (spool.h) every block is written to it before any
 * subscriber gets it.  A subscriber that asks for a backlog or resumes
 * reads the spool first, a bounded amount at a time, while the live
 * blocks pass it by; when its reader has every entry written so far it
 * becomes live.  The thread does both, so no block falls between the
 * last one read from the spool and the first one sent live.
 */
#include "stream.h"
#include "net_int.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "codec/codec_int.h"
#include "filter/filter.h"
#include "util/mem.h"

#define HELLO_MAX (28u + FLOE_STREAM_INSTANCE_MAX + FLOE_STREAM_TOKEN_MAX + \
                   FLOE_STREAM_FILTER_MAX + FLOE_STREAM_RESUME_MAX * 16u)
#define HELLO_TIMEOUT (10LL * 1000000000)   /* a connection must say hello within */
#define CLOSE_TIMEOUT (2LL * 1000000000)    /* an ERROR frame gets this long to leave */
#define STATUS_EVERY (5LL * 1000000000)     /* STATUS to each subscriber */
#define POLL_MS 100
#define CATCHUP_MAX (8u << 20)              /* unsent bytes a catching-up subscriber may have */

/* An encoded frame (stream header + payload), shared by the backlog and
 * subscriber queues; used by the server's thread only. */
struct frame {
	uint32_t refs;
	uint32_t nrec;
	size_t len;
	uint8_t data[];
};

struct qnode {
	struct frame *f;
	struct qnode *next;
};

enum sub_state { SUB_TLS, SUB_HELLO, SUB_LIVE, SUB_CLOSING, SUB_DEAD };

struct sub {
	struct floe_conn conn;
	enum sub_state state;
	char peer[NI_MAXHOST + NI_MAXSERV + 4];
	char name[FLOE_STREAM_INSTANCE_MAX + 1];
	int64_t deadline;               /* monotonic: hello, or closing */
	uint8_t *in;                    /* hello bytes, then keepalives */
	size_t in_len, in_cap;
	struct qnode *head, *tail;
	size_t head_off, out_bytes;
	struct floe_filter *filter;
	uint64_t sent, filtered;
	bool shut;                      /* closing: our side is shut down */
	/* what it asked for: the records after rs[i].seq of sensor rs[i].sensor,
	 * and with all those of the other sensors (sorted by sensor) */
	struct floe_stream_resume *rs;
	size_t nres;
	bool all;
	struct floe_spool_reader *rd;   /* catching up from the spool; NULL: live */
	uint16_t minor;                 /* its protocol minor: STATUS of 56 bytes from 1 */
};

struct floe_stream_server {
	struct floe_stream_server_opts o;
	uint64_t session;
	int lfd, port;
	SSL_CTX *ctx;
	int wake[2];
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t room;            /* the queue has room (pace) */
	/* producer side, under mu */
	struct floe_flow *cur;
	uint32_t ncur;
	int64_t cur_since;
	struct floe_flow **queue;       /* ring of qmax batches */
	uint32_t *qn;
	uint32_t qhead, qlen;
	struct floe_flow **pool;
	uint32_t npool, pool_cap;
	bool stopping, failed;
	int64_t drain;
	struct floe_stream_server_stats st;
	/* the server's thread only */
	struct sub **subs;
	unsigned nsubs;
	size_t subs_cap;
	struct frame **bl;              /* backlog ring */
	size_t bl_cap, bl_head, bl_len, bl_bytes;
	struct floe_enc enc;
	struct floe_dec dec;
	struct floe_flow *sel, *dscratch;
	struct floe_stream_seen seen[FLOE_STREAM_RESUME_MAX];
	int64_t last_status;
	char why[256];
	struct floe_spool *spool;
	bool ending;                    /* the producer finished: END sent */
	int64_t end_deadline;
	uint64_t spool_failed;          /* appends that failed, for the log */
	struct floe_stream_resume *spooled;  /* the spool's last seq per sensor at start */
	uint64_t kernel_dropped, iface_dropped;  /* the sensor's capture, under mu */
	size_t nspooled;
};

#define STAT_ADD(s, field, v)                                                                \
	do {                                                                                 \
		pthread_mutex_lock(&(s)->mu);                                                \
		(s)->st.field += (v);                                                        \
		pthread_mutex_unlock(&(s)->mu);                                              \
	} while (0)

/* ---- frames ---- */

static struct frame *frame_new(size_t payload, enum floe_stream_type type)
{
	struct frame *f = floe_malloc(NULL, sizeof(*f) + FLOE_STREAM_FRAME_HDR + payload);
	if (!f)
		return NULL;
	f->refs = 1;
	f->nrec = 0;
	f->len = FLOE_STREAM_FRAME_HDR + payload;
	floe_stream_frame_header(f->data, type, (uint32_t)payload);
	return f;
}

static void frame_unref(struct frame *f)
{
	if (f && --f->refs == 0)
		floe_free(NULL, f, sizeof(*f) + f->len);
}

/* Encodes n records into a BLOCK frame; NULL on NOMEM (logged). */
static struct frame *frame_block(struct floe_stream_server *s, const struct floe_flow *recs,
                                 size_t n)
{
	struct floe_errbuf eb = {0};
	size_t len;
	if (floe_block_encode(&s->enc, recs, n, &len, &eb) != FLOE_OK) {
		floe_logf(s->o.log, FLOE_LOG_ERR, "stream: cannot encode a block: %s", eb.msg);
		return NULL;
	}
	struct frame *f = frame_new(len, FLOE_SF_BLOCK);
	if (!f)
		return NULL;
	memcpy(f->data + FLOE_STREAM_FRAME_HDR, s->enc.frame, len);
	f->nrec = (uint32_t)n;
	return f;
}

static struct frame *frame_text(enum floe_stream_type type, const char *text)
{
	size_t l = strlen(text);
	if (l > FLOE_STREAM_TEXT_MAX)
		l = FLOE_STREAM_TEXT_MAX;
	struct frame *f = frame_new(l, type);
	if (f)
		memcpy(f->data + FLOE_STREAM_FRAME_HDR, text, l);
	return f;
}

/* Adds r's seq to the ranges e[0..*k) (at most FLOE_STREAM_RESUME_MAX). */
static void seen_add(struct floe_stream_seen *e, size_t *k, const struct floe_flow *r)
{
	if (!r->seq)
		return;
	size_t j;
	/* a block's records come from few sensors: look back from the last */
	for (j = *k; j > 0 && e[j - 1].sensor != r->sensor; j--)
		;
	if (j > 0) {
		if (r->seq > e[j - 1].last)
			e[j - 1].last = r->seq;
		if (r->seq < e[j - 1].first)
			e[j - 1].first = r->seq;
	} else if (*k < FLOE_STREAM_RESUME_MAX) {
		e[(*k)++] = (struct floe_stream_seen){r->sensor, r->seq, r->seq};
	}
}

/* The lowest and highest seq of each sensor of recs, in s->seen. */
static size_t seen_ranges(struct floe_stream_server *s, const struct floe_flow *recs, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		seen_add(s->seen, &k, &recs[i]);
	return k;
}

/* A SEEN frame of the ranges e[0..k); NULL if k is 0 or NOMEM. */
static struct frame *frame_seen_of(const struct floe_stream_seen *e, size_t k)
{
	if (!k)
		return NULL;
	struct frame *f = frame_new(k * FLOE_STREAM_SEEN_ENT, FLOE_SF_SEEN);
	if (f)
		floe_stream_seen_encode(e, k, f->data + FLOE_STREAM_FRAME_HDR);
	return f;
}

/* A SEEN frame for recs: the lowest and highest seq of each sensor (at
 * most FLOE_STREAM_RESUME_MAX of them); NULL if none is numbered or NOMEM. */
static struct frame *frame_seen(struct floe_stream_server *s, const struct floe_flow *recs,
                                size_t n)
{
	struct floe_stream_seen *e = s->seen;
	size_t k = seen_ranges(s, recs, n);
	if (!k)
		return NULL;
	struct frame *f = frame_new(k * FLOE_STREAM_SEEN_ENT, FLOE_SF_SEEN);
	if (f)
		floe_stream_seen_encode(e, k, f->data + FLOE_STREAM_FRAME_HDR);
	return f;
}

/* ---- subscribers ---- */

static void sub_free(struct sub *u)
{
	floe_conn_close(&u->conn);
	for (struct qnode *q = u->head, *nx; q; q = nx) {
		nx = q->next;
		frame_unref(q->f);
		free(q);
	}
	floe_filter_destroy(u->filter);
	floe_spool_reader_destroy(u->rd);
	free(u->rs);
	free(u->in);
	free(u);
}

static void sub_cut(struct floe_stream_server *s, struct sub *u, const char *why)
{
	if (u->state == SUB_DEAD)
		return;
	floe_logf(s->o.log, FLOE_LOG_WARN, "stream: subscriber '%s' (%s) cut off: %s", u->name,
	          u->peer, why);
	u->state = SUB_DEAD;
	STAT_ADD(s, cut_off, 1);
}

/* Queues f for u (a reference taken); false if u is over its bound and
 * was cut off. */
static bool sub_push(struct floe_stream_server *s, struct sub *u, struct frame *f)
{
	if (u->state == SUB_DEAD)
		return false;
	if (u->out_bytes + f->len > s->o.sub_buffer && f->nrec) {
		char why[160];
		snprintf(why, sizeof(why), "%zu bytes unsent, past its bound of %zu (too slow)",
		         u->out_bytes + f->len, s->o.sub_buffer);
		sub_cut(s, u, why);
		return false;
	}
	struct qnode *q = malloc(sizeof(*q));
	if (!q) {
		sub_cut(s, u, "out of memory");
		return false;
	}
	q->f = f;
	q->next = NULL;
	f->refs++;
	if (u->tail)
		u->tail->next = q;
	else
		u->head = q;
	u->tail = q;
	u->out_bytes += f->len;
	u->sent += f->nrec;
	return true;
}

/* Writes what the socket takes. */
static void sub_write(struct floe_stream_server *s, struct sub *u)
{
	(void)s;
	while (u->head && u->state != SUB_DEAD) {
		struct frame *f = u->head->f;
		ssize_t w = floe_conn_write(&u->conn, f->data + u->head_off, f->len - u->head_off);
		if (w < 0) {
			floe_logf(s->o.log, FLOE_LOG_INFO, "stream: subscriber '%s' (%s) went away",
			          u->name, u->peer);
			STAT_ADD(s, closed, 1);
			u->state = SUB_DEAD;
			return;
		}
		if (w == 0)
			return;
		u->head_off += (size_t)w;
		if (u->head_off == f->len) {
			struct qnode *q = u->head;
			u->head = q->next;
			if (!u->head)
				u->tail = NULL;
			u->out_bytes -= f->len;
			u->head_off = 0;
			frame_unref(f);
			free(q);
		}
	}
	if (!u->head && u->state == SUB_CLOSING && !u->shut) {
		/* all sent: say so and wait for the peer to close, reading what it
		 * still sends, so the close does not reset what it has not read */
		shutdown(u->conn.fd, SHUT_WR);
		u->shut = true;
	}
}

/* A closing connection: discard input until the peer closes. */
static void sub_discard(struct sub *u)
{
	uint8_t buf[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t r = u->conn.ssl ? recv(u->conn.fd, buf, sizeof(buf), 0)
		                        : floe_conn_read(&u->conn, buf, sizeof(buf));
		if (r == 0 && u->conn.ssl)
			r = -1;   /* recv: end of stream */
		if (r < 0 && u->conn.ssl &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (r < 0) {
			u->state = SUB_DEAD;
			return;
		}
		if (r == 0)
			return;
	}
}

/* Refuses a hello: logged, counted, an ERROR frame, then close. */
static void sub_refuse(struct floe_stream_server *s, struct sub *u, const char *why)
{
	floe_logf(s->o.log, FLOE_LOG_WARN, "stream: refused subscriber %s: %s", u->peer, why);
	STAT_ADD(s, refused, 1);
	struct frame *f = frame_text(FLOE_SF_ERROR, why);
	u->state = SUB_CLOSING;
	u->deadline = floe_net_mono() + CLOSE_TIMEOUT;
	if (!f || !sub_push(s, u, f))
		u->state = SUB_DEAD;
	frame_unref(f);
	sub_write(s, u);
}

static int cmp_resume(const void *a, const void *b)
{
	const struct floe_stream_resume *x = a, *y = b;
	return x->sensor < y->sensor ? -1 : x->sensor > y->sensor;
}

/* u's resume point for sensor, or NULL. */
static const struct floe_stream_resume *sub_point(const struct sub *u, uint32_t sensor)
{
	struct floe_stream_resume key = {.sensor = sensor};
	return u->rs ? bsearch(&key, u->rs, u->nres, sizeof(*u->rs), cmp_resume) : NULL;
}

/* Queues for u what it asked for of one block of the backlog or the
 * spool: the records after its resume points (with u->all those of the
 * other sensors), through its filter, and to a filtered subscriber the
 * seq ranges of them (SEEN). */
static void replay_block(struct floe_stream_server *s, struct sub *u, const uint8_t *blk,
                         size_t blen)
{
	struct floe_errbuf eb = {0};
	size_t n, used;
	if (floe_block_decode_ex(&s->dec, blk, blen, s->dscratch, &n, &used, false, &eb) !=
	    FLOE_OK) {
		/* the backlog holds what we encoded, the spool what passed its
		 * checksum: a block that does not decode is a bug, logged */
		floe_logf(s->o.log, FLOE_LOG_ERR, "stream: a spooled block does not decode: %s",
		          eb.msg);
		return;
	}
	size_t k2 = 0, ks = 0;
	for (size_t i = 0; i < n; i++) {
		const struct floe_flow *r = &s->dscratch[i];
		const struct floe_stream_resume *e = sub_point(u, r->sensor);
		if (e ? r->seq <= e->seq : !u->all)
			continue;
		seen_add(s->seen, &ks, r);
		if (u->filter && !floe_filter_match(u->filter, r)) {
			u->filtered++;
			continue;
		}
		s->sel[k2++] = *r;
	}
	if (k2) {
		struct frame *g = frame_block(s, s->sel, k2);
		if (!g) {
			sub_cut(s, u, "out of memory");
			return;
		}
		(void)sub_push(s, u, g);
		frame_unref(g);
	}
	if (u->filter) {
		struct frame *g = frame_seen_of(s->seen, ks);
		if (g)
			(void)sub_push(s, u, g);
		frame_unref(g);
	}
}

/* Whether u wants any record of spool entry e, by its seq ranges; *whole:
 * every record of it. */
static bool entry_wanted(const struct sub *u, const struct floe_spool_entry *e, bool *whole)
{
	if (e->nranges == 0) {
		*whole = u->all && !u->rs;
		return u->all;
	}
	bool any = false;
	*whole = true;
	for (size_t i = 0; i < e->nranges; i++) {
		struct floe_stream_seen r = floe_stream_seen_entry(e->ranges, i);
		const struct floe_stream_resume *p = sub_point(u, r.sensor);
		if (p) {
			any |= r.last > p->seq;
			*whole &= r.first > p->seq;
		} else {
			any |= u->all;
			*whole &= u->all;
		}
	}
	return any;
}

/* END to u, which then closes; a subscriber that cannot take it is dropped. */
static void sub_end(struct floe_stream_server *s, struct sub *u)
{
	struct frame *f = frame_new(0, FLOE_SF_END);
	if (u->state == SUB_LIVE && f && sub_push(s, u, f)) {
		u->state = SUB_CLOSING;
		u->deadline = s->end_deadline;
		sub_write(s, u);
	} else if (u->state != SUB_CLOSING) {
		u->state = SUB_DEAD;
	}
	frame_unref(f);
}

/* Queues the next spool entries for a catching-up subscriber, while it
 * has few bytes unsent; when it has read every entry written so far it
 * is live: the next block distributed goes to it.  Same thread as
 * distribute(), so nothing is written to the spool in between. */
static void sub_catchup(struct floe_stream_server *s, struct sub *u)
{
	size_t cap = s->o.sub_buffer / 2 < CATCHUP_MAX ? s->o.sub_buffer / 2 : CATCHUP_MAX;
	while (u->rd && u->state == SUB_LIVE && u->out_bytes < cap) {
		struct floe_spool_entry e;
		struct floe_errbuf eb = {0};
		enum floe_err r = floe_spool_reader_next(u->rd, &e, &eb);
		if (r == FLOE_EOF) {
			floe_spool_reader_destroy(u->rd);
			u->rd = NULL;
			floe_logf(s->o.log, FLOE_LOG_INFO,
			          "stream: subscriber '%s' (%s) has read the spool: live", u->name,
			          u->peer);
			if (s->ending)
				sub_end(s, u);
			break;
		}
		if (r != FLOE_OK) {
			char why[320];
			snprintf(why, sizeof(why), "spool: %s", eb.msg);
			sub_cut(s, u, why);
			break;
		}
		bool whole;
		if (!entry_wanted(u, &e, &whole))
			continue;
		if (whole && !u->filter) {
			struct frame *f = frame_new(e.block_len, FLOE_SF_BLOCK);
			if (!f) {
				sub_cut(s, u, "out of memory");
				break;
			}
			memcpy(f->data + FLOE_STREAM_FRAME_HDR, e.block, e.block_len);
			f->nrec = e.nrec;
			(void)sub_push(s, u, f);
			frame_unref(f);
		} else {
			replay_block(s, u, e.block, e.block_len);
		}
	}
}

/* Sets up what u asked for: the records of the sensors in its resume
 * list after their seq, and with FLOE_STREAM_F_BACKLOG those of the other
 * sensors, through its filter: from the spool (a reader, read by
 * sub_catchup) or from the backlog in memory (queued now). */
static void sub_replay(struct floe_stream_server *s, struct sub *u,
                       const struct floe_stream_hello *h)
{
	bool all = (h->flags & FLOE_STREAM_F_BACKLOG) != 0;
	size_t nres = h->nresume;
	if (h->session && h->session != s->session) {
		/* resume points of another run of this server: its seq started
		 * again, so all of the backlog is new to the subscriber */
		nres = 0;
		all = true;
	}
	if (!all && nres == 0)
		return;
	if (nres) {
		u->rs = malloc(nres * sizeof(*u->rs));
		if (!u->rs) {
			sub_cut(s, u, "out of memory");
			return;
		}
		for (size_t i = 0; i < nres; i++)
			u->rs[i] = floe_stream_hello_resume(h, i);
		qsort(u->rs, nres, sizeof(*u->rs), cmp_resume);
		u->nres = nres;
	}
	u->all = all;
	if (s->spool) {
		u->rd = floe_spool_reader_create(s->spool);
		if (!u->rd)
			sub_cut(s, u, "out of memory");
		return;
	}
	for (size_t k = 0; k < s->bl_len && u->state != SUB_DEAD; k++) {
		struct frame *f = s->bl[(s->bl_head + k) % s->bl_cap];
		if (all && !u->rs && !u->filter)
			(void)sub_push(s, u, f);
		else
			replay_block(s, u, f->data + FLOE_STREAM_FRAME_HDR,
			             f->len - FLOE_STREAM_FRAME_HDR);
	}
	free(u->rs);
	u->rs = NULL;
	u->nres = 0;
}

/* A complete hello is in u->in: accept or refuse it. */
static void sub_hello(struct floe_stream_server *s, struct sub *u, uint32_t plen)
{
	struct floe_errbuf eb = {0};
	struct floe_stream_hello h;
	if (floe_stream_hello_decode(u->in + FLOE_STREAM_FRAME_HDR, plen, &h, &eb) != FLOE_OK) {
		sub_refuse(s, u, eb.msg);
		return;
	}
	snprintf(u->name, sizeof(u->name), "%s", h.instance);
	u->minor = h.minor;
	if (h.role != FLOE_STREAM_SUBSCRIBER) {
		sub_refuse(s, u, "hello: not a subscriber");
		return;
	}
	if (s->o.token) {
		size_t tl = strlen(s->o.token);
		if (h.token_len != tl || CRYPTO_memcmp(h.token, s->o.token, tl) != 0) {
			sub_refuse(s, u, h.token_len ? "bad token" : "a token is required");
			return;
		}
	}
	unsigned live = 0;
	for (unsigned i = 0; i < s->nsubs; i++)
		live += s->subs[i]->state == SUB_LIVE;
	if (live >= s->o.max_subscribers) {
		sub_refuse(s, u, "too many subscribers");
		return;
	}
	if (h.filter_len) {
		char *text = malloc(h.filter_len + 1);
		if (!text) {
			sub_refuse(s, u, "out of memory");
			return;
		}
		memcpy(text, h.filter, h.filter_len);
		text[h.filter_len] = '\0';
		struct floe_filter_opts fo = {.local = s->o.local};
		u->filter = floe_filter_compile_opts(text, &fo, &eb);
		if (!u->filter) {
			char why[400];
			snprintf(why, sizeof(why), "bad filter '%.100s': %s", text, eb.msg);
			free(text);
			sub_refuse(s, u, why);
			return;
		}
		floe_logf(s->o.log, FLOE_LOG_INFO, "stream: subscriber '%s' (%s) with filter '%s'",
		          u->name, u->peer, text);
		free(text);
	} else {
		floe_logf(s->o.log, FLOE_LOG_INFO, "stream: subscriber '%s' (%s)", u->name,
		          u->peer);
	}
	struct floe_stream_hello sh = {.major = FLOE_STREAM_MAJOR, .minor = FLOE_STREAM_MINOR,
	                               .role = FLOE_STREAM_SERVER, .session = s->session};
	snprintf(sh.instance, sizeof(sh.instance), "%s", s->o.instance ? s->o.instance : "");
	size_t sz = floe_stream_hello_size(&sh);
	struct frame *f = frame_new(sz, FLOE_SF_HELLO);
	if (!f) {
		u->state = SUB_DEAD;
		return;
	}
	(void)floe_stream_hello_encode(&sh, f->data + FLOE_STREAM_FRAME_HDR, sz);
	u->state = SUB_LIVE;
	(void)sub_push(s, u, f);
	frame_unref(f);
	STAT_ADD(s, accepted, 1);
	sub_replay(s, u, &h);
	sub_catchup(s, u);
	/* h borrowed the hello's bytes until here */
	free(u->in);
	u->in = NULL;
	u->in_len = u->in_cap = 0;
	sub_write(s, u);
}

/* Reads from u: its hello, then keepalives. */
static void sub_read(struct floe_stream_server *s, struct sub *u)
{
	for (int rounds = 0; rounds < 64 && (u->state == SUB_HELLO || u->state == SUB_LIVE);
	     rounds++) {
		size_t want = FLOE_STREAM_FRAME_HDR;
		struct floe_errbuf eb = {0};
		uint8_t type = 0;
		uint32_t plen = 0;
		if (u->in_len >= FLOE_STREAM_FRAME_HDR) {
			if (floe_stream_frame_parse(u->in, u->in_len, &type, &plen, &eb) !=
			    FLOE_OK) {
				if (u->state == SUB_HELLO)
					sub_refuse(s, u, eb.msg);
				else
					sub_cut(s, u, eb.msg);
				return;
			}
			if (u->state == SUB_HELLO && (type != FLOE_SF_HELLO || plen > HELLO_MAX)) {
				sub_refuse(s, u, type != FLOE_SF_HELLO ? "expected a hello"
				                                      : "hello too long");
				return;
			}
			if (u->state == SUB_LIVE && (type != FLOE_SF_KEEPALIVE || plen > 8)) {
				sub_cut(s, u, "a subscriber sends only keepalives after its hello");
				return;
			}
			want = FLOE_STREAM_FRAME_HDR + plen;
			if (u->in_len == want) {
				if (u->state == SUB_HELLO) {
					sub_hello(s, u, plen);
					return;
				}
				u->in_len = 0;   /* a keepalive */
				continue;
			}
		}
		if (!floe_grow(NULL, (void **)&u->in, &u->in_cap, want, 1, 64)) {
			sub_cut(s, u, "out of memory");
			return;
		}
		ssize_t r = floe_conn_read(&u->conn, u->in + u->in_len, want - u->in_len);
		if (r == 0)
			return;
		if (r < 0) {
			if (u->state == SUB_HELLO) {
				floe_logf(s->o.log, FLOE_LOG_WARN,
				          "stream: refused subscriber %s: closed before its hello",
				          u->peer);
				STAT_ADD(s, refused, 1);
			} else {
				floe_logf(s->o.log, FLOE_LOG_INFO,
				          "stream: subscriber '%s' (%s) went away", u->name,
				          u->peer);
				STAT_ADD(s, closed, 1);
			}
			u->state = SUB_DEAD;
			return;
		}
		u->in_len += (size_t)r;
	}
}

static void sub_service(struct floe_stream_server *s, struct sub *u, short rev)
{
	if (u->state == SUB_TLS) {
		int r = floe_conn_handshake(&u->conn, s->why, sizeof(s->why));
		if (r < 0) {
			floe_logf(s->o.log, FLOE_LOG_WARN, "stream: refused subscriber %s: %s",
			          u->peer, s->why);
			STAT_ADD(s, refused, 1);
			u->state = SUB_DEAD;
			return;
		}
		if (r == 0)
			return;
		u->state = SUB_HELLO;
	}
	if (u->state == SUB_CLOSING) {
		if (rev & (POLLIN | POLLHUP | POLLERR))
			sub_discard(u);
	} else if ((rev & (POLLIN | POLLHUP | POLLERR)) || floe_conn_pending(&u->conn) ||
	           u->state == SUB_HELLO) {
		sub_read(s, u);
	}
	if (u->head && u->state != SUB_DEAD)
		sub_write(s, u);
}

/* ---- listening ---- */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		const uint8_t *a = in6->sin6_addr.s6_addr;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (memcmp(a, mapped, 12) == 0 && a[12] == 127);
	}
	return false;
}

static void peer_name(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
	char h[NI_MAXHOST], p[NI_MAXSERV];
	if (getnameinfo(sa, len, h, sizeof(h), p, sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, cap, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(out, cap, "[%s]:%s", h, p);
	else
		snprintf(out, cap, "%s:%s", h, p);
}

static int open_listener(struct floe_stream_server *s, struct floe_errbuf *eb)
{
	char host[256];
	uint16_t port;
	if (floe_stream_parse_addr(s->o.listen, "127.0.0.1", host, sizeof(host), &port, eb) !=
	    FLOE_OK)
		return -1;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
	struct addrinfo *ai = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	int gr = getaddrinfo(host, ps, &hints, &ai);
	if (gr != 0 || !ai) {
		floe_errbuf_set(eb, FLOE_INVALID, "bad listen address '%s': %s", s->o.listen,
		                gai_strerror(gr));
		return -1;
	}
	if (!is_loopback(ai->ai_addr) && (!s->o.tls_cert || !s->o.token)) {
		freeaddrinfo(ai);
		floe_errbuf_set(
		        eb, FLOE_INVALID,
		        "listening on '%s', not loopback, needs TLS (--tls-cert, --tls-key) "
		        "and a token (--token FILE)",
		        s->o.listen);
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
		floe_errbuf_set(eb, FLOE_IO, "cannot listen on '%s': %s", s->o.listen,
		                strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
		                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static void accept_all(struct floe_stream_server *s)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		char peer[NI_MAXHOST + NI_MAXSERV + 4];
		peer_name((struct sockaddr *)&ss, sl, peer, sizeof(peer));
		/* the kernel's buffer for a subscriber is bounded like its own:
		 * a stalled one holds at most about twice sub_buffer */
		int sndbuf = s->o.sub_buffer < (4u << 20) ? (int)s->o.sub_buffer : 4 << 20;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		/* connections still saying hello count too: at most twice the bound */
		struct sub *u = NULL;
		if (s->nsubs < 2 * s->o.max_subscribers &&
		    floe_grow(NULL, (void **)&s->subs, &s->subs_cap, s->nsubs + 1, sizeof(*s->subs),
		              8))
			u = calloc(1, sizeof(*u));
		if (!u || !floe_conn_init(&u->conn, fd, s->ctx, true, NULL)) {
			floe_logf(s->o.log, FLOE_LOG_WARN, "stream: refused subscriber %s: %s",
			          peer, u ? "out of memory" : "too many connections");
			STAT_ADD(s, refused, 1);
			free(u);
			close(fd);
			continue;
		}
		snprintf(u->peer, sizeof(u->peer), "%s", peer);
		u->state = s->ctx ? SUB_TLS : SUB_HELLO;
		u->deadline = floe_net_mono() + HELLO_TIMEOUT;
		s->subs[s->nsubs++] = u;
	}
}

/* ---- the thread ---- */

/* Writes a block to the spool before any subscriber gets it.  One the
 * spool cannot take is still served live; a subscriber reading the spool
 * then sees its seq gap. */
static void spool_block(struct floe_stream_server *s, const struct frame *f,
                        const struct floe_flow *recs, size_t n)
{
	struct floe_errbuf eb = {0};
	size_t k = seen_ranges(s, recs, n);
	if (floe_spool_append(s->spool, f->data + FLOE_STREAM_FRAME_HDR,
	                      f->len - FLOE_STREAM_FRAME_HDR, (uint32_t)n, s->seen, k,
	                      &eb) != FLOE_OK) {
		/* a full disk fails every block: logged at the first and then
		 * every 1000th */
		if (s->spool_failed++ % 1000 == 0)
			floe_logf(s->o.log, FLOE_LOG_ERR, "stream: %s (%" PRIu64 " blocks not "
			          "spooled so far)", eb.msg, s->spool_failed);
	}
	struct floe_spool_stats ss;
	floe_spool_stats(s->spool, &ss);
	pthread_mutex_lock(&s->mu);
	s->st.spool_records = ss.records;
	s->st.spool_dropped = ss.dropped_records;
	s->st.spool_errors = ss.errors;
	s->st.spool_bytes = ss.bytes;
	pthread_mutex_unlock(&s->mu);
}

/* Hands a block to every live subscriber and keeps it in the backlog. */
static void distribute(struct floe_stream_server *s, const struct floe_flow *recs, size_t n)
{
	struct frame *f = frame_block(s, recs, n);
	if (!f) {
		pthread_mutex_lock(&s->mu);
		s->st.dropped += n;
		pthread_mutex_unlock(&s->mu);
		return;
	}
	STAT_ADD(s, blocks, 1);
	if (s->spool)
		spool_block(s, f, recs, n);
	struct frame *seen = NULL;
	for (unsigned i = 0; i < s->nsubs; i++) {
		struct sub *u = s->subs[i];
		if (u->state != SUB_LIVE || u->rd)
			continue;   /* one catching up reads this block from the spool */
		if (!u->filter) {
			(void)sub_push(s, u, f);
		} else {
			size_t k = 0;
			for (size_t j = 0; j < n; j++)
				if (floe_filter_match(u->filter, &recs[j]))
					s->sel[k++] = recs[j];
			u->filtered += n - k;
			if (k) {
				struct frame *g = frame_block(s, s->sel, k);
				if (!g)
					sub_cut(s, u, "out of memory");
				else
					(void)sub_push(s, u, g);
				frame_unref(g);
			}
			if (!seen)
				seen = frame_seen(s, recs, n);
			if (seen)
				(void)sub_push(s, u, seen);
		}
		sub_write(s, u);
	}
	frame_unref(seen);
	if (s->bl_cap) {
		while (s->bl_len &&
		       (s->bl_len == s->bl_cap || s->bl_bytes + f->len > s->o.backlog)) {
			struct frame *old = s->bl[s->bl_head];
			s->bl_bytes -= old->len;
			frame_unref(old);
			s->bl_head = (s->bl_head + 1) % s->bl_cap;
			s->bl_len--;
		}
		if (f->len <= s->o.backlog) {
			s->bl[(s->bl_head + s->bl_len) % s->bl_cap] = f;
			s->bl_len++;
			s->bl_bytes += f->len;
			f = NULL;
		}
	}
	frame_unref(f);
}

/* Takes the queued batches (and a partial one past its time) and sends
 * them; true if stopping and nothing is left. */
static bool take_work(struct floe_stream_server *s)
{
	struct floe_flow *batch[64];
	uint32_t bn[64];
	int64_t now = floe_net_mono();
	pthread_mutex_lock(&s->mu);
	bool stopping = s->stopping;
	if (s->ncur && (stopping || now - s->cur_since >= s->o.flush_interval) &&
	    s->qlen < s->o.queue_blocks) {
		s->queue[(s->qhead + s->qlen) % s->o.queue_blocks] = s->cur;
		s->qn[(s->qhead + s->qlen) % s->o.queue_blocks] = s->ncur;
		s->qlen++;
		s->cur = NULL;
		s->ncur = 0;
	}
	uint32_t k = 0;
	while (s->qlen && k < 64) {
		batch[k] = s->queue[s->qhead];
		bn[k++] = s->qn[s->qhead];
		s->qhead = (s->qhead + 1) % s->o.queue_blocks;
		s->qlen--;
	}
	bool more = s->qlen || s->ncur;
	if (k)
		pthread_cond_broadcast(&s->room);
	pthread_mutex_unlock(&s->mu);
	for (uint32_t i = 0; i < k; i++)
		distribute(s, batch[i], bn[i]);
	pthread_mutex_lock(&s->mu);
	for (uint32_t i = 0; i < k; i++) {
		if (s->npool < s->pool_cap)
			s->pool[s->npool++] = batch[i];
		else
			floe_free(NULL, batch[i], s->o.block_records * sizeof(struct floe_flow));
	}
	pthread_mutex_unlock(&s->mu);
	return stopping && !more && k == 0;
}

static void send_status(struct floe_stream_server *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t dropped = s->st.dropped;
	uint32_t nlive = s->st.subscribers;
	uint64_t kd = s->kernel_dropped, id = s->iface_dropped;
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nsubs; i++) {
		struct sub *u = s->subs[i];
		if (u->state != SUB_LIVE)
			continue;
		size_t len = u->minor >= 1 ? FLOE_STREAM_STATUS_LEN1 : FLOE_STREAM_STATUS_LEN;
		struct frame *f = frame_new(len, FLOE_SF_STATUS);
		if (!f)
			return;
		struct floe_stream_status st = {.time = floe_net_now(), .records = u->sent,
		                                .filtered = u->filtered, .dropped = dropped,
		                                .subscribers = nlive, .kernel_dropped = kd,
		                                .iface_dropped = id};
		if (u->minor >= 1)
			floe_stream_status_encode1(&st, f->data + FLOE_STREAM_FRAME_HDR);
		else
			floe_stream_status_encode(&st, f->data + FLOE_STREAM_FRAME_HDR);
		(void)sub_push(s, u, f);
		frame_unref(f);
		sub_write(s, u);
	}
}

/* Drops the dead and counts the live. */
static void reap(struct floe_stream_server *s)
{
	unsigned k = 0, live = 0;
	int64_t now = floe_net_mono();
	for (unsigned i = 0; i < s->nsubs; i++) {
		struct sub *u = s->subs[i];
		if ((u->state == SUB_TLS || u->state == SUB_HELLO) && now > u->deadline) {
			floe_logf(s->o.log, FLOE_LOG_WARN,
			          "stream: refused subscriber %s: no hello within "
			          "10 s",
			          u->peer);
			STAT_ADD(s, refused, 1);
			u->state = SUB_DEAD;
		}
		if (u->state == SUB_CLOSING && now > u->deadline)
			u->state = SUB_DEAD;
		if (u->state == SUB_DEAD) {
			sub_free(u);
			continue;
		}
		live += u->state == SUB_LIVE;
		s->subs[k++] = u;
	}
	s->nsubs = k;
	pthread_mutex_lock(&s->mu);
	s->st.subscribers = live;
	pthread_mutex_unlock(&s->mu);
}

static void *server_main(void *arg)
{
	struct floe_stream_server *s = arg;
	/* a subscriber gone away must not raise SIGPIPE in the process */
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	struct pollfd *pf = NULL;
	size_t pf_cap = 0;
	s->last_status = floe_net_mono();
	for (;;) {
		if (!floe_grow(NULL, (void **)&pf, &pf_cap, s->nsubs + 2, sizeof(*pf), 16)) {
			pthread_mutex_lock(&s->mu);
			s->failed = true;
			pthread_cond_broadcast(&s->room);
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pf[0] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
		pf[1] = (struct pollfd){.fd = s->ending ? -1 : s->lfd, .events = POLLIN};
		bool pending = false;
		for (unsigned i = 0; i < s->nsubs; i++) {
			struct sub *u = s->subs[i];
			short ev = POLLIN;
			if (u->head)
				ev |= POLLOUT;
			if (u->state != SUB_CLOSING)
				ev = floe_conn_events(&u->conn, ev);
			pf[i + 2] = (struct pollfd){.fd = u->conn.fd, .events = ev};
			pending |= floe_conn_pending(&u->conn);
			/* one catching up with room reads on from the spool now */
			pending |= u->rd && u->state == SUB_LIVE && !u->head;
		}
		(void)poll(pf, s->nsubs + 2, pending ? 0 : POLL_MS);
		if (pf[0].revents & POLLIN) {
			char buf[256];
			while (read(s->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		bool done = take_work(s);
		if (pf[1].revents & POLLIN)
			accept_all(s);
		unsigned npolled = s->nsubs;   /* accept_all may have added some */
		for (unsigned i = 0; i < npolled && i + 2 < pf_cap; i++) {
			short rev = pf[i + 2].revents;
			struct sub *u = s->subs[i];
			if (rev || floe_conn_pending(&u->conn) || u->state == SUB_TLS)
				sub_service(s, u, rev);
			if (u->rd) {
				sub_catchup(s, u);
				sub_write(s, u);
			}
		}
		if (s->spool)
			floe_spool_tick(s->spool);
		int64_t now = floe_net_mono();
		if (now - s->last_status >= STATUS_EVERY) {
			send_status(s);
			s->last_status = now;
		}
		if (done && !s->ending) {
			/* the producer finished: END to everyone (to one catching
			 * up when it has read the spool), then drain */
			send_status(s);
			s->ending = true;
			pthread_mutex_lock(&s->mu);
			s->end_deadline = now + s->drain;
			pthread_mutex_unlock(&s->mu);
			for (unsigned i = 0; i < s->nsubs; i++)
				if (!(s->subs[i]->rd && s->subs[i]->state == SUB_LIVE))
					sub_end(s, s->subs[i]);
		}
		if (s->ending && now > s->end_deadline)
			for (unsigned i = 0; i < s->nsubs; i++)
				if ((s->subs[i]->head || s->subs[i]->rd) &&
				    s->subs[i]->state != SUB_DEAD)
					sub_cut(s, s->subs[i],
					        "still behind when the server stopped");
		reap(s);
		if (s->ending && s->nsubs == 0)
			break;
	}
	free(pf);
	return NULL;
}

/* ---- the producer's side ---- */

struct floe_stream_server *floe_stream_server_create(const struct floe_stream_server_opts *opts,
                                                     struct floe_errbuf *eb)
{
	struct floe_stream_server *s = calloc(1, sizeof(*s));
	if (!s) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	s->o = *opts;
	s->lfd = s->wake[0] = s->wake[1] = -1;
	if (!s->o.block_records)
		s->o.block_records = 4096;
	if (s->o.block_records > FLOE_BLOCK_MAX_RECORDS)
		s->o.block_records = FLOE_BLOCK_MAX_RECORDS;
	if (s->o.flush_interval <= 0)
		s->o.flush_interval = 1000000000;
	if (!s->o.queue_blocks)
		s->o.queue_blocks = 16;
	if (!s->o.sub_buffer)
		s->o.sub_buffer = 32u << 20;
	if (!s->o.backlog)
		s->o.backlog = 16u << 20;
	if (s->o.backlog == SIZE_MAX)
		s->o.backlog = 0;
	if (s->o.backlog > s->o.sub_buffer / 2)
		s->o.backlog = s->o.sub_buffer / 2;   /* a replay fits a subscriber's buffer */
	if (!s->o.max_subscribers)
		s->o.max_subscribers = 64;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->room, NULL);
	floe_dec_init(&s->dec);
	if ((s->o.tls_cert != NULL) != (s->o.tls_key != NULL) || (s->o.tls_ca && !s->o.tls_cert)) {
		floe_errbuf_set(eb, FLOE_INVALID,
		                "TLS needs a certificate and its key (and a client "
		                "CA only with them)");
		goto fail;
	}
	if (s->o.token && (!*s->o.token || strlen(s->o.token) > FLOE_STREAM_TOKEN_MAX)) {
		floe_errbuf_set(eb, FLOE_INVALID, "token of 1 to %u bytes", FLOE_STREAM_TOKEN_MAX);
		goto fail;
	}
	if (floe_enc_init(&s->enc, 0) != FLOE_OK) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		goto fail;
	}
	if (s->o.spool_dir)
		s->o.backlog = 0;   /* the spool is the backlog */
	size_t bl_cap = s->o.backlog ? s->o.backlog / 64 + 1 : 0;  /* a frame is > 64 bytes */
	s->pool_cap = s->o.queue_blocks + 2;
	s->queue = calloc(s->o.queue_blocks, sizeof(*s->queue));
	s->qn = calloc(s->o.queue_blocks, sizeof(*s->qn));
	s->pool = calloc(s->pool_cap, sizeof(*s->pool));
	s->sel = floe_malloc(NULL, s->o.block_records * sizeof(struct floe_flow));
	s->dscratch = floe_malloc(NULL, s->o.block_records * sizeof(struct floe_flow));
	s->bl = bl_cap ? calloc(bl_cap, sizeof(*s->bl)) : NULL;
	s->bl_cap = bl_cap;
	if (!s->queue || !s->qn || !s->pool || !s->sel || !s->dscratch || (bl_cap && !s->bl)) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		goto fail;
	}
	if (s->o.tls_cert) {
		s->ctx = floe_tls_server_ctx(s->o.tls_cert, s->o.tls_key, s->o.tls_ca, eb);
		if (!s->ctx)
			goto fail;
	}
	if (RAND_bytes((unsigned char *)&s->session, sizeof(s->session)) != 1)
		s->session = (uint64_t)floe_net_now();
	if (s->o.spool_dir) {
		struct floe_spool_opts so = {.dir = s->o.spool_dir, .max_bytes = s->o.spool_max,
		                             .run = s->session, .log = s->o.log};
		s->spool = floe_spool_open(&so, eb);
		s->spooled = calloc(FLOE_STREAM_RESUME_MAX, sizeof(*s->spooled));
		if (!s->spool || !s->spooled) {
			if (s->spool)
				floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
			goto fail;
		}
		/* a restart on the spool is the same run: subscribers' resume
		 * points stay good, and seq goes on after the spool's */
		s->session = floe_spool_run(s->spool);
		s->nspooled = floe_spool_last(s->spool, s->spooled, FLOE_STREAM_RESUME_MAX);
		struct floe_spool_stats ss;
		floe_spool_stats(s->spool, &ss);
		s->st.spool_bytes = ss.bytes;
		s->st.spool_dropped = ss.dropped_records;
		if (ss.found_records)
			floe_logf(s->o.log, FLOE_LOG_INFO,
			          "stream: spool '%s': %" PRIu64 " records of this run kept, "
			          "%" PRIu64 " bytes", s->o.spool_dir, ss.found_records, ss.bytes);
	}
	s->lfd = open_listener(s, eb);
	if (s->lfd < 0)
		goto fail;
	if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		floe_errbuf_set(eb, FLOE_IO, "pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&s->th, NULL, server_main, s) != 0) {
		floe_errbuf_set(eb, FLOE_NOMEM, "cannot start the stream server's thread");
		goto fail;
	}
	s->started = true;
	return s;
fail:
	floe_stream_server_destroy(s, 0, NULL);
	return NULL;
}

int floe_stream_server_port(const struct floe_stream_server *s)
{
	return s->port;
}

void floe_stream_server_sensor_drops(struct floe_stream_server *s, uint64_t kernel,
                                     uint64_t iface)
{
	pthread_mutex_lock(&s->mu);
	s->kernel_dropped = kernel;
	s->iface_dropped = iface;
	pthread_mutex_unlock(&s->mu);
}

size_t floe_stream_server_spooled(const struct floe_stream_server *s,
                                  struct floe_stream_resume *out, size_t cap)
{
	size_t k = 0;
	for (; k < s->nspooled && k < cap; k++)
		out[k] = s->spooled[k];
	return k;
}

static void wake(struct floe_stream_server *s)
{
	char c = 1;
	(void)!write(s->wake[1], &c, 1);
}

/* Moves the current batch to the queue, or drops it when the queue is
 * full.  Under mu. */
static void push_cur(struct floe_stream_server *s)
{
	if (!s->ncur)
		return;
	while (s->o.pace && s->qlen == s->o.queue_blocks && !s->failed)
		pthread_cond_wait(&s->room, &s->mu);
	if (s->qlen == s->o.queue_blocks) {
		s->st.dropped += s->ncur;
		s->ncur = 0;
		return;
	}
	uint32_t at = (s->qhead + s->qlen) % s->o.queue_blocks;
	s->queue[at] = s->cur;
	s->qn[at] = s->ncur;
	s->qlen++;
	s->cur = NULL;
	s->ncur = 0;
}

enum floe_err floe_stream_server_add(struct floe_stream_server *s, const struct floe_flow *f)
{
	pthread_mutex_lock(&s->mu);
	if (s->failed) {
		pthread_mutex_unlock(&s->mu);
		return FLOE_LIMIT;
	}
	s->st.records++;
	if (!s->cur) {
		s->cur = s->npool
		                 ? s->pool[--s->npool]
		                 : floe_malloc(NULL, s->o.block_records * sizeof(struct floe_flow));
		if (!s->cur) {
			s->st.dropped++;
			pthread_mutex_unlock(&s->mu);
			return FLOE_OK;
		}
		s->cur_since = floe_net_mono();
	}
	s->cur[s->ncur++] = *f;
	bool full = s->ncur == s->o.block_records;
	if (full)
		push_cur(s);
	pthread_mutex_unlock(&s->mu);
	if (full)
		wake(s);
	return FLOE_OK;
}

void floe_stream_server_flush(struct floe_stream_server *s)
{
	pthread_mutex_lock(&s->mu);
	push_cur(s);
	pthread_mutex_unlock(&s->mu);
	wake(s);
}

bool floe_stream_server_wait(struct floe_stream_server *s, unsigned n, int64_t timeout,
                             const volatile int *stop)
{
	int64_t end = floe_net_mono() + timeout;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		bool ok = s->st.subscribers >= n;
		pthread_mutex_unlock(&s->mu);
		if (ok)
			return true;
		if ((stop && *stop) || (timeout >= 0 && floe_net_mono() >= end))
			return false;
		struct timespec ts = {0, 50 * 1000000};
		nanosleep(&ts, NULL);
	}
}

void floe_stream_server_stats(struct floe_stream_server *s, struct floe_stream_server_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
}

void floe_stream_server_destroy(struct floe_stream_server *s, int64_t drain,
                                struct floe_stream_server_stats *st)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		s->drain = drain;
		pthread_mutex_unlock(&s->mu);
		wake(s);
		pthread_join(s->th, NULL);
	}
	if (st)
		*st = s->st;
	for (unsigned i = 0; i < s->nsubs; i++)
		sub_free(s->subs[i]);
	free(s->subs);
	for (size_t k = 0; k < s->bl_len; k++)
		frame_unref(s->bl[(s->bl_head + k) % s->bl_cap]);
	free(s->bl);
	size_t bsz = s->o.block_records * sizeof(struct floe_flow);
	for (uint32_t k = 0; k < s->qlen; k++)
		floe_free(NULL, s->queue[(s->qhead + k) % s->o.queue_blocks], bsz);
	for (uint32_t k = 0; k < s->npool; k++)
		floe_free(NULL, s->pool[k], bsz);
	floe_free(NULL, s->cur, bsz);
	free(s->queue);
	free(s->qn);
	free(s->pool);
	floe_free(NULL, s->sel, bsz);
	floe_free(NULL, s->dscratch, bsz);
	floe_enc_release(&s->enc);
	floe_dec_release(&s->dec);
	floe_spool_close(s->spool);
	free(s->spooled);
	SSL_CTX_free(s->ctx);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	pthread_cond_destroy(&s->room);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
