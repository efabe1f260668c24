/*
 * cmd_collect.c - `floe collect`: NetFlow v5/v9 and IPFIX exports -> flow
 * records (collect/collect.h).
 *
 *   floe collect --listen udp://127.0.0.1:2055 [--listen udp://[::1]:4739]
 *                [-w FILE | --archive DIR --instance N --rotate 1h | -s ...]
 *   floe collect -r exports.pcap [-r more.pcap] [BPF-FILTER]
 *
 * Every socket takes every protocol: each datagram is recognised by its
 * first bytes.  -r replays export datagrams recorded in pcap files (in the
 * order given, so templates in one file decode data in the next), or RFC
 * 5655 IPFIX files.  Records go to the shared sink (sink.h).  Also here:
 * `floe read -r FILE.ipfix` (cli_read_ipfix).
 */
#include "cli.h"
#include "collect/collect.h"
#include "collect/sflow.h"
#include "filter/filter.h"
#include "sink.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char collect_help[] =
	"usage: floe collect --listen udp://HOST:PORT... | -r FILE... [options] [BPF-FILTER]\n"
	"\n"
	"Collects NetFlow v5, NetFlow v9, IPFIX and sFlow v5 exports into flow\n"
	"records.  Each datagram's protocol is recognised from its first bytes, so\n"
	"one port can take them all.\n"
	"\n"
	"  --listen URL     udp://127.0.0.1:2055, udp://[::1]:4739, udp://0.0.0.0:2055\n"
	"                   (repeatable); stops on SIGINT or SIGTERM\n"
	"  -r FILE...       export datagrams from pcap files, or RFC 5655 IPFIX files,\n"
	"                   read in order (templates in one decode data in the next);\n"
	"                   BPF-FILTER selects the packets of pcaps\n"
	"  -w FILE          write records as a floe file (\"-\": stdout); without -w or\n"
	"                   --archive the records are printed (-s, -o, -n, -u as for\n"
	"                   'floe read')\n"
	"  --archive DIR    write records into an archive (docs/archive.md), with\n"
	"  --instance NAME  its instance name (default floe) and\n"
	"  --rotate DUR     file period (default 1h)\n"
	"  --encoders N     threads compressing blocks for -w and --archive (default\n"
	"                   2 on two or more processors; each holds a block, 29 MB)\n"
	"  --sampling N     1-in-N sampling of exporters that do not say (default: none)\n"
	"  --template-timeout DUR  templates not refreshed this long expire (default 30m)\n"
	"  --max-templates N       templates per exporter source (default 1024)\n"
	"  --idle DUR       with --listen: stop after no datagram for this long\n"
	"  --rcvbuf BYTES   socket receive buffer (default 32M; past net.core.rmem_max\n"
	"                   only as root)\n"
	"  --ring BYTES     memory between the sockets and the decoder for bursts\n"
	"                   (default 64M; docs/collect.md \"Bursts\")\n"
	"  --stats          print per-exporter counters to stderr at the end\n"
	"  --listen [ADDR:]PORT  serve the records to stream subscribers (docs/stream.md)\n"
	"  --spool DIR --spool-max SIZE  with it: keep the blocks served in DIR (at most\n"
	"                   SIZE, default 1G) for subscribers that were away\n"
	"\n"
	"docs/collect.md: what is mapped from which element, sampling, times,\n"
	"templates and the counters.\n";

/*
 * Records go to the sink in a thread of their own when the sink does its
 * work in the caller (printing, IPFIX, serving, a writer without encoder
 * threads): that work then runs beside decoding.  The decoding thread
 * fills slots of WQ_RECS records; the writer empties them in order; when
 * every slot is full the decoder waits (and the ring takes the burst).  A
 * file or archive with encoder threads only copies each record into the
 * block being filled: the decoder does that itself (direct), the record
 * still in its cache, rather than copy it once more into a slot.
 */
#define WQ_SLOTS 8
#define WQ_RECS 8192

struct col_state {
	struct cli_sink sink;            /* the writer thread's, or emit's when direct */
	struct floe_filter *filter;
	uint64_t records;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct floe_flow *slot[WQ_SLOTS];
	size_t len[WQ_SLOTS];
	unsigned head, tail, count;      /* slot being filled, next to write, published */
	size_t fill;                     /* records in slot[head] (receiver's) */
	bool done, failed;               /* under mu */
	pthread_t th;
	bool running;
	bool direct;                     /* no writer thread: emit adds to the sink */
};

static void *writer_main(void *arg)
{
	struct col_state *st = arg;
	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (st->count == 0 && !st->done)
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->count == 0)
			break;
		unsigned t = st->tail;
		bool failed = st->failed;
		pthread_mutex_unlock(&st->mu);
		for (size_t i = 0; i < st->len[t] && !failed; i++)
			failed = cli_sink_add(&st->sink, &st->slot[t][i]) != FLOE_OK;
		pthread_mutex_lock(&st->mu);
		st->failed |= failed;
		st->tail = (t + 1) % WQ_SLOTS;
		st->count--;
		pthread_cond_broadcast(&st->cv);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* Opens the sink and starts the writer; EXIT_OK or EXIT_FAIL (printed). */
static int writer_start(struct col_state *st, const struct cli_opts *o)
{
	if (cli_sink_open(&st->sink, o) != EXIT_OK)
		return EXIT_FAIL;
	st->direct = (st->sink.ar || st->sink.w) && !st->sink.stream && cli_write_threads(o) > 0;
	if (st->direct) {
		st->running = true;
		return EXIT_OK;
	}
	st->slot[0] = malloc((size_t)WQ_SLOTS * WQ_RECS * sizeof(struct floe_flow));
	if (!st->slot[0]) {
		cli_error(o, "out of memory");
		cli_sink_abandon(&st->sink);
		return EXIT_FAIL;
	}
	for (unsigned i = 1; i < WQ_SLOTS; i++)
		st->slot[i] = st->slot[0] + (size_t)i * WQ_RECS;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	if (pthread_create(&st->th, NULL, writer_main, st) != 0) {
		cli_error(o, "cannot start the writing thread");
		pthread_cond_destroy(&st->cv);
		pthread_mutex_destroy(&st->mu);
		free(st->slot[0]);
		cli_sink_abandon(&st->sink);
		return EXIT_FAIL;
	}
	st->running = true;
	return EXIT_OK;
}

/* Hands the slot being filled to the writer; waits for a free one.
 * Returns false if the sink has failed. */
static bool writer_publish(struct col_state *st)
{
	pthread_mutex_lock(&st->mu);
	st->len[st->head] = st->fill;
	st->count++;
	st->head = (st->head + 1) % WQ_SLOTS;
	pthread_cond_broadcast(&st->cv);
	while (st->count >= WQ_SLOTS - 1 && !st->failed)
		pthread_cond_wait(&st->cv, &st->mu);
	bool ok = !st->failed;
	pthread_mutex_unlock(&st->mu);
	st->fill = 0;
	return ok;
}

/* Writes what is left, stops the writer and closes the sink (printing its
 * error).  discard: the command failed.  Returns EXIT_OK or EXIT_FAIL. */
static int writer_finish(struct col_state *st, const struct cli_opts *o, bool discard)
{
	if (!st->running)
		return EXIT_FAIL;
	st->running = false;
	if (st->direct)
		return cli_sink_close(&st->sink, o, discard);
	if (st->fill)
		(void)writer_publish(st);
	pthread_mutex_lock(&st->mu);
	st->done = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->th, NULL);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st->slot[0]);
	return cli_sink_close(&st->sink, o, discard);
}

static enum floe_err emit(void *ctx, const struct floe_flow *f)
{
	struct col_state *st = ctx;
	if (st->filter && !floe_filter_match(st->filter, f))
		return FLOE_OK;
	st->records++;
	if (st->direct)   /* a failure is reported when the sink closes */
		return cli_sink_add(&st->sink, f) == FLOE_OK ? FLOE_OK : FLOE_IO;
	st->slot[st->head][st->fill++] = *f;
	if (st->fill == WQ_RECS && !writer_publish(st))
		return FLOE_IO;   /* the writer reports the sink's error when it closes */
	return FLOE_OK;
}

/* set by the handler in whichever thread takes the signal, read by the
 * receiving thread (a lock-free atomic: safe in a handler) */
static atomic_int stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&stop_requested, 1, memory_order_relaxed);
}

static void addr_text(const uint8_t a[16], char *buf, size_t n)
{
	if (floe_addr_is_v4(a))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)n);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)n);
}

static void print_stats(struct floe_collector *c, uint64_t frames, uint64_t not_udp, double secs)
{
	struct floe_collect_stats s;
	floe_collect_stats(c, &s);
	if (frames)
		fprintf(stderr, "frames %" PRIu64 ", not export datagrams (not UDP, fragments) %" PRIu64 "\n",
		        frames, not_udp);
	fprintf(stderr,
	        "datagrams %" PRIu64 ": netflow5 %" PRIu64 ", netflow9 %" PRIu64 ", ipfix %" PRIu64
	        ", sflow %" PRIu64 ", unknown %" PRIu64 ", refused %" PRIu64 "\n",
	        s.datagrams, s.by_proto[FLOE_COLLECT_NF5], s.by_proto[FLOE_COLLECT_NF9],
	        s.by_proto[FLOE_COLLECT_IPFIX], s.by_proto[FLOE_COLLECT_SFLOW],
	        s.by_proto[FLOE_COLLECT_UNKNOWN], s.malformed);
	fprintf(stderr, "records %" PRIu64 ", exporter sources %" PRIu32 " (refused %" PRIu64
	        "), template memory %zu bytes\n", s.records, s.sources, s.sources_refused,
	        s.template_bytes);
	const struct floe_sflow_stats *sf = floe_collect_sflow_stats(c);
	if (sf->datagrams)
		fprintf(stderr,
		        "sflow: datagrams %" PRIu64 ", flow samples %" PRIu64 ", counter samples %" PRIu64
		        ", records %" PRIu64 ", lost datagrams %" PRIu64 ", lost samples %" PRIu64
		        ", agent drops %" PRIu64 ", malformed %" PRIu64 ", truncated %" PRIu64
		        ", unsupported %" PRIu64 ", agents %u, interfaces %u\n",
		        sf->datagrams, sf->flow_samples, sf->counter_samples, sf->records,
		        sf->lost_datagrams, sf->lost_samples, sf->agent_drops, sf->malformed,
		        sf->truncated, sf->unsupported, sf->n_agents, sf->n_ifs);
	if (secs > 0)
		fprintf(stderr, "elapsed %.3f s, %.0f records/s\n", secs, (double)s.records / secs);
	size_t n = floe_collect_sources(c, NULL, 0);
	struct floe_collect_source_stats *ss = calloc(n ? n : 1, sizeof(*ss));
	if (!ss)
		return;
	floe_collect_sources(c, ss, n);
	for (size_t i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];
		addr_text(ss[i].exporter, a, sizeof(a));
		fprintf(stderr,
		        "exporter %s %s domain %" PRIu32 ": datagrams %" PRIu64 ", records %" PRIu64
		        ", options %" PRIu64 ", sampled %" PRIu64 ", malformed %" PRIu64
		        ", no template %" PRIu64 ", templates %" PRIu64 " (now %" PRIu32 ", %zu bytes,"
		        " withdrawn %" PRIu64 ", expired %" PRIu64 ", refused %" PRIu64 ")"
		        ", restarts %" PRIu64 ", sequence lost %" PRIu64 ", reordered %" PRIu64
		        ", clock skewed %" PRIu64 " (max %.3f s)\n",
		        a, floe_collect_proto_name(ss[i].proto), ss[i].domain, ss[i].datagrams,
		        ss[i].records, ss[i].option_records, ss[i].sampled_records, ss[i].malformed,
		        ss[i].no_template, ss[i].templates, ss[i].template_count, ss[i].template_bytes,
		        ss[i].withdrawn, ss[i].expired, ss[i].template_refused, ss[i].restarts,
		        ss[i].seq_lost, ss[i].seq_reordered, ss[i].skewed, (double)ss[i].max_skew / 1e9);
	}
	free(ss);
}

/* True if the file starts like an IPFIX message (RFC 7011 section 3.1). */
static bool is_ipfix_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	uint8_t h[4];
	bool yes = fread(h, 1, 4, f) == 4 && h[0] == 0 && h[1] == 10 && (h[2] << 8 | h[3]) >= 16;
	fclose(f);
	return yes;
}

/* An RFC 5655 file: IPFIX messages back to back, each framed by its length,
 * read one message at a time (at most 64 KiB in memory).  Returns EXIT_OK,
 * EXIT_DAMAGED (a message was refused or the file ends inside one) or
 * EXIT_FAIL. */
static int read_ipfix_file(const struct cli_opts *o, struct floe_collector *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		cli_error(o, "cannot read '%s': %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	static uint8_t m[FLOE_IPFIX_MSG_MAX];
	static const uint8_t none[16];
	int rc = EXIT_OK;
	uint64_t off = 0;
	for (;;) {
		size_t mlen;
		int64_t t;
		enum floe_err e = floe_ipfix_file_next(f, m, &mlen, &t);
		if (e == FLOE_EOF || e == FLOE_IO)
			break;
		if (e == FLOE_MALFORMED) {
			cli_warn(o, "'%s': no IPFIX message at offset %" PRIu64, path, off);
			rc = EXIT_DAMAGED;
			break;
		}
		if (e == FLOE_TRUNCATED) {
			cli_warn(o, "'%s': the file ends inside the IPFIX message at offset %" PRIu64, path, off);
			rc = EXIT_DAMAGED;
			break;
		}
		e = floe_collect_input(c, m, mlen, none, t);
		if (e == FLOE_IO) {
			rc = EXIT_FAIL;   /* the sink failed */
			break;
		}
		if (e != FLOE_OK)
			rc = EXIT_DAMAGED;
		off += mlen;
	}
	if (ferror(f)) {
		cli_error(o, "cannot read '%s': read error", path);
		rc = EXIT_FAIL;
	}
	fclose(f);
	return rc;
}

/* Export datagrams from a pcap.  *frames and *not_udp count the frames. */
static int read_pcap(const struct cli_opts *o, struct floe_collector *c, const char *path,
                     uint64_t *frames, uint64_t *not_udp)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc) {
		cli_error(o, "cannot read '%s': %s", path, errbuf);
		return EXIT_FAIL;
	}
	if (o->filter) {
		struct bpf_program prog;
		if (pcap_compile(pc, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
		    pcap_setfilter(pc, &prog) != 0) {
			cli_error(o, "bad filter '%s': %s", o->filter, pcap_geterr(pc));
			pcap_close(pc);
			return EXIT_USAGE;
		}
		pcap_freecode(&prog);
	}
	int linktype = pcap_datalink(pc);
	int rc = EXIT_OK;
	struct pcap_pkthdr *h;
	const u_char *bytes;
	int prc;
	while ((prc = pcap_next_ex(pc, &h, &bytes)) == 1) {
		(*frames)++;
		const uint8_t *pl;
		size_t plen;
		uint8_t src[16];
		uint16_t sport, dport;
		if (floe_collect_udp_payload(linktype, bytes, h->caplen, &pl, &plen, src, &sport,
		                             &dport) != FLOE_OK) {
			(*not_udp)++;
			continue;
		}
		int64_t ts = (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec;  /* nano precision */
		enum floe_err e = floe_collect_input(c, pl, plen, src, ts);
		if (e != FLOE_OK && !(e == FLOE_MALFORMED || e == FLOE_TRUNCATED ||
		                      e == FLOE_UNSUPPORTED || e == FLOE_LIMIT)) {
			rc = EXIT_FAIL;
			break;
		}
	}
	if (prc == PCAP_ERROR) {
		cli_error(o, "cannot read '%s' past packet %" PRIu64 ": %s", path, *frames, pcap_geterr(pc));
		rc = EXIT_FAIL;
	}
	pcap_close(pc);
	return rc;
}

/* Parses udp://HOST:PORT (IPv6 in brackets) into a bound socket; -1 with a
 * message printed on failure. */
static int open_listener(const struct cli_opts *o, const char *url, int rcvbuf)
{
	if (strncmp(url, "udp://", 6) != 0) {
		cli_error(o, "bad --listen '%s': give udp://HOST:PORT", url);
		return -1;
	}
	const char *h = url + 6;
	char host[64];
	const char *port;
	if (*h == '[') {
		const char *e = strchr(h, ']');
		if (!e || e[1] != ':' || (size_t)(e - h - 1) >= sizeof(host)) {
			cli_error(o, "bad --listen '%s': give udp://[ADDR]:PORT", url);
			return -1;
		}
		memcpy(host, h + 1, (size_t)(e - h - 1));
		host[e - h - 1] = '\0';
		port = e + 2;
	} else {
		const char *e = strrchr(h, ':');
		if (!e || (size_t)(e - h) >= sizeof(host)) {
			cli_error(o, "bad --listen '%s': give udp://HOST:PORT", url);
			return -1;
		}
		memcpy(host, h, (size_t)(e - h));
		host[e - h] = '\0';
		port = e + 1;
	}
	char *end;
	long pn = strtol(port, &end, 10);
	if (*port == '\0' || *end || pn < 0 || pn > 65535) {
		cli_error(o, "bad --listen '%s': port must be 0..65535", url);
		return -1;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	int fam;
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		fam = AF_INET;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)pn);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		fam = AF_INET6;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)pn);
		sl = sizeof(*s6);
	} else {
		cli_error(o, "bad --listen '%s': '%s' is not an IPv4 or IPv6 address", url, host);
		return -1;
	}
	int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cli_error(o, "cannot listen on '%s': %s", url, strerror(errno));
		return -1;
	}
	if (fam == AF_INET6) {
		int one = 1;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	/* a deep receive queue rides out bursts while a block is compressed */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));  /* up to rmem_max */
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
		cli_error(o, "cannot listen on '%s': %s", url, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

#define MAX_LISTEN 16
#define BATCH 64
#define DGRAM_MAX 65536

/*
 * Datagrams pass from the sockets to the decoder through a ring in memory
 * (--ring bytes): a thread of their own empties the sockets into it, so a
 * burst that the decoder and the encoders cannot keep up with waits in the
 * ring rather than overflowing a socket buffer that net.core.rmem_max caps
 * (docs/collect.md "Bursts").  Each entry is a struct ring_hdr and the
 * datagram, padded to 8 bytes; an entry never wraps: the bytes left at the
 * end are skipped (a header with len RING_SKIP marks them when it fits).
 * One thread puts, one takes; tail and used change under mu.
 */
struct ring_hdr {
	uint32_t len;
	uint32_t pad;
	int64_t rx_ns;
	uint8_t exporter[16];
};
#define RING_SKIP UINT32_MAX
/* The taker, woken by a first entry, waits up to RING_LINGER_NS for
 * RING_WAKE bytes before it decodes: a thread woken for every batch of a
 * few datagrams costs more than decoding them. */
#define RING_WAKE (32u << 10)
#define RING_LINGER_NS 5000000

struct ring {
	uint8_t *buf;
	size_t cap, tail, used;   /* the putter keeps its own head */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;          /* no more entries will come */
	bool failed;        /* the taker stopped (the sink failed) */
	int taker_waits;    /* 1: for any entry, 2: for RING_WAKE bytes */
	size_t peak;        /* the most bytes ever in it */
	uint64_t full_waits;
};

static size_t ring_entry(size_t len)
{
	return sizeof(struct ring_hdr) + ((len + 7) & ~(size_t)7);
}

/* Publishes the put bytes written since the last call; wakes the taker when
 * it waits for that much, or always with force. */
static void ring_publish(struct ring *r, size_t put, bool force)
{
	pthread_mutex_lock(&r->mu);
	r->used += put;
	if (r->used > r->peak)
		r->peak = r->used;
	if (force || (r->taker_waits == 1 && r->used) || (r->taker_waits == 2 && r->used >= RING_WAKE))
		pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Puts one datagram; waits while the ring is full.  *head and *put carry
 * the putter's position and its unpublished bytes; *room is the free space
 * it last saw.  False when the taker has stopped. */
static bool ring_put(struct ring *r, size_t *head, size_t *put, size_t *room,
                     const uint8_t *d, uint32_t len, int64_t rx, const uint8_t ex[16])
{
	size_t need = ring_entry(len);
	size_t skip = r->cap - *head < need ? r->cap - *head : 0;
	while (*room < skip + need) {
		ring_publish(r, *put, true);
		*put = 0;
		pthread_mutex_lock(&r->mu);
		if (r->cap - r->used < skip + need && !r->failed)
			r->full_waits++;
		while (r->cap - r->used < skip + need && !r->failed)
			pthread_cond_wait(&r->cv, &r->mu);
		*room = r->cap - r->used;
		bool failed = r->failed;
		pthread_mutex_unlock(&r->mu);
		if (failed)
			return false;
	}
	if (skip) {
		if (skip >= sizeof(struct ring_hdr))
			((struct ring_hdr *)(r->buf + *head))->len = RING_SKIP;
		*head = 0;
	}
	struct ring_hdr *h = (struct ring_hdr *)(r->buf + *head);
	h->len = len;
	h->rx_ns = rx;
	memcpy(h->exporter, ex, 16);
	memcpy(h + 1, d, len);
	*head = (*head + need) % r->cap;
	*put += skip + need;
	*room -= skip + need;
	return true;
}

/* Decodes what is in the ring until the putter is done and the ring is
 * empty.  Returns EXIT_OK, or EXIT_FAIL if the sink failed. */
static int ring_take(struct ring *r, struct floe_collector *c)
{
	for (;;) {
		pthread_mutex_lock(&r->mu);
		r->taker_waits = 1;
		while (r->used == 0 && !r->done)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->used < RING_WAKE && !r->done) {
			struct timespec until = floe_clock_after(CLOCK_MONOTONIC, RING_LINGER_NS);
			r->taker_waits = 2;
			while (r->used < RING_WAKE && !r->done)
				if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
					break;
		}
		r->taker_waits = 0;
		size_t avail = r->used, pos = r->tail;
		pthread_mutex_unlock(&r->mu);
		if (avail == 0)
			return EXIT_OK;
		size_t took = 0;
		enum floe_err e = FLOE_OK;
		while (took < avail && e != FLOE_IO) {
			const struct ring_hdr *h = (const struct ring_hdr *)(r->buf + pos);
			if (r->cap - pos < sizeof(*h) || h->len == RING_SKIP) {
				took += r->cap - pos;
				pos = 0;
				continue;
			}
			e = floe_collect_input(c, (const uint8_t *)(h + 1), h->len, h->exporter, h->rx_ns);
			took += ring_entry(h->len);
			pos = (pos + ring_entry(h->len)) % r->cap;
		}
		pthread_mutex_lock(&r->mu);
		r->tail = pos;
		r->used -= took;
		if (e == FLOE_IO)
			r->failed = true;   /* the sink failed (emit): reported when it closes */
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (e == FLOE_IO)
			return EXIT_FAIL;
	}
}

struct rx {
	struct ring *ring;
	size_t head, put, room;
	uint8_t *bufs;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage from[BATCH];
};

/* Receives what is queued on fd into the ring, in batches, until it is
 * empty or, with until > 0, that monotonic time passes; with until == 0,
 * at most 256 batches, so a steady stream still lets the caller see
 * signals.  Returns the number of datagrams, or -1 if the taker stopped. */
static long drain(int fd, struct rx *r, int64_t until)
{
	long total = 0;
	for (int batches = 1;; batches++) {
		for (int k = 0; k < BATCH; k++) {
			r->iov[k] = (struct iovec){r->bufs + (size_t)k * DGRAM_MAX, DGRAM_MAX};
			r->msgs[k].msg_hdr = (struct msghdr){.msg_name = &r->from[k],
			                                     .msg_namelen = sizeof(r->from[k]),
			                                     .msg_iov = &r->iov[k], .msg_iovlen = 1};
		}
		int got = recvmmsg(fd, r->msgs, BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return total;
		int64_t rx = floe_clock_ns(CLOCK_REALTIME);
		for (int k = 0; k < got; k++) {
			uint8_t ex[16] = {0};
			if (r->from[k].ss_family == AF_INET)
				floe_addr_from_v4(ex, (const uint8_t *)&((struct sockaddr_in *)&r->from[k])->sin_addr);
			else if (r->from[k].ss_family == AF_INET6)
				memcpy(ex, &((struct sockaddr_in6 *)&r->from[k])->sin6_addr, 16);
			if (!ring_put(r->ring, &r->head, &r->put, &r->room, r->iov[k].iov_base,
			              r->msgs[k].msg_len, rx, ex))
				return -1;
		}
		ring_publish(r->ring, r->put, false);
		r->put = 0;
		total += got;
		if (got < BATCH || (until > 0 && floe_clock_ns(CLOCK_MONOTONIC) > until) ||
		    (until == 0 && batches >= 256))
			return total;
	}
}

struct listen_args {
	const struct cli_opts *o;
	const int *fds;
	size_t nfds;
	int64_t idle;
	struct ring *ring;
	int rc;
};

/* The receiving thread: sockets into the ring until a signal or --idle
 * (la->rc: EXIT_OK or EXIT_FAIL); then the ring is done. */
static void *listen_main(void *arg)
{
	struct listen_args *la = arg;
	struct pollfd pfd[MAX_LISTEN];
	for (size_t i = 0; i < la->nfds; i++)
		pfd[i] = (struct pollfd){.fd = la->fds[i], .events = POLLIN};
	struct rx r = {.ring = la->ring, .room = la->ring->cap};
	r.bufs = malloc((size_t)BATCH * DGRAM_MAX);
	if (!r.bufs) {
		cli_error(la->o, "out of memory");
		la->rc = EXIT_FAIL;
	}
	int64_t last_rx = floe_clock_ns(CLOCK_MONOTONIC);
	while (r.bufs && !atomic_load_explicit(&stop_requested, memory_order_relaxed) &&
	       la->rc == EXIT_OK) {
		int n = poll(pfd, (nfds_t)la->nfds, 200);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cli_error(la->o, "poll: %s", strerror(errno));
			la->rc = EXIT_FAIL;
			break;
		}
		pthread_mutex_lock(&la->ring->mu);
		bool failed = la->ring->failed;   /* the decoder stopped: the sink failed */
		pthread_mutex_unlock(&la->ring->mu);
		if (failed) {
			la->rc = EXIT_FAIL;
			break;
		}
		if (n == 0) {
			if (la->idle > 0 && floe_clock_ns(CLOCK_MONOTONIC) - last_rx >= la->idle)
				break;
			continue;
		}
		for (size_t i = 0; i < la->nfds && la->rc == EXIT_OK; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (drain(pfd[i].fd, &r, 0) < 0)
				la->rc = EXIT_FAIL;   /* the sink failed; reported when it closes */
			last_rx = floe_clock_ns(CLOCK_MONOTONIC);
		}
	}
	/* Datagrams already queued when the signal came are collected too,
	 * for at most a second: a restart loses only what was never sent. */
	if (atomic_load_explicit(&stop_requested, memory_order_relaxed) && la->rc == EXIT_OK)
		for (size_t i = 0; i < la->nfds && la->rc == EXIT_OK; i++)
			if (drain(la->fds[i], &r, floe_clock_ns(CLOCK_MONOTONIC) + 1000000000LL) < 0)
				la->rc = EXIT_FAIL;
	free(r.bufs);
	pthread_mutex_lock(&la->ring->mu);
	la->ring->done = true;
	pthread_cond_broadcast(&la->ring->cv);
	pthread_mutex_unlock(&la->ring->mu);
	return NULL;
}

/* Receives until a signal or --idle, through a ring of ring_bytes;
 * returns EXIT_OK or EXIT_FAIL. */
static int listen_loop(const struct cli_opts *o, struct floe_collector *c, const int *fds,
                       size_t nfds, int64_t idle, size_t ring_bytes, bool stats)
{
	struct ring ring = {.cap = ring_bytes};
	ring.buf = malloc(ring_bytes);
	if (!ring.buf) {
		cli_error(o, "out of memory for a %zu-byte ring", ring_bytes);
		return EXIT_FAIL;
	}
	pthread_mutex_init(&ring.mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ring.cv, &ca);
	pthread_condattr_destroy(&ca);
	struct listen_args la = {.o = o, .fds = fds, .nfds = nfds, .idle = idle, .ring = &ring};
	pthread_t th;
	int rc;
	if (pthread_create(&th, NULL, listen_main, &la) != 0) {
		cli_error(o, "cannot start the receiving thread");
		rc = EXIT_FAIL;
	} else {
		rc = ring_take(&ring, c);
		pthread_join(th, NULL);
		if (la.rc != EXIT_OK)
			rc = la.rc;
	}
	if (stats)
		fprintf(stderr, "ring %zu bytes: peak %zu, full %" PRIu64 " times\n", ring.cap, ring.peak,
		        ring.full_waits);
	pthread_cond_destroy(&ring.cv);
	pthread_mutex_destroy(&ring.mu);
	free(ring.buf);
	return rc;
}

/* Takes collect's own options out of argv (the rest goes to cli_parse). */
struct col_opts {
	const char *listen[MAX_LISTEN];
	size_t nlisten;
	struct floe_collect_config cfg;
	int64_t idle;
	int rcvbuf;
	size_t ring;
};

static int take_opts(struct cli_opts *o, struct col_opts *co, int *argc, char **argv)
{
	int out = 0;
	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < *argc ? argv[i + 1] : NULL;
		/* --listen udp://... is the collector's; --listen [ADDR:]PORT serves
		 * the records to stream subscribers (cli.c) */
		bool ours = (strcmp(a, "--listen") == 0 && next && strncmp(next, "udp://", 6) == 0) ||
		            strcmp(a, "--sampling") == 0 ||
		            strcmp(a, "--template-timeout") == 0 || strcmp(a, "--max-templates") == 0 ||
		            strcmp(a, "--idle") == 0 || strcmp(a, "--rcvbuf") == 0 ||
		            strcmp(a, "--ring") == 0;
		if (!ours) {
			argv[out++] = argv[i];
			continue;
		}
		if (!next) {
			cli_error(o, "%s needs an argument", a);
			return EXIT_USAGE;
		}
		i++;
		uint64_t v;
		if (strcmp(a, "--listen") == 0) {
			if (co->nlisten == MAX_LISTEN) {
				cli_error(o, "at most %d --listen", MAX_LISTEN);
				return EXIT_USAGE;
			}
			co->listen[co->nlisten++] = next;
		} else if (strcmp(a, "--sampling") == 0) {
			if (!cli_parse_count(next, &v) || v > UINT32_MAX) {
				cli_error(o, "bad --sampling '%s': give N of 1-in-N", next);
				return EXIT_USAGE;
			}
			co->cfg.sampling = (uint32_t)v;
		} else if (strcmp(a, "--rcvbuf") == 0) {
			if (!cli_parse_count(next, &v) || v < 4096 || v > (1u << 30)) {
				cli_error(o, "bad --rcvbuf '%s': 4k to 1G bytes", next);
				return EXIT_USAGE;
			}
			co->rcvbuf = (int)v;
		} else if (strcmp(a, "--ring") == 0) {
			if (!cli_parse_size(next, &v) || v < 2 * (DGRAM_MAX + 64) || v > (1ull << 34)) {
				cli_error(o, "bad --ring '%s': 132K to 16G bytes", next);
				return EXIT_USAGE;
			}
			co->ring = (size_t)v;
		} else if (strcmp(a, "--max-templates") == 0) {
			if (!cli_parse_count(next, &v) || v == 0 || v > 65536) {
				cli_error(o, "bad --max-templates '%s'", next);
				return EXIT_USAGE;
			}
			co->cfg.max_templates = (uint32_t)v;
		} else {
			int64_t d;
			if (!cli_parse_duration(next, &d) || d <= 0) {
				cli_error(o, "bad %s '%s': give a duration (30s, 5m)", a, next);
				return EXIT_USAGE;
			}
			if (strcmp(a, "--idle") == 0)
				co->idle = d;
			else
				co->cfg.template_timeout = d;
		}
	}
	*argc = out;
	return EXIT_OK;
}

int cmd_collect(int argc, char **argv)
{
	struct cli_opts o = {.cmd = "collect"};
	struct col_opts co = {.rcvbuf = 32 << 20, .ring = 64 << 20};
	floe_collect_config_default(&co.cfg);
	co.cfg.log = cli_log();
	int rc = take_opts(&o, &co, &argc, argv);
	if (rc != EXIT_OK)
		return rc;
	if (!cli_begin(&o, OPT_READ | OPT_WRITE | OPT_PRINT | OPT_ARCHIVE | OPT_LISTEN, argc, argv,
	               collect_help, &rc))
		return rc;
	/* two encoders: a block is compressed while the one before still is,
	 * so a burst does not wait on one slow block (docs/collect.md) */
	if (!o.encoders_given && sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		o.encoders = 2;
		o.encoders_given = true;
	}
	if ((o.nrfiles == 0) == (co.nlisten == 0)) {
		cli_error(&o, o.nrfiles ? "give -r FILE or --listen, not both" :
		          "no input: give --listen udp://HOST:PORT or -r FILE (try 'floe collect --help')");
		cli_opts_release(&o);
		return EXIT_USAGE;
	}
	int fds[MAX_LISTEN];
	size_t nfds = 0;
	for (size_t i = 0; i < co.nlisten; i++) {
		int fd = open_listener(&o, co.listen[i], co.rcvbuf);
		if (fd < 0) {
			for (size_t k = 0; k < nfds; k++)
				close(fds[k]);
			cli_opts_release(&o);
			return EXIT_FAIL;
		}
		fds[nfds++] = fd;
	}
	struct col_state st = {0};
	if (writer_start(&st, &o) != EXIT_OK) {
		for (size_t k = 0; k < nfds; k++)
			close(fds[k]);
		cli_opts_release(&o);
		return EXIT_FAIL;
	}
	enum floe_err err = FLOE_OK;
	struct floe_collector *c = floe_collect_create(&co.cfg, emit, &st, &err);
	if (!c) {
		cli_error(&o, "cannot create the collector: %s", floe_strerror(err));
		(void)writer_finish(&st, &o, true);
		for (size_t k = 0; k < nfds; k++)
			close(fds[k]);
		cli_opts_release(&o);
		return EXIT_FAIL;
	}
	int64_t t0 = floe_clock_ns(CLOCK_MONOTONIC);
	uint64_t frames = 0, not_udp = 0;
	if (nfds) {
		struct sigaction sa = {0};
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		rc = listen_loop(&o, c, fds, nfds, co.idle, co.ring, o.stats);
		for (size_t k = 0; k < nfds; k++)
			close(fds[k]);
	} else {
		for (size_t i = 0; i < o.nrfiles && (rc == EXIT_OK || rc == EXIT_DAMAGED); i++) {
			int r = is_ipfix_file(o.rfiles[i]) ? read_ipfix_file(&o, c, o.rfiles[i])
			                                   : read_pcap(&o, c, o.rfiles[i], &frames, &not_udp);
			if (r != EXIT_OK)
				rc = r;
		}
	}
	if (writer_finish(&st, &o, rc == EXIT_FAIL || rc == EXIT_USAGE) != EXIT_OK)
		rc = EXIT_FAIL;
	if (o.stats)
		print_stats(c, frames, not_udp, (double)(floe_clock_ns(CLOCK_MONOTONIC) - t0) / 1e9);
	floe_collect_destroy(c);
	cli_opts_release(&o);
	return rc;
}

int cli_read_ipfix(struct cli_opts *o, struct floe_filter *filter)
{
	struct col_state st = {.filter = filter};
	if (writer_start(&st, o) != EXIT_OK)
		return EXIT_FAIL;
	enum floe_err err = FLOE_OK;
	struct floe_collector *c = floe_collect_create(NULL, emit, &st, &err);
	if (!c) {
		cli_error(o, "cannot create the collector: %s", floe_strerror(err));
		(void)writer_finish(&st, o, true);
		return EXIT_FAIL;
	}
	int rc = EXIT_OK;
	for (size_t i = 0; i < o->nrfiles && rc != EXIT_FAIL; i++) {
		int r = read_ipfix_file(o, c, o->rfiles[i]);
		if (r != EXIT_OK)
			rc = r;
	}
	if (writer_finish(&st, o, rc == EXIT_FAIL) != EXIT_OK)
		rc = EXIT_FAIL;
	if (o->stats)
		print_stats(c, 0, 0, 0);
	floe_collect_destroy(c);
	return rc;
}

bool cli_is_ipfix_file(const char *path)
{
	return strcmp(path, "-") != 0 && is_ipfix_file(path);
}
