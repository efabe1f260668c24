/*
 * ipfix.h - struct floe_flow records -> IPFIX messages (RFC 7011), for IPFIX
 * files (RFC 5655: a file is a sequence of messages) and for sending to a
 * collector over UDP.
 *
 * Two templates, one per address family (256: IPv4 addresses, 257: IPv6),
 * of IANA Information Elements, RFC 5103 reverse elements (private
 * enterprise 29305) for the responder direction, and floe's own elements
 * (state, flags, application bytes, retransmissions, RTT, trans, sensor)
 * under FLOE_IPFIX_PEN.  docs/ipfix.md lists every element.  Records whose
 * addresses are IPv4-mapped use template 256 (ARP records too).
 *
 * The writer produces whole messages and hands each to an output callback;
 * it does no I/O itself.  floe_ipfix_out_file and the UDP helpers below are
 * ready-made outputs.  Messages never exceed opts.max_msg bytes (at most
 * 65535, RFC 7011 §3.1).  Sequence numbers count data records per RFC 7011
 * §3.1; templates are sent in the first message and, when
 * template_interval/template_msgs are set (UDP, RFC 7011 §8.4), again
 * periodically.
 *
 * Must not depend on: the codec, the query layer, the CLI.
 */
#ifndef FLOE_EXPORT_IPFIX_H
#define FLOE_EXPORT_IPFIX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "flow.h"

/*
 * floe's private enterprise number for its own Information Elements.
 * PLACEHOLDER: 32473 is the number IANA reserves for documentation and
 * examples (RFC 5612); floe has no number of its own yet.  A collector
 * that does not know it skips these elements by their length.
 */
#define FLOE_IPFIX_PEN 32473u
/* RFC 5103 reverse Information Elements. */
#define FLOE_IPFIX_PEN_REVERSE 29305u

#define FLOE_IPFIX_TEMPLATE_V4 256
#define FLOE_IPFIX_TEMPLATE_V6 257

/* Default largest message for UDP (fits an Ethernet MTU with headers). */
#define FLOE_IPFIX_UDP_MSG 1400
/* IANA port for IPFIX over UDP (RFC 7011 §10.3.3). */
#define FLOE_IPFIX_PORT 4739

struct floe_ipfix_opts {
	uint32_t domain;           /* Observation Domain ID */
	size_t max_msg;            /* largest message; 0 = 65535 */
	int64_t template_interval; /* resend templates after this many seconds
	                            * of export time; 0 = never */
	uint32_t template_msgs;    /* ... or after this many messages; 0 = never */
};

/* Receives one complete message (borrowed for the call).  A non-OK return
 * is sticky: the writer keeps it and returns it from every later call. */
typedef enum floe_err (*floe_ipfix_out_fn)(void *ctx, const uint8_t *msg, size_t len);

struct floe_ipfix_writer;

/* Counts since creation. */
struct floe_ipfix_stats {
	uint64_t messages;
	uint64_t records;          /* data records */
	uint64_t templates_sent;   /* template sets sent */
	uint64_t bytes;
};

/*
 * Creates a writer handing messages to out(ctx, ...).  opts may be NULL
 * (defaults: domain 0, 65535-byte messages, templates once).  Returns NULL
 * with eb set: INVALID if max_msg cannot hold the templates and one record,
 * NOMEM.
 */
struct floe_ipfix_writer *floe_ipfix_writer_create(const struct floe_ipfix_opts *opts,
                                                   floe_ipfix_out_fn out, void *ctx,
                                                   struct floe_errbuf *eb);
/* Sets the Export Time (seconds since the epoch) of the messages written
 * from now on; it also drives template_interval.  Default 0. */
void floe_ipfix_writer_set_time(struct floe_ipfix_writer *w, int64_t unix_secs);
/* Adds a record; a full message is handed to the output first.  Returns
 * OK or the output's error. */
FLOE_WUR enum floe_err floe_ipfix_writer_add(struct floe_ipfix_writer *w, const struct floe_flow *f);
/* Hands the message being built, if any, to the output.  Call before
 * destroy, and on UDP whenever records should not wait (idle). */
FLOE_WUR enum floe_err floe_ipfix_writer_flush(struct floe_ipfix_writer *w);
void floe_ipfix_writer_stats(const struct floe_ipfix_writer *w, struct floe_ipfix_stats *st);
/* Frees without flushing.  NULL: nothing. */
void floe_ipfix_writer_destroy(struct floe_ipfix_writer *w);

/* Output to a stdio stream (ctx: FILE *); IO on a write error. */
enum floe_err floe_ipfix_out_file(void *ctx, const uint8_t *msg, size_t len);

/*
 * Opens a UDP socket connected to "udp://HOST:PORT" (also "HOST:PORT";
 * "[v6addr]:PORT"; port defaults to 4739).  Returns the descriptor, or -1
 * with eb set (INVALID for a bad address, IO with errno's text).  The
 * caller closes it.
 */
int floe_ipfix_udp_open(const char *url, struct floe_errbuf *eb);
/* Output to a connected UDP socket (ctx: int * descriptor); IO on error. */
enum floe_err floe_ipfix_out_udp(void *ctx, const uint8_t *msg, size_t len);

#endif
