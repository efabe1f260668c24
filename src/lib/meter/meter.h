/*
 * meter.h - decoded packets -> bidirectional flow records.
 *
 * The flow table is open addressing with a keyed hash (util/hash.h) and a
 * hard size limit: when full it flushes the least recently active flows
 * early (FLOE_F_EVICTED) and counts them; its memory never grows past the
 * limit.  Idle timeouts per protocol and the status interval are driven by
 * packet time (so a pcap replays the same way it ran live), through a timer
 * wheel.  IPv4/IPv6 fragments after the first are attributed to their flow
 * through a small bounded fragment table.
 *
 * Direction: the initiator is the sender of the first SYN (TCP), else the
 * sender of the first packet seen; when the TCP start was not seen the
 * record carries FLOE_F_DIRUNK.  States follow Argus (flow.h).
 *
 * Rules, checked against Argus 3.0.8 on ../shared/data (TCP and UDP flows
 * of the 79 captures agree with the reference in flow, orientation and
 * packet counts except where listed below):
 *   key      proto, both addresses and ports, ethertype, and the outer
 *            VLAN id unless ignore_vlan (Argus's default key has no VLAN;
 *            floe keeps VLANs apart because they may reuse addresses).
 *   TCP      a SYN without ACK: its sender is the source.  A SYN/ACK first:
 *            its receiver is the source (DIRUNK).  Anything else first:
 *            the sender is the source, unless it sends from a port < 1024
 *            to a port >= 1024, then the receiver (DIRUNK), as Argus
 *            turns a server's data toward the client.
 *            States: RST if a reset was seen; FIN if a FIN was (either
 *            way: Argus prints FIN for one-way flows with a FIN, so CLO is
 *            not produced); CON if the handshake completed or the start
 *            was not seen; ACC for SYN + SYN/ACK without the ACK; REQ for
 *            SYNs alone.  TIM is not produced: a timed-out flow keeps the
 *            state it reached, as in Argus's output.
 *            A SYN with a new ISN after a FIN or RST starts a new record
 *            (port reuse); the same ISN (a client retrying after each
 *            RST) stays in the record, as Argus does.
 *   UDP etc. CON if both directions were seen, else INT.
 *   ICMP     sport = type, dport = code of the first packet.  Echo (and
 *            timestamp, information, address mask; ICMPv6 echo and
 *            neighbour solicitation/advertisement) requests and replies
 *            share a flow keyed by the echo id, the reply as the
 *            destination's traffic: ECO if a request was seen, else ECR
 *            (TST/TSR, IRQ/IRR, MSK/MSR, NNS/NNA likewise).  Other types
 *            are their own flows: URN/URH/URP/URF/URO by code, SRC, RED,
 *            RTA, RTS, TXD, PAR; ICMPv6 URx, URF (too big), TXD, PAR,
 *            MRQ, MHR, MHD, NRS, NRA, NRD; other types UNK.
 *   ARP      between sender and target protocol addresses, a reply
 *            counted against its request: CON both, INT request only,
 *            RSP reply only (oriented from the asker, as Argus prints).
 *   counters bytes = frame length on the wire; appbytes = L4 payload
 *            without retransmitted TCP data (Argus 3.0.8 counts
 *            retransmitted payload too, so sappbytes/dappbytes of lossy
 *            connections are lower than Argus's; a RST's payload is
 *            counted as Argus does).  A TCP segment wholly below the
 *            highest sequence seen is a retransmission; one beyond the
 *            next expected byte is out of order and leaves a hole, and a
 *            late segment filling that hole is out of order too.
 * Known differences: Argus folds an ICMP error into the flow it reports on
 * (an echo flow shown as TXD); floe records the error as its own flow.
 * ICMPv6 time exceeded is TXD (Argus prints TXT).  Argus files ICMPv6
 * NA, RA and MLD reports under the request's type (a lone NA prints as
 * NNS with sport 135); floe keeps the real type and names the reply (NNA,
 * NRA, MHR), pairing only NS/NA.  The reference was made
 * with Debian's argus.conf, whose status interval is 5 s, not 60 s.
 *
 * Timers: idle timeouts are measured from a flow's last packet; a record
 * is emitted when the gap exceeds the timeout (detected by the packet that
 * ends the gap, or by the wheel up to ~0.13 s after it passes).  A status
 * record is emitted once a record is status_interval old; it covers that
 * record's packets only and the next record starts at the next packet.
 * Time going backwards is accepted: the packet is counted with its own
 * time, records keep stime <= ltime, the clock never moves back.
 *
 * Memory: FLOE_METER_FLOW_BYTES per flow plus 16 to 32 bytes of hash
 * table, all allocated at create time (pages never used are never
 * touched).  The default max_flows (about 736 000) is what fits
 * FLOE_METER_DEFAULT_MEM; a fixed 200 KB fragment cache remembers first
 * fragments' ports.
 *
 * Must not depend on: codec, libpcap.
 */
#ifndef FLOE_METER_H
#define FLOE_METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"
#include "err.h"
#include "flow.h"

struct floe_meter;
struct floe_budget;

/* Memory the default table is sized for: flow array + hash table.  It
 * leaves room in 256 MB for the rest of a sensor (block writer about 25 MB,
 * zstd, libpcap), so `floe capture` stays under 256 MB under a flood. */
#define FLOE_METER_DEFAULT_MEM ((uint64_t)192 << 20)
/* Bytes of state per flow, without the hash table. */
#define FLOE_METER_FLOW_BYTES 256
/* Largest max_flows accepted (flow indexes are 32-bit). */
#define FLOE_METER_MAX_FLOWS ((uint64_t)1 << 30)

struct floe_meter_config {
	uint64_t max_flows;         /* hard limit of live flows; 0 = default
	                             * (sized for 256 MB) */
	int64_t status_interval;    /* ns; 0 = one record per flow */
	int64_t timeout_tcp;        /* idle timeouts, ns; 0 = defaults */
	int64_t timeout_tcp_closed; /* after FIN/RST both done */
	int64_t timeout_udp;
	int64_t timeout_icmp;
	int64_t timeout_other;
	uint32_t sensor;            /* copied into every record */
	const struct floe_log *log; /* may be NULL */
	/* Appended fields. */
	struct floe_budget *budget; /* charged for the table; may be NULL */
	bool ignore_vlan;           /* true: flows on different VLANs merge
	                             * (Argus's default key); false (default):
	                             * the outer VLAN id is part of the key */
};

/* Fills cfg with the defaults (Argus-like: 60 s status interval, TCP 60 s
 * idle, 5 s after a FIN both ways or a RST, UDP/ICMP/other 30 s; max_flows
 * 0 = sized for FLOE_METER_DEFAULT_MEM; VLANs keyed). */
void floe_meter_config_default(struct floe_meter_config *cfg);

/* Called for every finished or interval record; the record is borrowed for
 * the duration of the call.  Records come out of add, tick and flush; the
 * sink must not call back into the same meter. */
typedef void (*floe_flow_sink)(void *ud, const struct floe_flow *flow);

/* Creates a meter: allocates the whole table (charged to cfg->budget when
 * set).  cfg is copied.  Returns NULL and sets *err: NOMEM (allocation or
 * budget refused: retry with a smaller max_flows), INVALID (NULL sink,
 * negative time, max_flows above FLOE_METER_MAX_FLOWS), IO (no random
 * source for the hash key). */
struct floe_meter *floe_meter_create(const struct floe_meter_config *cfg,
                                     floe_flow_sink sink, void *ud,
                                     enum floe_err *err);
void floe_meter_destroy(struct floe_meter *m);

/* Accounts one decoded packet (pkt->ts drives the clock; time going
 * backwards is tolerated and counted).  Emits records whose timers expired
 * and, when the table is full, the evicted flow's record.  Never fails:
 * every packet ends up in exactly one record. */
void floe_meter_add(struct floe_meter *m, const struct floe_pkt *pkt);

/* Advances the clock without a packet (live capture idle), expiring flows
 * and emitting due status records.  now must not pass a packet still to
 * come: that packet would count as time gone backwards and, if its flow
 * expired meanwhile, start a new record.  A live sensor passes the wall
 * clock minus how long a packet may wait in the kernel (sensor/live.h). */
void floe_meter_tick(struct floe_meter *m, int64_t now);

/* Emits every live flow (end of input) and empties the table. */
void floe_meter_flush(struct floe_meter *m);

struct floe_meter_stats {
	/* Counters since create; live/max_flows/mem_bytes are current. */
	uint64_t packets;        /* packets accounted into flows */
	uint64_t flows_created;
	uint64_t records;        /* records emitted */
	uint64_t evicted;        /* flows flushed early because the table was full */
	uint64_t frag_orphans;   /* later fragments with no first fragment */
	uint64_t time_backwards; /* packets older than the clock */
	uint64_t live;           /* flows in the table now */
	uint64_t max_flows;      /* the table's limit */
	size_t mem_bytes;        /* memory held by the table */
};

void floe_meter_stats(const struct floe_meter *m, struct floe_meter_stats *st);

#endif
