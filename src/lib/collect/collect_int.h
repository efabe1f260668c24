/*
 * collect_int.h - the collector's internals, shared by collect.c (sources,
 * dispatch, counters), template.c (template cache and record decoding),
 * ie.c (the information element table), netflow5.c, netflow9.c, ipfix.c.
 * Not for use outside src/lib/collect.
 */
#ifndef FLOE_COLLECT_INT_H
#define FLOE_COLLECT_INT_H

#include "collect.h"
#include "sflow.h"
#include "util/cursor.h"
#include "util/hash.h"
#include "util/mem.h"

/* What the decoder does with one field of a data record.  Resolved once per
 * template field (ie.c), so decoding a record is a switch per field. */
enum floe_ie_act {
	IE_SKIP = 0,
	IE_SBYTES, IE_SPKTS, IE_DBYTES, IE_DPKTS,     /* delta or total counts */
	IE_SRC4, IE_DST4, IE_SRC6, IE_DST6, IE_NH4, IE_NH6, IE_BGPNH4, IE_BGPNH6,
	IE_SPORT, IE_DPORT, IE_PROTO, IE_STOS, IE_DTOS, IE_STCPF, IE_DTCPF,
	IE_INIF, IE_OUTIF, IE_INPHYS, IE_OUTPHYS, IE_SAS, IE_DAS,
	IE_FIRST_UP, IE_LAST_UP,                      /* sysUpTime ms (21, 22) */
	IE_START_S, IE_END_S, IE_START_MS, IE_END_MS,
	IE_START_US, IE_END_US, IE_START_NS, IE_END_NS, /* NTP timestamps */
	IE_START_DUS, IE_END_DUS,                     /* delta us before export */
	IE_SYSINIT_MS,                                /* systemInitTimeMilliseconds */
	IE_SAMP_INTERVAL, IE_SAMP_PKT_INTERVAL, IE_SAMP_PKT_SPACE, IE_SAMP_SIZE, IE_SAMP_POP,
	IE_SAMPLER_ID,
	IE_ICMP_TC, IE_ICMP_TYPE, IE_ICMP_CODE,
	IE_IPVER, IE_ETYPE, IE_VLAN, IE_SMAC, IE_DMAC,
	IE_STTLMIN, IE_STTLMAX, IE_DTTLMIN, IE_DTTLMAX,
	IE__COUNT
};

/* Resolves an element to an action: pen 0 is IANA's registry, pen 29305
 * the RFC 5103 reverse elements; other enterprises are skipped.  v9scope:
 * a NetFlow v9 scope field, whose types are their own space (RFC 3954
 * section 6.1), always skipped. */
uint8_t floe_ie_action(uint16_t id, uint32_t pen, bool v9scope);
/* IANA name of an element for messages; "" if unnamed. */
const char *floe_ie_name(uint16_t id);

#define FLOE_TMPL_VARLEN 0xffff   /* IPFIX variable-length field (RFC 7011 s7) */
#define FLOE_TMPL_MAX_FIELDS 512  /* more is refused as hostile */

struct floe_tmpl_field {
	uint16_t id;
	uint16_t len;            /* FLOE_TMPL_VARLEN: per-record length */
	uint8_t act;             /* enum floe_ie_act */
};

struct floe_tmpl {
	struct floe_tmpl *next;  /* bucket chain */
	uint16_t id;
	uint16_t nfields;
	uint16_t nscope;         /* options templates: leading scope fields */
	bool options;
	bool varlen;             /* a field has FLOE_TMPL_VARLEN */
	uint32_t minlen;         /* smallest record: fixed lengths + 1 per varlen */
	int64_t refreshed;       /* receive time last defined, ns */
	size_t bytes;            /* allocation size */
	struct floe_tmpl_field f[];
};

/* sysUptime going back by more than this (ms), with the sequence number
 * going back too, is a restart of the exporter; less is a datagram delayed
 * or reordered (test captures put templates first, seconds out of order),
 * and some exporters' uptimes jitter by minutes while their sequence
 * numbers go on */
#define FLOE_RESTART_MS 60000

#define FLOE_TMPL_BUCKETS 64
#define FLOE_MAX_SAMPLERS 16

struct floe_source {
	struct floe_source *hnext;
	uint8_t addr[16];
	uint32_t domain;
	uint8_t proto;
	struct floe_collect_source_stats st;
	bool have_seq;
	uint32_t next_seq;
	bool have_uptime;
	uint32_t last_uptime;           /* v5/v9 sysUptime, ms */
	int64_t sysinit_ns;             /* IPFIX systemInitTimeMilliseconds; 0 unknown */
	uint32_t default_rate;          /* options data without a sampler id */
	uint32_t nsamplers;
	struct { uint32_t id, rate; } samplers[FLOE_MAX_SAMPLERS];
	struct floe_tmpl *tmpl[FLOE_TMPL_BUCKETS];
};

struct floe_collector {
	struct floe_collect_config cfg;
	floe_collect_emit_fn emit;
	void *ctx;
	struct floe_budget budget;      /* template and source memory, total */
	struct floe_hashkey key;
	struct floe_source **buckets;   /* source hash */
	size_t nbuckets;
	struct floe_source **order;     /* sources by first appearance */
	uint32_t nsources;
	struct floe_source *last;       /* one-entry lookup cache */
	int64_t last_expire;
	struct floe_collect_stats st;
	struct floe_sflow_stats sflow;  /* sflow.c's counters and tables */
};

/* The datagram being decoded: header facts a record needs. */
struct floe_dgram {
	struct floe_collector *c;
	struct floe_source *src;
	int64_t recv_ns;
	int64_t export_ns;              /* header time (v5/v9 unix secs, IPFIX export) */
	uint32_t uptime_ms;             /* v9 sysUptime */
	bool has_uptime;
	uint32_t data_records;          /* IPFIX: for the sequence number */
};

/* template.c */
/* Defines (or redefines) a template; fields[] as read from the wire.
 * Returns FLOE_OK, FLOE_LIMIT (refused: counts or memory; counted),
 * FLOE_MALFORMED (zero-length records; counted). */
enum floe_err floe_tmpl_define(struct floe_dgram *d, uint16_t id, bool options, uint16_t nscope,
                               const struct floe_tmpl_field *fields, uint16_t nfields);
/* IPFIX withdrawal (RFC 7011 section 8.1): one id, or all of a kind when
 * id is 2 (templates) or 3 (options templates). */
void floe_tmpl_withdraw(struct floe_dgram *d, uint16_t id);
struct floe_tmpl *floe_tmpl_find(struct floe_source *s, uint16_t id);
void floe_tmpl_clear(struct floe_collector *c, struct floe_source *s);
void floe_tmpl_expire(struct floe_collector *c, struct floe_source *s, int64_t before);
/* Decodes the data set body cur (padding included) with template t,
 * emitting flow records or learning options.  Returns FLOE_OK, a decode
 * error (counted by the caller), or the emit error. */
enum floe_err floe_tmpl_data(struct floe_dgram *d, const struct floe_tmpl *t,
                             struct floe_cursor *cur, bool ipfix);

/* collect.c: finishing a record (times, sampling, exporter) and emitting. */
/* Fills exporter, sensor, trans and emits; counts the record. */
enum floe_err floe_collect_emit_rec(struct floe_dgram *d, struct floe_flow *f);
/* Scales counters by the sampling rate and marks the record. */
void floe_collect_scale(struct floe_flow *f, uint32_t rate);
/* The rate for a record: its own, its sampler's, the source's, the
 * configured one; 0 if none. */
uint32_t floe_collect_rate(const struct floe_dgram *d, uint32_t own, bool has_sampler,
                           uint32_t sampler);
void floe_collect_learn_rate(struct floe_source *s, bool has_sampler, uint32_t sampler,
                             uint32_t rate);
/* Sequence accounting: seq as received, n = units this datagram adds. */
void floe_collect_seq(struct floe_source *s, uint32_t seq, uint32_t n);
void floe_collect_skew(struct floe_dgram *d);

/* The three decoders: header to end.  Errors are counted by collect.c. */
enum floe_err floe_nf5_decode(struct floe_collector *c, const uint8_t *p, size_t len,
                              const uint8_t exporter[16], int64_t recv_ns);
enum floe_err floe_nf9_decode(struct floe_collector *c, const uint8_t *p, size_t len,
                              const uint8_t exporter[16], int64_t recv_ns);
enum floe_err floe_ipfix_decode(struct floe_collector *c, const uint8_t *p, size_t len,
                                const uint8_t exporter[16], int64_t recv_ns);
/* The source for (exporter, proto, domain), created on first sight; NULL if
 * max_sources or memory refuse it (counted). */
struct floe_source *floe_collect_source(struct floe_collector *c, const uint8_t exporter[16],
                                        enum floe_collect_proto proto, uint32_t domain);
/* True if err is one of the decode errors (counted, not fatal). */
static inline bool floe_collect_decode_err(enum floe_err e)
{
	return e == FLOE_MALFORMED || e == FLOE_TRUNCATED || e == FLOE_UNSUPPORTED ||
	       e == FLOE_LIMIT;
}

#endif
