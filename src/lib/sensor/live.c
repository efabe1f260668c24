/*
 * live.c - live capture: libpcap sockets, kernel fanout, capture threads,
 * the two-interface merge, the record queue, drop counts, privilege drop.
 *
 * Threads: each capture thread owns its sockets (one per interface), its
 * meter and its counters; it polls its sockets, reads them non-blocking
 * and passes its records in batches to the queue under lv->mu.  The
 * thread calling floe_live_run only empties the queue into the sink and
 * keeps time (duration, drop reports).  pcap_stats runs on the thread
 * that owns the socket, which publishes the counts under lv->mu.
 */
#include "sensor/live.h"
#include "util/clock.h"
#include "util/mem.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256                /* records a thread passes at once */
#define QUEUE_RECORDS 8192       /* the bounded queue to the sink */
#define DISPATCH 1024            /* packets read from a socket at once */
#define TICK_NS (INT64_C(100) * 1000000)
#define PCAPSTATS_NS (INT64_C(1000) * 1000000)
#define DRAIN_NS (INT64_C(300) * 1000000)  /* after a stop: blocks the kernel holds */
#define SEC INT64_C(1000000000)

struct lthread;

/* One socket: the callback's user data. */
struct lsock {
	struct lthread *t;
	pcap_t *pc;
	int linktype;
	bool nano;
	struct pcap_stat ps;     /* published under lv->mu */
};

struct hent {
	struct floe_pkt p;
	uint64_t seq;            /* arrival order, for equal timestamps */
};

struct lthread {
	struct floe_live *lv;
	unsigned id;
	struct lsock s[FLOE_LIVE_MAX_IFACES];
	struct floe_meter *m;
	pthread_t tid;
	bool started;
	struct floe_flow batch[BATCH];
	size_t nbatch;
	uint64_t packets;
	uint64_t reasons[FLOE_DEC__COUNT];
	struct hent *heap;       /* merge of two interfaces; NULL with one */
	size_t nheap;
	uint64_t seq;
	uint64_t merge_early;
	uint64_t sink_waits;
	struct floe_errbuf eb;   /* this thread's failure */
};

struct floe_live {
	struct floe_live_config cfg;
	unsigned nthreads;
	struct lthread *th;
	atomic_int stop;
	atomic_uint_least64_t taken;  /* packets counted against cfg.count */
	pthread_mutex_t mu;
	pthread_cond_t nonempty, nonfull;
	struct floe_flow *q;     /* ring of QUEUE_RECORDS records */
	size_t qhead, qlen;
	unsigned running;        /* capture threads not finished */
	bool ran;
};

void floe_live_config_default(struct floe_live_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	floe_meter_config_default(&cfg->meter);
}

/* ---- the record queue -------------------------------------------------------- */

/* Passes the thread's batch to the queue, waiting while it is full. */
static void push_batch(struct lthread *t)
{
	struct floe_live *lv = t->lv;
	size_t done = 0;
	if (!t->nbatch)
		return;
	pthread_mutex_lock(&lv->mu);
	while (done < t->nbatch) {
		if (lv->qlen == QUEUE_RECORDS) {
			t->sink_waits++;
			pthread_cond_wait(&lv->nonfull, &lv->mu);
			continue;
		}
		while (done < t->nbatch && lv->qlen < QUEUE_RECORDS) {
			lv->q[(lv->qhead + lv->qlen) % QUEUE_RECORDS] = t->batch[done++];
			lv->qlen++;
		}
		pthread_cond_signal(&lv->nonempty);
	}
	pthread_mutex_unlock(&lv->mu);
	t->nbatch = 0;
}

static void on_record(void *ud, const struct floe_flow *f)
{
	struct lthread *t = ud;
	t->batch[t->nbatch++] = *f;
	if (t->nbatch == BATCH)
		push_batch(t);
}

/* ---- the two-interface merge: a min-heap on (ts, seq) ------------------------ */

static bool hent_less(const struct hent *a, const struct hent *b)
{
	return a->p.ts < b->p.ts || (a->p.ts == b->p.ts && a->seq < b->seq);
}

static void heap_pop_meter(struct lthread *t)
{
	struct hent *h = t->heap;
	floe_meter_add(t->m, &h[0].p);
	size_t n = --t->nheap, i = 0;
	if (!n)
		return;
	struct hent last = h[n];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && hent_less(&h[c + 1], &h[c]))
			c++;
		if (!hent_less(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = last;
}

static void heap_push(struct lthread *t, const struct floe_pkt *p)
{
	if (t->nheap == FLOE_LIVE_HEAP) {
		t->merge_early++;
		heap_pop_meter(t);
	}
	struct hent *h = t->heap;
	struct hent e = {.p = *p, .seq = t->seq++};
	size_t i = t->nheap++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!hent_less(&e, &h[up]))
			break;
		h[i] = h[up];
		i = up;
	}
	h[i] = e;
}

/* Meters the held packets older than until (INT64_MAX: all of them). */
static void heap_release(struct lthread *t, int64_t until)
{
	while (t->nheap && t->heap[0].p.ts <= until)
		heap_pop_meter(t);
}

/* ---- capture threads ------------------------------------------------------------- */

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct lsock *s = (struct lsock *)user;
	struct lthread *t = s->t;
	struct floe_live *lv = t->lv;
	if (lv->cfg.count) {
		uint64_t n = atomic_fetch_add(&lv->taken, 1);
		if (n + 1 >= lv->cfg.count)
			atomic_store(&lv->stop, 1);
		if (n >= lv->cfg.count) {
			pcap_breakloop(s->pc);
			return;
		}
	}
	t->packets++;
	int64_t ts = (int64_t)h->ts.tv_sec * SEC + (int64_t)h->ts.tv_usec * (s->nano ? 1 : 1000);
	struct floe_pkt pkt;
	enum floe_dec_result r = floe_decode(&pkt, s->linktype, bytes, h->caplen, h->len, ts);
	if (r != FLOE_DEC_OK) {
		t->reasons[r]++;
		return;
	}
	if (t->heap)
		heap_push(t, &pkt);
	else
		floe_meter_add(t->m, &pkt);
}

static void publish_pcap_stats(struct lthread *t)
{
	struct floe_live *lv = t->lv;
	for (unsigned k = 0; k < lv->cfg.nifaces; k++) {
		struct pcap_stat ps;
		if (pcap_stats(t->s[k].pc, &ps) != 0)
			continue;
		pthread_mutex_lock(&lv->mu);
		t->s[k].ps = ps;
		pthread_mutex_unlock(&lv->mu);
	}
}

/* Reads every socket once; returns the packets read, or -1 (t->eb set). */
static long read_sockets(struct lthread *t)
{
	long got = 0;
	for (unsigned k = 0; k < t->lv->cfg.nifaces; k++) {
		int r = pcap_dispatch(t->s[k].pc, DISPATCH, on_packet, (u_char *)&t->s[k]);
		if (r == PCAP_ERROR_BREAK)
			continue;   /* the count was reached */
		if (r < 0) {
			floe_errbuf_set(&t->eb, FLOE_IO, "cannot capture on '%s': %s",
			                t->lv->cfg.ifaces[k], pcap_geterr(t->s[k].pc));
			return -1;
		}
		got += r;
	}
	return got;
}

static void *capture_thread(void *arg)
{
	struct lthread *t = arg;
	struct floe_live *lv = t->lv;
	struct pollfd pfd[FLOE_LIVE_MAX_IFACES];
	for (unsigned k = 0; k < lv->cfg.nifaces; k++) {
		pfd[k].fd = pcap_get_selectable_fd(t->s[k].pc);
		pfd[k].events = POLLIN;
	}
	int64_t last_tick = 0, next_stats = 0, drain_until = 0;
	for (;;) {
		int64_t mono = floe_clock_ns(CLOCK_MONOTONIC);
		if (!drain_until && atomic_load(&lv->stop)) {
			bool counted = lv->cfg.count && atomic_load(&lv->taken) >= lv->cfg.count;
			drain_until = mono + (counted ? 0 : DRAIN_NS);
		}
		if (drain_until && mono >= drain_until)
			break;
		if (poll(pfd, lv->cfg.nifaces, drain_until ? 20 : FLOE_LIVE_TIMEOUT_MS) < 0 &&
		    errno != EINTR) {
			floe_errbuf_set(&t->eb, FLOE_IO, "cannot capture: poll: %s",
			                strerror(errno));
			break;
		}
		long got = read_sockets(t);
		if (got < 0)
			break;
		int64_t wall = floe_clock_ns(CLOCK_REALTIME);
		if (t->heap)
			heap_release(t, wall - FLOE_LIVE_HOLD_NS);
		mono = floe_clock_ns(CLOCK_MONOTONIC);
		/* The rings are empty: no packet older than the lag is still
		 * on its way, so the wall clock can expire idle flows. */
		if (got == 0 && mono - last_tick >= TICK_NS) {
			floe_meter_tick(t->m, wall - FLOE_LIVE_LAG_NS);
			last_tick = mono;
		}
		push_batch(t);
		if (mono >= next_stats) {
			publish_pcap_stats(t);
			next_stats = mono + PCAPSTATS_NS;
		}
	}
	if (t->eb.code != FLOE_OK)
		atomic_store(&lv->stop, 1);   /* one socket failed: all stop */
	if (t->heap)
		heap_release(t, INT64_MAX);
	floe_meter_flush(t->m);
	push_batch(t);
	publish_pcap_stats(t);
	pthread_mutex_lock(&lv->mu);
	lv->running--;
	pthread_cond_signal(&lv->nonempty);
	pthread_mutex_unlock(&lv->mu);
	return NULL;
}

/* ---- opening ------------------------------------------------------------------------ */

static enum floe_err open_socket(struct floe_live *lv, struct lthread *t, unsigned k,
                                 uint64_t buffer, struct floe_errbuf *eb)
{
	const struct floe_live_config *c = &lv->cfg;
	const char *ifc = c->ifaces[k];
	struct lsock *s = &t->s[k];
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	s->t = t;
	s->pc = pcap_create(ifc, errbuf);
	if (!s->pc)
		return floe_errbuf_set(eb, FLOE_IO, "cannot capture on '%s': %s", ifc, errbuf);
	if (pcap_set_snaplen(s->pc, c->snaplen) != 0 || pcap_set_promisc(s->pc, 1) != 0 ||
	    pcap_set_timeout(s->pc, FLOE_LIVE_TIMEOUT_MS) != 0 ||
	    pcap_set_buffer_size(s->pc, buffer > INT32_MAX ? INT32_MAX : (int)buffer) != 0 ||
	    pcap_set_immediate_mode(s->pc, 0) != 0)
		return floe_errbuf_set(eb, FLOE_IO, "cannot capture on '%s': %s", ifc,
		                       pcap_geterr(s->pc));
	s->nano = pcap_set_tstamp_precision(s->pc, PCAP_TSTAMP_PRECISION_NANO) == 0;
	int rc = pcap_activate(s->pc);
	if (rc < 0) {
		const char *why = pcap_geterr(s->pc);
		if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
			return floe_errbuf_set(eb, FLOE_IO,
			                       "cannot capture on '%s': no such interface", ifc);
		if (rc == PCAP_ERROR_PERM_DENIED)
			return floe_errbuf_set(eb, FLOE_IO,
			                       "cannot capture on '%s': permission denied "
			                       "(capturing needs root or CAP_NET_RAW)%s%s",
			                       ifc, *why ? ": " : "", why);
		return floe_errbuf_set(eb, FLOE_IO, "cannot capture on '%s': %s", ifc,
		                       *why ? why : pcap_statustostr(rc));
	}
	if (rc > 0 && t->id == 0)
		floe_logf(c->log, FLOE_LOG_WARN, "capturing on '%s': %s", ifc,
		          rc == PCAP_WARNING ? pcap_geterr(s->pc) : pcap_statustostr(rc));
	if (s->nano)
		s->nano = pcap_get_tstamp_precision(s->pc) == PCAP_TSTAMP_PRECISION_NANO;
	s->linktype = pcap_datalink(s->pc);
	if (!floe_decode_linktype_ok(s->linktype)) {
		const char *nm = pcap_datalink_val_to_name(s->linktype);
		return floe_errbuf_set(eb, FLOE_UNSUPPORTED,
		                       "cannot capture on '%s': link type %s (%d) is not supported",
		                       ifc, nm ? nm : "unknown", s->linktype);
	}
	if (c->filter) {
		bpf_u_int32 net = 0, mask = PCAP_NETMASK_UNKNOWN;
		if (pcap_lookupnet(ifc, &net, &mask, errbuf) != 0)
			mask = PCAP_NETMASK_UNKNOWN;
		struct bpf_program prog;
		if (pcap_compile(s->pc, &prog, c->filter, 1, mask) != 0)
			return floe_errbuf_set(eb, FLOE_INVALID, "bad filter '%s': %s", c->filter,
			                       pcap_geterr(s->pc));
		rc = pcap_setfilter(s->pc, &prog);
		pcap_freecode(&prog);
		if (rc != 0)
			return floe_errbuf_set(eb, FLOE_IO, "cannot set the filter on '%s': %s",
			                       ifc, pcap_geterr(s->pc));
	}
	if (pcap_setnonblock(s->pc, 1, errbuf) != 0)
		return floe_errbuf_set(eb, FLOE_IO, "cannot capture on '%s': %s", ifc, errbuf);
	return FLOE_OK;
}

/* Joins thread t's socket on interface k to the interface's fanout group:
 * the first thread's socket creates a group with an id the kernel makes
 * unique (so two sensors on one interface never share a group), the
 * others join it. */
static enum floe_err join_fanout(struct floe_live *lv, struct lthread *t, unsigned k,
                                 struct floe_errbuf *eb)
{
	int fd = pcap_fileno(t->s[k].pc);
	int val;
	if (t->id == 0) {
		val = (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
	} else {
		socklen_t len = sizeof(val);
		if (getsockopt(pcap_fileno(lv->th[0].s[k].pc), SOL_PACKET, PACKET_FANOUT, &val,
		               &len) != 0)
			return floe_errbuf_set(eb, FLOE_IO,
			                       "cannot read the fanout group of '%s': %s",
			                       lv->cfg.ifaces[k], strerror(errno));
		val = (val & 0xffff) | (PACKET_FANOUT_HASH << 16);
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &val, sizeof(val)) != 0)
		return floe_errbuf_set(eb, FLOE_IO, "cannot spread '%s' over %u threads "
		                       "(PACKET_FANOUT): %s", lv->cfg.ifaces[k], lv->nthreads,
		                       strerror(errno));
	return FLOE_OK;
}

enum floe_err floe_live_open(const struct floe_live_config *cfg, struct floe_live **out,
                             struct floe_errbuf *eb)
{
	*out = NULL;
	if (cfg->nifaces < 1 || cfg->nifaces > FLOE_LIVE_MAX_IFACES ||
	    cfg->threads > FLOE_LIVE_MAX_THREADS || cfg->snaplen < 0 || cfg->duration < 0 ||
	    cfg->stats_interval < 0)
		return floe_errbuf_set(eb, FLOE_INVALID, "bad live capture configuration");
	struct floe_live *lv = calloc(1, sizeof(*lv));
	if (!lv)
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	lv->cfg = *cfg;
	struct floe_live_config *c = &lv->cfg;
	if (!c->buffer)
		c->buffer = FLOE_LIVE_DEFAULT_BUFFER;
	if (!c->snaplen)
		c->snaplen = FLOE_LIVE_DEFAULT_SNAPLEN;
	if (!c->stats_interval)
		c->stats_interval = 60 * SEC;
	lv->nthreads = c->threads ? c->threads : 1;
	pthread_mutex_init(&lv->mu, NULL);
	pthread_cond_init(&lv->nonempty, NULL);
	pthread_cond_init(&lv->nonfull, NULL);
	lv->q = calloc(QUEUE_RECORDS, sizeof(*lv->q));
	lv->th = calloc(lv->nthreads, sizeof(*lv->th));
	if (!lv->q || !lv->th) {
		floe_live_destroy(lv);
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	}

	/* Each thread's share of the flow table limit: the default is what
	 * fits FLOE_METER_DEFAULT_MEM with the largest hash table. */
	struct floe_meter_config mc = c->meter;
	if (lv->nthreads > 1) {
		uint64_t total = mc.max_flows ? mc.max_flows :
		                 FLOE_METER_DEFAULT_MEM / (FLOE_METER_FLOW_BYTES + 32);
		mc.max_flows = total / lv->nthreads ? total / lv->nthreads : 1;
	}
	uint64_t buffer = c->buffer / lv->nthreads;
	enum floe_err err = FLOE_OK;
	for (unsigned i = 0; i < lv->nthreads && err == FLOE_OK; i++) {
		struct lthread *t = &lv->th[i];
		t->lv = lv;
		t->id = i;
		for (unsigned k = 0; k < c->nifaces && err == FLOE_OK; k++) {
			err = open_socket(lv, t, k, buffer, eb);
			if (err == FLOE_OK && lv->nthreads > 1)
				err = join_fanout(lv, t, k, eb);
		}
		if (err != FLOE_OK)
			break;
		t->m = floe_meter_create(&mc, on_record, t, &err);
		if (!t->m) {
			floe_errbuf_set(eb, err, "cannot create the flow table: %s",
			                floe_strerror(err));
			break;
		}
		if (c->nifaces > 1) {
			t->heap = floe_malloc(NULL, FLOE_LIVE_HEAP * sizeof(*t->heap));
			if (!t->heap)
				err = floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		}
	}
	if (err != FLOE_OK) {
		floe_live_destroy(lv);
		return err;
	}
	for (unsigned k = 0; k < c->nifaces; k++)
		floe_logf(c->log, FLOE_LOG_INFO,
		          "capturing on '%s' (%s, snap length %d, ring %" PRIu64
		          " MB, %u thread%s)", c->ifaces[k],
		          pcap_datalink_val_to_name(lv->th[0].s[k].linktype), c->snaplen,
		          c->buffer >> 20, lv->nthreads, lv->nthreads > 1 ? "s" : "");
	*out = lv;
	return FLOE_OK;
}

enum floe_err floe_live_drop_privileges(const char *user, struct floe_errbuf *eb)
{
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (!pw)
		return floe_errbuf_set(eb, FLOE_INVALID, "cannot become '%s': %s", user,
		                       errno ? strerror(errno) : "no such user");
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
		return floe_errbuf_set(eb, FLOE_IO, "cannot become '%s': %s", user,
		                       strerror(errno));
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    (uid != 0 && setuid(0) == 0))
		return floe_errbuf_set(eb, FLOE_IO, "cannot become '%s': root privileges remain",
		                       user);
	return FLOE_OK;
}

/* ---- running ------------------------------------------------------------------------- */

void floe_live_stop(struct floe_live *lv)
{
	atomic_store(&lv->stop, 1);
}

/* Sums the published socket counters (under lv->mu). */
static void sum_ifstats(struct floe_live *lv, struct floe_live_ifstats *ifs)
{
	for (unsigned k = 0; k < lv->cfg.nifaces; k++) {
		ifs[k] = (struct floe_live_ifstats){.name = lv->cfg.ifaces[k]};
		for (unsigned i = 0; i < lv->nthreads; i++) {
			const struct pcap_stat *ps = &lv->th[i].s[k].ps;
			ifs[k].recv += ps->ps_recv;
			ifs[k].drop += ps->ps_drop;
			if (ps->ps_ifdrop > ifs[k].ifdrop)
				ifs[k].ifdrop = ps->ps_ifdrop;
		}
	}
}

/* Logs the drops since the last report (last holds the counts then). */
static void report_drops(struct floe_live *lv, struct floe_live_ifstats *last, bool final)
{
	struct floe_live_ifstats now[FLOE_LIVE_MAX_IFACES];
	pthread_mutex_lock(&lv->mu);
	sum_ifstats(lv, now);
	pthread_mutex_unlock(&lv->mu);
	for (unsigned k = 0; k < lv->cfg.nifaces; k++) {
		uint64_t d = now[k].drop - last[k].drop, id = now[k].ifdrop - last[k].ifdrop;
		if (final && (now[k].drop || now[k].ifdrop))
			floe_logf(lv->cfg.log, FLOE_LOG_WARN,
			          "'%s': %" PRIu64 " of %" PRIu64 " packets dropped by the kernel "
			          "ring, %" PRIu64 " by the interface",
			          now[k].name, now[k].drop, now[k].recv, now[k].ifdrop);
		else if (!final && (d || id))
			floe_logf(lv->cfg.log, FLOE_LOG_WARN,
			          "'%s': %" PRIu64 " packets dropped by the kernel ring, %" PRIu64
			          " by the interface since the last report (%" PRIu64
			          " and %" PRIu64 " in all)",
			          now[k].name, d, id, now[k].drop, now[k].ifdrop);
		last[k] = now[k];
	}
}

/* Hands the drop counts so far to cfg.on_drops. */
static void pass_drops(struct floe_live *lv)
{
	struct floe_live_ifstats now[FLOE_LIVE_MAX_IFACES];
	pthread_mutex_lock(&lv->mu);
	sum_ifstats(lv, now);
	pthread_mutex_unlock(&lv->mu);
	uint64_t kernel = 0, iface = 0;
	for (unsigned k = 0; k < lv->cfg.nifaces; k++) {
		kernel += now[k].drop;
		iface += now[k].ifdrop;
	}
	lv->cfg.on_drops(lv->cfg.drops_ud, kernel, iface);
}

enum floe_err floe_live_run(struct floe_live *lv, floe_flow_sink sink, void *ud,
                            struct floe_errbuf *eb)
{
	if (lv->ran)
		return floe_errbuf_set(eb, FLOE_INVALID, "a live capture runs once");
	lv->ran = true;
	/* Signals go to the calling thread, not the capture threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	enum floe_err err = FLOE_OK;
	lv->running = 0;
	for (unsigned i = 0; i < lv->nthreads; i++) {
		pthread_mutex_lock(&lv->mu);
		lv->running++;
		pthread_mutex_unlock(&lv->mu);
		if (pthread_create(&lv->th[i].tid, NULL, capture_thread, &lv->th[i]) != 0) {
			pthread_mutex_lock(&lv->mu);
			lv->running--;
			pthread_mutex_unlock(&lv->mu);
			err = floe_errbuf_set(eb, FLOE_NOMEM, "cannot start a capture thread");
			atomic_store(&lv->stop, 1);
			break;
		}
		lv->th[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	int64_t start = floe_clock_ns(CLOCK_MONOTONIC);
	int64_t next_report = start + lv->cfg.stats_interval;
	int64_t next_pass = start + SEC;
	struct floe_live_ifstats last[FLOE_LIVE_MAX_IFACES] = {0};
	struct floe_flow out[BATCH];
	pthread_mutex_lock(&lv->mu);
	for (;;) {
		if (lv->qlen == 0 && lv->running == 0)
			break;
		if (lv->qlen == 0) {
			struct timespec until = floe_clock_after(CLOCK_REALTIME, 100 * 1000000);
			pthread_cond_timedwait(&lv->nonempty, &lv->mu, &until);
		}
		size_t n = 0;
		while (lv->qlen && n < BATCH) {
			out[n++] = lv->q[lv->qhead];
			lv->qhead = (lv->qhead + 1) % QUEUE_RECORDS;
			lv->qlen--;
		}
		if (n)
			pthread_cond_broadcast(&lv->nonfull);
		pthread_mutex_unlock(&lv->mu);
		for (size_t i = 0; i < n; i++)
			sink(ud, &out[i]);
		int64_t mono = floe_clock_ns(CLOCK_MONOTONIC);
		if (lv->cfg.duration && mono - start >= lv->cfg.duration)
			atomic_store(&lv->stop, 1);
		if (mono >= next_report) {
			report_drops(lv, last, false);
			next_report = mono + lv->cfg.stats_interval;
		}
		if (lv->cfg.on_drops && mono >= next_pass) {
			pass_drops(lv);
			next_pass = mono + SEC;
		}
		pthread_mutex_lock(&lv->mu);
	}
	pthread_mutex_unlock(&lv->mu);
	for (unsigned i = 0; i < lv->nthreads; i++) {
		if (!lv->th[i].started)
			continue;
		pthread_join(lv->th[i].tid, NULL);
		lv->th[i].started = false;
		if (err == FLOE_OK && lv->th[i].eb.code != FLOE_OK) {
			err = lv->th[i].eb.code;
			floe_errbuf_set(eb, err, "%s", lv->th[i].eb.msg);
		}
	}
	memset(last, 0, sizeof(last));
	report_drops(lv, last, true);
	if (lv->cfg.on_drops)
		pass_drops(lv);
	return err;
}

void floe_live_stats(struct floe_live *lv, struct floe_live_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->nthreads = lv->nthreads;
	st->nifaces = lv->cfg.nifaces;
	pthread_mutex_lock(&lv->mu);
	sum_ifstats(lv, st->ifs);
	pthread_mutex_unlock(&lv->mu);
	for (unsigned i = 0; i < lv->nthreads; i++) {
		const struct lthread *t = &lv->th[i];
		st->packets += t->packets;
		st->thread_packets[i] = t->packets;
		for (int r = 0; r < FLOE_DEC__COUNT; r++)
			st->reasons[r] += t->reasons[r];
		st->merge_early += t->merge_early;
		st->sink_waits += t->sink_waits;
		if (!t->m)
			continue;
		struct floe_meter_stats ms;
		floe_meter_stats(t->m, &ms);
		st->meter.packets += ms.packets;
		st->meter.flows_created += ms.flows_created;
		st->meter.records += ms.records;
		st->meter.evicted += ms.evicted;
		st->meter.frag_orphans += ms.frag_orphans;
		st->meter.time_backwards += ms.time_backwards;
		st->meter.live += ms.live;
		st->meter.max_flows += ms.max_flows;
		st->meter.mem_bytes += ms.mem_bytes;
	}
}

void floe_live_destroy(struct floe_live *lv)
{
	if (!lv)
		return;
	if (lv->th) {
		for (unsigned i = 0; i < lv->nthreads; i++) {
			struct lthread *t = &lv->th[i];
			for (unsigned k = 0; k < FLOE_LIVE_MAX_IFACES; k++)
				if (t->s[k].pc)
					pcap_close(t->s[k].pc);
			floe_meter_destroy(t->m);
			if (t->heap)
				floe_free(NULL, t->heap, FLOE_LIVE_HEAP * sizeof(*t->heap));
		}
		free(lv->th);
	}
	free(lv->q);
	pthread_mutex_destroy(&lv->mu);
	pthread_cond_destroy(&lv->nonempty);
	pthread_cond_destroy(&lv->nonfull);
	free(lv);
}
