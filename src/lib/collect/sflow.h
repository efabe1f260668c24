/*
 * sflow.h - sFlow version 5 datagrams -> struct floe_flow records.
 *
 * Implements the sFlow v5 specification (sflow.org, sflow_version_5.txt,
 * July 2004): the datagram header (§"sFlow Datagram", agent address v4/v6,
 * sub-agent id, sequence number, uptime), flow_sample and
 * flow_sample_expanded (formats 1 and 3), counters_sample and
 * counters_sample_expanded (formats 2 and 4).  Flow records understood:
 * raw packet header (1, decoded by the core packet decoder, decode/decode.h),
 * sampled Ethernet (2), sampled IPv4 (3), sampled IPv6 (4), extended switch
 * (1001), extended router (1002), extended gateway (1003).  Counter records
 * understood: generic interface counters (1).  Every other record is skipped
 * by its length and counted.  docs/sflow.md gives the field mapping.
 *
 * One record is emitted per sampled packet: counters are the packet scaled
 * by the sampling rate (spkts = rate, sbytes = frame length x rate) and the
 * rate is kept in the record (sampling, FLOE_F_SAMPLED) so users can tell an
 * estimate from a count.  Counter samples are not flows: they update the
 * per-agent interface table in struct floe_sflow_stats.
 *
 * Stateless apart from the caller-owned statistics, which also carry the
 * sequence-number state used to count lost datagrams and samples; keep one
 * struct floe_sflow_stats per exporter (or one for all: it keys its tables
 * by agent address and sub-agent).  Every byte is read through the checked
 * cursor (util/cursor.h).
 *
 * Must not depend on: the collector's sockets, the codec, the CLI.
 */
#ifndef FLOE_COLLECT_SFLOW_H
#define FLOE_COLLECT_SFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flow.h"

#ifndef FLOE_COLLECT_EMIT_FN
#define FLOE_COLLECT_EMIT_FN
/* Receives one record; f is borrowed for the call.  A return other than
 * FLOE_OK stops the decoder, which returns that code. */
typedef enum floe_err (*floe_collect_emit_fn)(void *ctx, const struct floe_flow *f);
#endif

/* UDP port sFlow agents send to (IANA "sflow"). */
#define FLOE_SFLOW_PORT 6343

/* Bounds of the tables in struct floe_sflow_stats.  When a table is full a
 * new key is not tracked and st->table_full counts it. */
#define FLOE_SFLOW_MAX_AGENTS  32   /* (agent, sub-agent) datagram sequences */
#define FLOE_SFLOW_MAX_SOURCES 128  /* (agent, sub-agent, source id) sample sequences */
#define FLOE_SFLOW_MAX_IFS     256  /* (agent, ifIndex) interface counters */

/* Datagram sequence state of one (agent, sub-agent). */
struct floe_sflow_agent {
	uint8_t addr[16];       /* agent address, IPv4 v4-mapped */
	uint32_t sub_agent;
	uint32_t last_seq;      /* last datagram sequence number seen */
	uint32_t last_uptime;   /* ms; a decrease means the agent restarted */
};

/* Sample sequence state of one data source (sFlow "source_id"). */
struct floe_sflow_source {
	uint8_t addr[16];
	uint32_t sub_agent;
	uint32_t id_type;       /* source_id type (0 ifIndex, 1 VLAN, 2 entity) */
	uint32_t id_index;
	uint32_t last_flow_seq;
	uint32_t last_counter_seq;
	uint32_t last_pool;     /* sample_pool of the last flow sample */
	uint8_t have_flow, have_counter;
};

/* Latest generic interface counters (counter record 1) of one interface. */
struct floe_sflow_ifcounters {
	uint8_t addr[16];       /* agent address */
	int64_t recv_ns;        /* when the sample was received */
	uint32_t ifindex, iftype;
	uint64_t ifspeed;       /* bits/s */
	uint32_t direction;     /* 0 unknown, 1 full, 2 half, 3 in, 4 out */
	uint32_t status;        /* bit 0 admin up, bit 1 oper up */
	uint64_t in_octets, out_octets;
	uint32_t in_ucast, in_mcast, in_bcast, in_discards, in_errors, in_unknown;
	uint32_t out_ucast, out_mcast, out_bcast, out_discards, out_errors;
	uint32_t promisc;
};

/*
 * Statistics and sequence state.  Caller-owned value: zero it (or call
 * floe_sflow_stats_init) before the first datagram; never freed.  Counters
 * only grow.
 */
struct floe_sflow_stats {
	uint64_t datagrams;        /* datagrams given to floe_sflow_decode */
	uint64_t samples;          /* samples read (all formats) */
	uint64_t flow_samples;     /* flow_sample and flow_sample_expanded */
	uint64_t counter_samples;  /* counters_sample and _expanded */
	uint64_t records;          /* floe records emitted */
	uint64_t malformed;        /* datagrams/samples/records violating the spec */
	uint64_t truncated;        /* ... ending before a structure does */
	uint64_t unsupported;      /* datagrams of another version, samples or
	                            * records of a format floe skips */
	uint64_t no_packet;        /* flow samples with no header floe decodes
	                            * (no record emitted) */
	uint64_t header_undecoded; /* raw headers the packet decoder refused */
	uint64_t lost_datagrams;   /* gaps in datagram sequence numbers */
	uint64_t lost_samples;     /* gaps in flow/counter sample sequence numbers */
	uint64_t agent_drops;      /* samples the agent itself dropped ("drops") */
	uint64_t seq_resets;       /* sequence went backwards (restart/reorder) */
	uint64_t discarded;        /* flow samples of packets the device dropped */
	uint64_t table_full;       /* keys not tracked: a table was full */

	unsigned n_agents, n_sources, n_ifs;
	struct floe_sflow_agent agents[FLOE_SFLOW_MAX_AGENTS];
	struct floe_sflow_source sources[FLOE_SFLOW_MAX_SOURCES];
	struct floe_sflow_ifcounters ifs[FLOE_SFLOW_MAX_IFS];
};

/* Zeroes *st. */
void floe_sflow_stats_init(struct floe_sflow_stats *st);

/*
 * True if a UDP payload is an sFlow datagram (of any version floe knows
 * of: 2, 4, 5), for a collector that takes several protocols on one port.
 * sFlow starts with a 32-bit version, NetFlow and IPFIX with a 16-bit one
 * (5, 9, 10), so the first two bytes tell them apart: zero for sFlow.
 * Versions other than 5 then give FLOE_UNSUPPORTED from floe_sflow_decode.
 */
bool floe_sflow_probe(const uint8_t *p, size_t len);

/*
 * Decodes one sFlow v5 datagram (the UDP payload).
 *   p, len:   the datagram, borrowed.
 *   exporter: the UDP source address (v4-mapped for IPv4); used as the
 *             record's exporter only when the agent address is "unknown".
 *   recv_ns:  receive time, ns since the epoch; stime = ltime = recv_ns.
 *   emit:     called once per sampled packet with a record, ctx passed on.
 *   st:       statistics and sequence state, updated (not NULL).
 *   eb:       error message slot; may be NULL.
 * Returns FLOE_OK; or FLOE_UNSUPPORTED (not version 5); FLOE_TRUNCATED or
 * FLOE_MALFORMED for a broken datagram or sample (records of the samples
 * before it, and of later samples when the broken one could be skipped by
 * its length, are still emitted; the matching counter is incremented); or
 * the first non-OK code returned by emit, which stops decoding.  Of
 * several errors in one datagram the first is returned, with its message
 * in eb; each is counted.  The caller
 * counts the error and goes on with the next datagram.
 */
enum floe_err floe_sflow_decode(const uint8_t *p, size_t len,
                                const uint8_t exporter[16], int64_t recv_ns,
                                floe_collect_emit_fn emit, void *ctx,
                                struct floe_sflow_stats *st,
                                struct floe_errbuf *eb) FLOE_WUR;

#endif
