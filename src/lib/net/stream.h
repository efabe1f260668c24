/*
 * stream.h - live record streams over TCP (docs/stream.md): the wire
 * protocol, a server that serves a producer's records to many subscribers,
 * and a client that subscribes to one or more servers.
 *
 * A connection is a sequence of frames: an 8-byte header (type, flags,
 * length) and a payload.  Each side first sends a HELLO (magic, protocol
 * version, instance name; a subscriber adds its auth token, an optional
 * filter the server applies, and resume points); then the server sends
 * BLOCK frames, each holding one encoded block exactly as in files
 * (codec.h), plus KEEPALIVE, STATUS, ERROR (text, then close), END (the
 * producer finished) and, to a subscriber with a filter, SEEN (the seq
 * range each block covered, so the records the filter rejected are not
 * taken for lost).  Every record carries `seq`, its source's sequence
 * number (1, 2, ... per sensor id and producer run), so a subscriber can
 * prove it lost nothing: a gap is counted as loss, never silent.
 *
 * The server runs in a thread of its own (poll) and never blocks the
 * producer: records go into a bounded queue, and when the queue is full a
 * batch is dropped and counted.  Each subscriber has a bounded buffer; one
 * that falls behind past it is cut off with a logged reason.  A backlog
 * of recent blocks (in memory, or on disk with a spool: spool.h) lets a
 * subscriber that reconnects resume after the last seq it has, when the
 * server still holds those records.  Listening on an
 * address other than loopback needs TLS and a token.
 *
 * Threads: a server's functions may be called from the one producer
 * thread (floe_stream_server_stats from any).  A client is used by one
 * thread.  Both log through opts->log (the server from its thread).
 *
 * Must not depend on: meter, decode, archive, query, libpcap.
 */
#ifndef FLOE_NET_STREAM_H
#define FLOE_NET_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flow.h"

/* ---- the wire protocol (docs/stream.md) ---- */

#define FLOE_STREAM_MAJOR 1
/* minor 1: STATUS carries the sensor's kernel drop counts (56 bytes) to
 * subscribers that said minor 1 or later; minor 0 ones get 40 bytes */
#define FLOE_STREAM_MINOR 1
#define FLOE_STREAM_HELLO_MAGIC "FLSH"

/* Frame header: u8 type, u8 flags (0), u16 reserved (0), u32 payload length. */
#define FLOE_STREAM_FRAME_HDR 8u
/* Largest payload a peer accepts: a block of 64 Ki records with room to spare. */
#define FLOE_STREAM_FRAME_MAX (64u << 20)

enum floe_stream_type {
	FLOE_SF_HELLO = 1,      /* struct floe_stream_hello */
	FLOE_SF_BLOCK = 2,      /* one encoded block (codec.h, format.md "Block frame") */
	FLOE_SF_KEEPALIVE = 3,  /* u64 sender's time, ns since the epoch */
	FLOE_SF_STATUS = 4,     /* struct floe_stream_status */
	FLOE_SF_ERROR = 5,      /* UTF-8 text, at most FLOE_STREAM_TEXT_MAX bytes; then close */
	FLOE_SF_END = 6,        /* empty: the producer finished; then close */
	FLOE_SF_SEEN = 7,       /* to a subscriber with a filter, after each block: per
	                           sensor the first and last seq the server examined; the
	                           records between that did not come, its filter rejected */
	FLOE_SF__COUNT
};

/* Bounds of hello fields and of an error text. */
#define FLOE_STREAM_INSTANCE_MAX 63u
#define FLOE_STREAM_TOKEN_MAX 256u
#define FLOE_STREAM_FILTER_MAX 65536u
#define FLOE_STREAM_RESUME_MAX 1024u
#define FLOE_STREAM_TEXT_MAX 1024u

enum floe_stream_role { FLOE_STREAM_SUBSCRIBER = 1, FLOE_STREAM_SERVER = 2 };

/* Hello flags. */
enum {
	/* subscriber: replay the server's backlog of the sensors not in the
	 * resume list too (from the oldest record it holds) */
	FLOE_STREAM_F_BACKLOG = 1u << 0,
};

/* A resume point: the subscriber has sensor's records up to seq. */
struct floe_stream_resume {
	uint32_t sensor;
	uint64_t seq;
};

/* A decoded hello.  Decoding borrows token, filter and resume from the
 * payload bytes (resume as raw 16-byte entries: read them with
 * floe_stream_hello_resume). */
struct floe_stream_hello {
	uint16_t major, minor;
	uint8_t role;            /* enum floe_stream_role */
	uint8_t flags;           /* FLOE_STREAM_F_* */
	uint64_t session;        /* server: id of this run of the server; subscriber: the
	                            run its resume points come from (0: none, the first
	                            connect); another run's resume points are ignored */
	char instance[FLOE_STREAM_INSTANCE_MAX + 1];
	const char *token;       /* not NUL-terminated */
	size_t token_len;
	const char *filter;      /* not NUL-terminated; 0 length: every record */
	size_t filter_len;
	const struct floe_stream_resume *resume;  /* encode: the entries */
	const uint8_t *resume_raw;                /* decode: the entries' bytes */
	size_t nresume;
};

struct floe_stream_status {
	int64_t time;            /* ns since the epoch */
	uint64_t records;        /* sent to this subscriber so far */
	uint64_t filtered;       /* not sent: its filter rejected them */
	uint64_t dropped;        /* lost at the server: its queue was full */
	uint32_t subscribers;
	/* minor 1: the sensor's capture (floe capture -i): packets the kernel
	 * ring dropped, and the interface dropped, since it started */
	uint64_t kernel_dropped;
	uint64_t iface_dropped;
};
#define FLOE_STREAM_STATUS_LEN 40u
#define FLOE_STREAM_STATUS_LEN1 56u

/* Writes a frame header for a payload of len bytes into out. */
void floe_stream_frame_header(uint8_t out[FLOE_STREAM_FRAME_HDR], enum floe_stream_type type,
                              uint32_t len);
/* Parses the frame header at p.  TRUNCATED if len < FLOE_STREAM_FRAME_HDR;
 * MALFORMED for an unknown type, nonzero flags or reserved bytes, or a
 * length past FLOE_STREAM_FRAME_MAX.  The payload follows the header. */
FLOE_WUR enum floe_err floe_stream_frame_parse(const uint8_t *p, size_t len, uint8_t *type,
                                               uint32_t *plen, struct floe_errbuf *eb);

/* The payload size of h, or 0 if a field is past its bound. */
size_t floe_stream_hello_size(const struct floe_stream_hello *h);
/* Encodes h's payload into out (cap bytes); returns its size, or 0 if it
 * does not fit or a field is past its bound. */
size_t floe_stream_hello_encode(const struct floe_stream_hello *h, uint8_t *out, size_t cap);
/* Decodes a hello payload (exactly len bytes).  MALFORMED (bad magic,
 * unknown role, a length past its bound, bytes left over, a NUL or a
 * control character in instance), TRUNCATED (shorter than its lengths
 * say), UNSUPPORTED (another major version).  h borrows p. */
FLOE_WUR enum floe_err floe_stream_hello_decode(const uint8_t *p, size_t len,
                                                struct floe_stream_hello *h,
                                                struct floe_errbuf *eb);
/* The i-th resume entry of a decoded hello. */
struct floe_stream_resume floe_stream_hello_resume(const struct floe_stream_hello *h, size_t i);

/* A SEEN entry; the payload is n of them, 24 bytes each (u32 sensor, u32
 * 0, u64 first, u64 last). */
struct floe_stream_seen {
	uint32_t sensor;
	uint64_t first, last;
};
#define FLOE_STREAM_SEEN_ENT 24u
void floe_stream_seen_encode(const struct floe_stream_seen *e, size_t n, uint8_t *out);
/* MALFORMED unless len is a multiple of 24 of at most FLOE_STREAM_RESUME_MAX
 * entries, each with first <= last; then *n entries, read with
 * floe_stream_seen_entry. */
FLOE_WUR enum floe_err floe_stream_seen_decode(const uint8_t *p, size_t len, size_t *n,
                                               struct floe_errbuf *eb);
struct floe_stream_seen floe_stream_seen_entry(const uint8_t *p, size_t i);

void floe_stream_status_encode(const struct floe_stream_status *st,
                               uint8_t out[FLOE_STREAM_STATUS_LEN]);
/* The minor 1 STATUS: the 40 bytes, then u64 kernel_dropped, u64
 * iface_dropped. */
void floe_stream_status_encode1(const struct floe_stream_status *st,
                                uint8_t out[FLOE_STREAM_STATUS_LEN1]);
/* MALFORMED unless len is FLOE_STREAM_STATUS_LEN (the kernel counts are
 * then 0) or FLOE_STREAM_STATUS_LEN1. */
FLOE_WUR enum floe_err floe_stream_status_decode(const uint8_t *p, size_t len,
                                                 struct floe_stream_status *st,
                                                 struct floe_errbuf *eb);

/* ---- server ---- */

struct floe_stream_server;
struct floe_netset;

struct floe_stream_server_opts {
	/* "[ADDR:]PORT", "[v6addr]:PORT"; ADDR defaults to 127.0.0.1; PORT 0
	 * picks a free port (floe_stream_server_port). */
	const char *listen;
	const char *instance;       /* sent in the hello; NULL: "" */
	const char *tls_cert;       /* PEM certificate chain and key: TLS on */
	const char *tls_key;
	const char *tls_ca;         /* PEM: require client certificates it signed */
	const char *token;          /* subscribers must send this text; NULL: none */
	uint32_t block_records;     /* records per block sent; 0 = 4096 (at most 65536) */
	int64_t flush_interval;     /* ns: a partial block waits at most this; 0 = 1 s */
	uint32_t queue_blocks;      /* producer -> server queue, in blocks; 0 = 16 */
	size_t sub_buffer;          /* bytes unsent to one subscriber before it is cut
	                               off; 0 = 32 MiB */
	size_t backlog;             /* bytes of recent blocks kept for resuming;
	                               0 = 16 MiB; SIZE_MAX: none */
	unsigned max_subscribers;   /* 0 = 64; more are refused (logged, counted) */
	/* When the queue is full: false (live producers) drops the block,
	 * counted; true (producers reading files) waits for the server's
	 * thread, which itself never waits for a subscriber. */
	bool pace;
	const struct floe_netset *local;  /* for `local`/`remote` in subscribers' filters */
	const struct floe_log *log;
	/* The disk spool (spool.h, docs/stream.md "Spool"): every block served
	 * is also written under spool_dir, at most spool_max bytes (0 = 1
	 * GiB); a subscriber asking for a backlog or resuming gets it from
	 * there instead of the memory backlog.  A server started on a spool
	 * keeps the spool's run id (hello session). */
	const char *spool_dir;
	uint64_t spool_max;
};

struct floe_stream_server_stats {
	uint64_t records;           /* added by the producer */
	uint64_t dropped;           /* of them lost: the queue was full */
	uint64_t blocks;            /* blocks encoded for all subscribers */
	uint64_t accepted;          /* subscribers that said a valid hello */
	uint64_t refused;           /* hellos refused: malformed, bad token, bad filter,
	                               too many subscribers, TLS failed */
	uint64_t cut_off;           /* subscribers cut off: over their buffer bound */
	uint64_t closed;            /* subscribers that went away */
	uint32_t subscribers;       /* connected now */
	/* the spool (opts.spool_dir) */
	uint64_t spool_records;     /* written by this run */
	uint64_t spool_dropped;     /* records removed with the oldest segments */
	uint64_t spool_errors;      /* blocks the spool could not write (logged) */
	uint64_t spool_bytes;       /* in the spool now */
};

/* Binds, listens and starts the server's thread.  NULL with eb set:
 * INVALID (bad address, a non-loopback address without TLS and a token,
 * a certificate without its key), IO (bind, listen, reading TLS files;
 * the message names the address or file), NOMEM.  opts is copied; the
 * strings and local are borrowed for the server's life. */
struct floe_stream_server *floe_stream_server_create(const struct floe_stream_server_opts *opts,
                                                     struct floe_errbuf *eb);
/* The port the server listens on. */
int floe_stream_server_port(const struct floe_stream_server *s);
/* The sensor's kernel drop counts so far (floe capture -i), sent in the
 * STATUS frames to subscribers of minor 1 and later. */
void floe_stream_server_sensor_drops(struct floe_stream_server *s, uint64_t kernel,
                                     uint64_t iface);
/* With a spool: the last seq of each sensor it held when the server
 * started (at most cap), so that a restarted producer numbers on after
 * them and a restarted relay resumes its sources after them.  Returns how
 * many; 0 without a spool or with an empty one. */
size_t floe_stream_server_spooled(const struct floe_stream_server *s,
                                  struct floe_stream_resume *out, size_t cap);
/* Queues one record (copied, seq as the caller set it).  Never blocks on
 * subscribers: when the server's queue is full the block is dropped and
 * counted (stats.dropped, STATUS frames; subscribers see the seq gap), or
 * with opts.pace the producer waits for the server's thread to encode.
 * Returns OK (also when dropped), or LIMIT after the server failed. */
FLOE_WUR enum floe_err floe_stream_server_add(struct floe_stream_server *s,
                                              const struct floe_flow *f);
/* Hands the partial block to the server now (otherwise flush_interval). */
void floe_stream_server_flush(struct floe_stream_server *s);
/* Waits until n subscribers are connected, or timeout ns (< 0: forever),
 * or *stop becomes true (may be NULL; checked every 50 ms).  True if
 * they are. */
bool floe_stream_server_wait(struct floe_stream_server *s, unsigned n, int64_t timeout,
                             const volatile int *stop);
void floe_stream_server_stats(struct floe_stream_server *s, struct floe_stream_server_stats *st);
/* Sends what is queued and END to every subscriber, waits up to drain ns
 * for their buffers to empty (those that do not are cut off), stops the
 * thread and frees.  st (may be NULL) gets the final counts.  NULL s:
 * no-op. */
void floe_stream_server_destroy(struct floe_stream_server *s, int64_t drain,
                                struct floe_stream_server_stats *st);

/* ---- client ---- */

struct floe_stream_client;

struct floe_stream_client_opts {
	const char *const *sources;  /* "HOST:PORT" each, "[v6]:PORT"; borrowed */
	size_t nsources;             /* 1..64 */
	const char *instance;        /* sent in the hello; NULL: "" */
	const char *token;           /* sent in the hello; NULL: none */
	const char *filter;          /* filter text the servers apply; NULL: none */
	const char *tls_ca;          /* PEM: TLS on, servers verified against it */
	const char *tls_cert;        /* PEM: client certificate and key, with tls_ca */
	const char *tls_key;
	bool backlog;                /* first connect: ask for the server's backlog */
	bool wait;                   /* a source that cannot be reached at the start is
	                                retried too (relay); else the start fails */
	int64_t backoff_max;         /* ns between reconnects, doubling from 100 ms; 0 = 10 s */
	/* Where to start, for a subscriber that restarts (an archiver): the
	 * last seq of each sensor it already has, sent to every source, and
	 * the server run they come from (floe_stream_client_session; 0: any
	 * run, and then a restarted server's records numbered at or below
	 * them are not sent).  Copied at create; at most
	 * FLOE_STREAM_RESUME_MAX. */
	const struct floe_stream_resume *resume;
	size_t nresume;
	uint64_t resume_session;
	const struct floe_log *log;
};

struct floe_stream_client_stats {
	uint64_t records, blocks, bytes;  /* received */
	uint64_t lost;               /* records missing by seq (gaps), counted */
	uint64_t restarts;           /* a sensor's seq went back: its producer restarted */
	uint64_t untracked;          /* records of sensors past the tracking bound */
	uint64_t connects;           /* connections made (hello accepted) */
	uint64_t reconnects;         /* of them after a source went away */
	uint64_t server_dropped;     /* the servers' own drop counts (last STATUS) */
	uint64_t kernel_dropped;     /* the sensors' captures: packets their kernel ring */
	uint64_t iface_dropped;      /* and interface dropped (last STATUS of each source,
	                                summed) */
	uint32_t sources_live;       /* sources connected now */
};

/* Checks opts and creates the client.  Connections are made at the first
 * floe_stream_client_next.  NULL with eb set: INVALID (bad HOST:PORT,
 * filter or token too long), IO (TLS files), NOMEM.  opts is copied; its
 * strings are borrowed for the client's life. */
struct floe_stream_client *floe_stream_client_create(const struct floe_stream_client_opts *opts,
                                                     struct floe_errbuf *eb);
/* Waits up to timeout ns (< 0: forever) for the next block from any
 * source and decodes it.  OK: recs[0..*n) valid until the next call, from
 * source floe_stream_client_source(); the client's per-sensor seq tracking
 * has counted gaps (logged WARN).  AGAIN: nothing within timeout (check
 * signals, call again).  EOF: every source sent END.  Errors, with
 * floe_stream_client_error naming the source: IO (cannot connect at the
 * start without opts.wait, no hello within 10 s, a TLS handshake or
 * certificate check failed), INVALID (a server refused the hello: its
 * ERROR text), MALFORMED / UNSUPPORTED (a server spoke something else),
 * NOMEM.  A source that goes away without END is reconnected with backoff,
 * resuming after the last seq of each sensor it served. */
FLOE_WUR enum floe_err floe_stream_client_next(struct floe_stream_client *c,
                                               const struct floe_flow **recs, size_t *n,
                                               int64_t timeout);
const char *floe_stream_client_error(const struct floe_stream_client *c);
/* Index in opts.sources of the source of the last block. */
size_t floe_stream_client_source(const struct floe_stream_client *c);
/* The run id (hello session) of source i's server, 0 before it answered:
 * to keep with the last seq of its sensors for opts.resume_session. */
uint64_t floe_stream_client_session(const struct floe_stream_client *c, size_t i);
void floe_stream_client_stats(const struct floe_stream_client *c,
                              struct floe_stream_client_stats *st);
void floe_stream_client_destroy(struct floe_stream_client *c);

/* ---- helpers shared by servers, clients and the command line ---- */

/* Parses "[HOST:]PORT" (HOST may be "[v6]") into host and port; host
 * gets def_host when absent.  INVALID on a bad port or a host longer than
 * host_cap - 1. */
FLOE_WUR enum floe_err floe_stream_parse_addr(const char *text, const char *def_host, char *host,
                                              size_t host_cap, uint16_t *port,
                                              struct floe_errbuf *eb);
/* Reads a token file: its first line, without the line end.  INVALID if
 * empty or longer than FLOE_STREAM_TOKEN_MAX; IO.  Caller frees. */
char *floe_stream_read_token(const char *path, struct floe_errbuf *eb);

#endif
