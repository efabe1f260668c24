/*
 * collect.h - router flow exports (NetFlow v5, NetFlow v9, IPFIX) -> flow
 * records.
 *
 * A collector takes one UDP datagram at a time, with the exporter's address
 * and the time it was received, detects the protocol from the datagram's
 * first bytes, decodes it and hands each flow record to the caller's emit
 * callback.  It keeps, per exporter source (exporter address + protocol +
 * NetFlow v9 source id / IPFIX observation domain): the templates, the
 * sampling rates learned from options data, the sequence number expected
 * next, and counters of everything that went wrong.
 *
 *   NetFlow v5    Cisco "NetFlow Export Datagram Format", version 5
 *   NetFlow v9    RFC 3954 (templates, options templates, scope fields)
 *   IPFIX         RFC 7011 (templates, options templates, withdrawal,
 *                 variable-length fields, enterprise elements), RFC 5103
 *                 (biflow reverse elements -> the destination direction)
 *   sFlow v5      decoded by sflow.c (floe_sflow_decode), counters per agent
 *
 * Every byte is read through the checked cursor (util/cursor.h); a
 * datagram that is garbage, truncated or hostile is counted against its
 * source and dropped, never trusted.  Template memory is charged to a
 * budget per source and one for the whole collector (util/mem.h), so a
 * template flood from one exporter cannot starve the others.
 *
 * Data that arrives before its template is counted (no_template) and
 * dropped: buffering it would let one exporter hold memory for templates
 * that may never come, and exporters resend templates periodically
 * (RFC 7011 section 8.4, RFC 3954 section 9).
 *
 * The library prints nothing; the caller prints the counters (--stats).
 * Must not depend on: codec, archive, query, libpcap (link types are DLT_
 * numbers in floe_collect_udp_payload).
 */
#ifndef FLOE_COLLECT_H
#define FLOE_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "err.h"
#include "flow.h"

/* The record callback shared by every export decoder (sflow.c too).  The
 * record is borrowed for the call.  A non-OK return stops the datagram and
 * is returned by floe_collect_input. */
#define FLOE_COLLECT_EMIT_FN
typedef enum floe_err (*floe_collect_emit_fn)(void *ctx, const struct floe_flow *f);

/* What a datagram was recognised as (the first bytes, see collect.c). */
enum floe_collect_proto {
	FLOE_COLLECT_UNKNOWN = 0,
	FLOE_COLLECT_NF5,
	FLOE_COLLECT_NF9,
	FLOE_COLLECT_IPFIX,
	FLOE_COLLECT_SFLOW,
	FLOE_COLLECT__COUNT
};

/* Short stable name: "netflow5", "netflow9", "ipfix", "sflow", "unknown". */
const char *floe_collect_proto_name(enum floe_collect_proto p);

struct floe_collect_config {
	uint32_t sampling;          /* rate applied when the export states none
	                             * (--sampling); 0 or 1 = unsampled */
	int64_t template_timeout;   /* ns a template lives unrefreshed
	                             * (default 30 min, RFC 7011 section 8.4) */
	int64_t skew_limit;         /* ns between export and receive time past
	                             * which an exporter's clock counts as
	                             * skewed (default 5 s) */
	uint32_t max_sources;       /* exporter sources tracked (default 4096) */
	uint32_t max_templates;     /* templates per source (default 1024) */
	size_t source_memory;       /* template bytes per source (default 1 MiB) */
	size_t total_memory;        /* template bytes in all (default 64 MiB) */
	const struct floe_log *log; /* NULL discards */
};

/* Fills c with the defaults above. */
void floe_collect_config_default(struct floe_collect_config *c);

/* Per-source counters (--stats).  Record counts are after decoding. */
struct floe_collect_source_stats {
	uint8_t exporter[16];
	uint32_t domain;            /* v9 source id / IPFIX observation domain */
	uint8_t proto;              /* enum floe_collect_proto */
	uint64_t datagrams;         /* datagrams accepted from this source */
	uint64_t records;           /* flow records emitted */
	uint64_t option_records;    /* options data records read */
	uint64_t malformed;         /* datagrams/sets refused: bad lengths, counts */
	uint64_t no_template;       /* data sets dropped: template not (yet) known */
	uint64_t templates;         /* template (re)definitions accepted */
	uint64_t withdrawn;         /* templates withdrawn (IPFIX) */
	uint64_t expired;           /* templates dropped after the timeout */
	uint64_t template_refused;  /* templates refused by a count or memory limit */
	uint64_t restarts;          /* exporter restarts seen (uptime went back) */
	uint64_t seq_lost;          /* missing per the sequence numbers: records
	                             * (v5, IPFIX) or export packets (v9) */
	uint64_t seq_reordered;     /* datagrams older than the expected one */
	uint64_t sampled_records;   /* records whose counters were scaled */
	uint64_t skewed;            /* datagrams whose export time is off by
	                             * more than skew_limit */
	int64_t max_skew;           /* largest |export - receive| time, ns */
	uint32_t template_count;    /* templates held now */
	size_t template_bytes;      /* their memory */
};

/* Whole-collector counters. */
struct floe_collect_stats {
	uint64_t datagrams;                       /* all input */
	uint64_t by_proto[FLOE_COLLECT__COUNT];   /* as detected */
	uint64_t records;                         /* emitted */
	uint64_t malformed;                       /* datagrams with any error */
	uint64_t sources_refused;                 /* new sources past max_sources */
	uint32_t sources;                         /* sources tracked now */
	size_t template_bytes;                    /* all template memory now */
};

struct floe_collector;

/* Creates a collector that calls emit(ctx, record) for each flow record.
 * cfg may be NULL (defaults).  NULL on NOMEM/INVALID (*err set). */
struct floe_collector *floe_collect_create(const struct floe_collect_config *cfg,
                                           floe_collect_emit_fn emit, void *ctx,
                                           enum floe_err *err);
void floe_collect_destroy(struct floe_collector *c);

/*
 * Decodes one datagram p[0..len) received from exporter (16 bytes, IPv4
 * v4-mapped) at recv_ns (ns since the epoch).  Returns:
 *   FLOE_OK          decoded (possibly with some sets dropped and counted)
 *   FLOE_MALFORMED, FLOE_TRUNCATED, FLOE_UNSUPPORTED, FLOE_LIMIT
 *                    the datagram (or part of it) was refused; already
 *                    counted; the caller goes on with the next one
 *   other            the emit callback's error, returned as is; the caller
 *                    stops
 * Records already emitted from the datagram stay emitted.
 */
enum floe_err floe_collect_input(struct floe_collector *c, const uint8_t *p, size_t len,
                                 const uint8_t exporter[16], int64_t recv_ns) FLOE_WUR;

/* Detects the protocol of a datagram from its first bytes. */
enum floe_collect_proto floe_collect_detect(const uint8_t *p, size_t len);

/* Drops templates not refreshed within the timeout before now_ns.  Called by
 * floe_collect_input as time goes on; callers that idle may call it. */
void floe_collect_expire(struct floe_collector *c, int64_t now_ns);

void floe_collect_stats(const struct floe_collector *c, struct floe_collect_stats *st);
/* The sFlow decoder's counters (agents, sequence loss, interface counters
 * from counter samples); borrowed, valid while c lives. */
struct floe_sflow_stats;
const struct floe_sflow_stats *floe_collect_sflow_stats(const struct floe_collector *c);
/* Copies up to max per-source counters into out (in order of first
 * appearance); returns the number of sources. */
size_t floe_collect_sources(const struct floe_collector *c, struct floe_collect_source_stats *out,
                            size_t max);

/*
 * Finds the UDP payload in one captured frame, for reading exports from a
 * pcap (floe collect -r).  linktype is a DLT_ number (1 EN10MB with 802.1Q,
 * 113 LINUX_SLL, 276 LINUX_SLL2, 12, 14, 101 RAW, 228 IPV4, 229 IPV6, 0 NULL,
 * 108 LOOP); IPv4 (RFC 791) and IPv6 (RFC 8200, UDP as the first next
 * header) only, no fragments.  On success *payload and *plen point into p,
 * src (16 bytes) is the sender's address (v4-mapped) and *sport, *dport the
 * ports.  Returns FLOE_OK, FLOE_UNSUPPORTED (not UDP, a fragment, another
 * link type) or FLOE_TRUNCATED, FLOE_MALFORMED.
 */
enum floe_err floe_collect_udp_payload(int linktype, const uint8_t *p, size_t caplen,
                                       const uint8_t **payload, size_t *plen, uint8_t src[16],
                                       uint16_t *sport, uint16_t *dport);

/*
 * RFC 5655 IPFIX files: IPFIX messages one after the other, nothing
 * between them.  Reads the next message of f into buf (FLOE_IPFIX_MSG_MAX
 * bytes) and sets *len and *export_time (the header's Export Time, ns).
 * Returns FLOE_OK; FLOE_EOF at the end of the file, between messages;
 * FLOE_MALFORMED where no message header starts (version not 10, length
 * under 16) and FLOE_TRUNCATED when the file ends inside a message (the
 * caller stops: there is no way to find the next message); FLOE_IO on a
 * read error.
 */
#define FLOE_IPFIX_MSG_MAX 65535u
FLOE_WUR enum floe_err floe_ipfix_file_next(FILE *f, uint8_t *buf, size_t *len,
                                            int64_t *export_time);

#endif
