/*
 * live.h - the sensor: packets from live interfaces -> flow records.
 *
 * Opens one interface, or two that are the two halves of one link (two
 * half-duplex taps, each seeing one direction), through libpcap: a kernel
 * ring of `buffer` bytes (TPACKET_V3), a snap length of headers only,
 * immediate mode off with a 100 ms block timeout, the BPF filter compiled
 * by libpcap.  Frames are decoded (decode/) and metered (meter/) by
 * capture threads:
 *
 *   threads   With threads > 1 every thread has its own socket on each
 *             interface, all joined to one kernel fanout group per
 *             interface (PACKET_FANOUT_HASH): the kernel's symmetric flow
 *             hash sends both directions of a flow to the same thread, and
 *             each thread meters in its own flow table (max_flows is
 *             divided among them).  IP fragments after the first carry no
 *             ports, so the kernel may hash them to another thread than
 *             the flow's other packets; that thread counts them as orphan
 *             fragments.
 *   merge     With two interfaces each thread reads both and meters their
 *             packets in timestamp order: packets are held up to
 *             FLOE_LIVE_HOLD_NS (0.5 s) in a bounded heap and released
 *             oldest first.  Two packets reaching floe within the hold of
 *             each other are metered in timestamp order; a later one (or a
 *             full heap, past FLOE_LIVE_HEAP packets a thread) is metered
 *             at once and counted by the meter as time gone backwards.
 *   time      Flows are timed by packet timestamps, as from a file.  When
 *             a thread's rings are empty its meter's clock is moved to the
 *             wall clock minus FLOE_LIVE_LAG_NS (1 s, more than a packet
 *             waits in the kernel's ring block) with floe_meter_tick, so
 *             idle flows expire and status records come out on a quiet
 *             link too.
 *   records   Records of every thread reach the caller's sink on the
 *             thread that calls floe_live_run, through a bounded queue: a
 *             full queue makes the capture threads wait (the kernel ring
 *             fills, then drops and counts), a record is never lost.
 *   drops     pcap_stats of every socket (packets the kernel ring dropped,
 *             ps_drop; the interface dropped, ps_ifdrop) are read every
 *             second; new drops are logged as warnings every
 *             stats_interval and at the end, and floe_live_stats returns
 *             them.  The record model has no place for a sensor status
 *             record, so drops are not records.
 *
 * Lifecycle: floe_live_open (needs the right to capture: root or
 * CAP_NET_RAW), then optionally floe_live_drop_privileges, then
 * floe_live_run until a stop (floe_live_stop, duration, count), then
 * floe_live_stats and floe_live_destroy.
 *
 * Must not depend on: codec, archive, query, the command line.
 */
#ifndef FLOE_SENSOR_LIVE_H
#define FLOE_SENSOR_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "decode/decode.h"
#include "err.h"
#include "meter/meter.h"

#define FLOE_LIVE_MAX_IFACES 2
#define FLOE_LIVE_MAX_THREADS 64
#define FLOE_LIVE_DEFAULT_BUFFER ((uint64_t)64 << 20)
#define FLOE_LIVE_DEFAULT_SNAPLEN 128
#define FLOE_LIVE_TIMEOUT_MS 100                     /* ring block timeout */
#define FLOE_LIVE_HOLD_NS (INT64_C(500) * 1000000)   /* two-interface merge */
#define FLOE_LIVE_LAG_NS (INT64_C(1000) * 1000000)   /* idle ticks behind the wall clock */
#define FLOE_LIVE_HEAP 65536                         /* merge heap, packets a thread */

struct floe_live;

struct floe_live_config {
	const char *ifaces[FLOE_LIVE_MAX_IFACES];  /* borrowed until destroy */
	unsigned nifaces;          /* 1, or 2: the two directions of one link */
	const char *filter;        /* BPF filter; NULL: every packet */
	uint64_t buffer;           /* kernel ring bytes per interface, shared
	                            * by the threads; 0 = FLOE_LIVE_DEFAULT_BUFFER */
	int snaplen;               /* 0 = FLOE_LIVE_DEFAULT_SNAPLEN */
	unsigned threads;          /* capture threads; 0 = 1 */
	uint64_t count;            /* stop after this many packets; 0 = no limit */
	int64_t duration;          /* ns; stop after this long; 0 = until stopped */
	int64_t stats_interval;    /* ns between drop reports; 0 = 60 s */
	struct floe_meter_config meter;  /* for every thread's meter; max_flows
	                            * (or the default) is divided among threads */
	const struct floe_log *log;  /* may be NULL */
	/* Called about every second from the thread in floe_live_run (the
	 * one that calls the sink) with the kernel's counts so far, summed
	 * over the interfaces: to pass the drops on (a stream's STATUS).
	 * NULL: not called. */
	void (*on_drops)(void *ud, uint64_t kernel, uint64_t iface);
	void *drops_ud;
};

/* Fills cfg with the defaults (no interface, one thread, meter defaults). */
void floe_live_config_default(struct floe_live_config *cfg);

/* Opens and activates every socket, sets the filter, joins the fanout
 * groups and creates the meters; no packet is read yet.  cfg is copied
 * (the strings are borrowed).  Returns FLOE_OK and *out, or: INVALID (bad
 * configuration, or the filter does not compile: the message quotes
 * libpcap), IO (no such interface, no permission, libpcap or the kernel
 * refuse; the message names the interface), UNSUPPORTED (a link type floe
 * does not decode), NOMEM.  Warnings of libpcap (promiscuous mode not
 * supported...) go to cfg->log. */
FLOE_WUR enum floe_err floe_live_open(const struct floe_live_config *cfg, struct floe_live **out,
                                      struct floe_errbuf *eb);

/* Becomes user (supplementary groups = the user's primary group only,
 * then gid, then uid) and checks that root cannot be regained.  Call after
 * floe_live_open and before floe_live_run, with no other thread running.
 * Returns INVALID (no such user) or IO (the system refused; the process
 * may be partly changed and must not go on). */
FLOE_WUR enum floe_err floe_live_drop_privileges(const char *user, struct floe_errbuf *eb);

/* Captures until floe_live_stop, cfg.duration or cfg.count, then meters
 * what the kernel already holds (up to 0.3 s more), flushes every flow and
 * returns once every record went to sink, called on this thread only.
 * Returns FLOE_OK, or IO (a socket failed: libpcap's message; the records
 * metered so far were still delivered), NOMEM (a thread could not start). */
FLOE_WUR enum floe_err floe_live_run(struct floe_live *lv, floe_flow_sink sink, void *ud,
                                     struct floe_errbuf *eb);

/* Asks floe_live_run to stop; async-signal-safe, callable from any thread
 * (a sink that failed, a signal handler). */
void floe_live_stop(struct floe_live *lv);

struct floe_live_ifstats {
	const char *name;          /* the interface (borrowed from the config) */
	uint64_t recv;             /* ps_recv: packets the sockets were given */
	uint64_t drop;             /* ps_drop: dropped by the kernel ring (full) */
	uint64_t ifdrop;           /* ps_ifdrop: dropped by the interface (largest
	                            * over the threads: every socket reports the
	                            * same interface counter) */
};

struct floe_live_stats {
	uint64_t packets;          /* frames read from the rings */
	uint64_t reasons[FLOE_DEC__COUNT]; /* frames not metered, by reason ([0] unused) */
	struct floe_meter_stats meter;  /* summed over the threads */
	uint64_t thread_packets[FLOE_LIVE_MAX_THREADS];
	unsigned nthreads;
	struct floe_live_ifstats ifs[FLOE_LIVE_MAX_IFACES];
	unsigned nifaces;
	uint64_t merge_early;      /* merge: released before the hold (heap full) */
	uint64_t sink_waits;       /* times a capture thread waited for the sink */
};

/* The counters, once floe_live_run returned (while it runs they belong to
 * the capture threads; drops are logged meanwhile). */
void floe_live_stats(struct floe_live *lv, struct floe_live_stats *st);

/* Closes the sockets and frees everything; NULL does nothing. */
void floe_live_destroy(struct floe_live *lv);

#endif
