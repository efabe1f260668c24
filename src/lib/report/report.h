/*
 * report.h - the operators' reports (`floe report`, docs/report.md): the
 * daily traffic report, per-customer accounting, and the top ports,
 * talkers and broadcasters.
 *
 * Every report is an engine fed records by the caller, pass by pass, so it
 * never holds the input: the caller opens its sources (files, archive and
 * time range), filters and feeds every record to *_add, calls *_end_pass,
 * and starts over while *_pass says another pass is wanted.  Aggregation
 * goes through the cluster operator (query/cluster.h), which spills to
 * temporary files past its budget; what an engine keeps itself is bounded
 * by its options (top N hosts x M peers x K ports, customers x days).
 *
 * The daily report, in two passes:
 *   1. per host (each record counts for both its endpoints: what the host
 *      sent is its out, what it received its in), through cluster; a heap
 *      keeps the top N by total; the header totals are summed on the way;
 *   2. only records touching the top N: per (host, peer) and per (host,
 *      peer, protocol, service port), through two clusters, and each top
 *      host's volume per time bin (for the sparkline); heaps keep the top
 *      M peers of each host and the top K ports of each such peer.
 * The service port of a record is its destination (responder) port; when
 * the sensor did not see the initiator (FLOE_F_DIRUNK) the lower of the two
 * ports; for ICMP the type.  In/out of the header are relative to the
 * local networks: local->remote bytes are out, remote->local bytes in,
 * both directions of local<->local flows internal, of remote<->remote flows
 * transit; out + in + internal + transit = total, each record counted once.
 *
 * Renderers write a finished report to a stdio stream as aligned text,
 * one JSON document, or one self-contained HTML file.
 *
 * Must not depend on: codec, filter, archive, the CLI.
 */
#ifndef FLOE_REPORT_H
#define FLOE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "flow.h"
#include "util/timerange.h"

struct floe_budget;
struct floe_netset;
struct floe_prefixes;

/* ---- the daily report ---- */

struct floe_daily_opts {
	const struct floe_netset *local;     /* borrowed; NULL: nothing is local */
	const struct floe_prefixes *notes;   /* borrowed; NULL: no labels */
	size_t top, peers, ports;            /* N hosts, M peers, K ports (0: 30, 10, 5) */
	unsigned bins;                       /* sparkline bins (0: 24) */
	struct floe_timerange range;         /* the period asked for (-t); ALL: the data's */
	struct floe_budget *budget;          /* borrowed; the whole report's memory */
	const char *tmpdir;                  /* spill directory; NULL = $TMPDIR or /tmp */
	const struct floe_log *log;
};

struct floe_daily_port {
	uint8_t proto;
	uint16_t port;
	uint64_t out, in, flows;   /* the host's out and in with the peer on this port */
};

struct floe_daily_peer {
	uint8_t addr[16];
	bool local;
	const char *note;
	uint64_t out, in, flows;   /* out: host -> peer, in: peer -> host */
	size_t nports;
	struct floe_daily_port *ports;   /* biggest first; the rest is out/in minus their sum */
};

struct floe_daily_host {
	uint8_t addr[16];
	bool local;
	const char *note;          /* from --notes; NULL if none */
	uint64_t out, in;          /* bytes the host sent, received */
	uint64_t pkts_out, pkts_in, flows;
	size_t npeers;
	struct floe_daily_peer *peers;   /* biggest first */
	uint64_t *bins;            /* bytes per bin (nbins of them) */
};

struct floe_daily_result {
	int64_t start, end;        /* the period (ns): -t, else the records' first and last times */
	uint64_t flows;            /* records counted */
	uint64_t total, out, in, internal, transit;  /* bytes */
	uint64_t pkts;
	uint64_t hosts_seen;       /* distinct addresses seen */
	unsigned nbins;
	int64_t bin_ns;            /* bin width; bins start at start */
	size_t top, peers, ports;  /* the limits asked for */
	size_t nhosts;
	struct floe_daily_host *hosts;   /* biggest first; ties by address */
};

struct floe_daily;

/* NULL with eb set: NOMEM, LIMIT (top x peers x ports past 2^32). */
struct floe_daily *floe_daily_create(const struct floe_daily_opts *o, struct floe_errbuf *eb);
/* The pass the report wants next (1, 2), 0 when it is done. */
int floe_daily_pass(const struct floe_daily *d);
/* For pass 2: the addresses of the top hosts (a record not touching one
 * of them is not needed: sources may skip blocks by them).  Sets *n. */
const uint8_t (*floe_daily_hosts(const struct floe_daily *d, size_t *n))[16];
/* Adds a record to the current pass.  Errors are sticky
 * (floe_daily_error): IO (a spill file), NOMEM. */
FLOE_WUR enum floe_err floe_daily_add(struct floe_daily *d, const struct floe_flow *f);
/* Ends the current pass (emits its aggregates).  Errors as add. */
FLOE_WUR enum floe_err floe_daily_end_pass(struct floe_daily *d);
/* The report, valid until destroy; NULL before the last pass ended. */
const struct floe_daily_result *floe_daily_result(const struct floe_daily *d);
const char *floe_daily_error(const struct floe_daily *d);

struct floe_daily_stats {
	uint64_t records[2];       /* records added in each pass */
	uint64_t spills;           /* of every cluster operator */
	uint64_t groups;
	size_t peak;               /* bytes: the operators' largest use at once */
};
void floe_daily_stats(const struct floe_daily *d, struct floe_daily_stats *st);
void floe_daily_destroy(struct floe_daily *d);

/* ---- writing reports ---- */

enum floe_report_fmt { FLOE_REPORT_TEXT, FLOE_REPORT_CSV, FLOE_REPORT_JSON, FLOE_REPORT_HTML };

/* Parses "text", "csv", "json", "html"; -1 if none. */
int floe_report_fmt_parse(const char *s);

/* Formats v with thousands separators ("1,234,567"); returns buf. */
char *floe_report_thousands(char *buf, size_t len, uint64_t v);
/* Formats bytes for a reader: "512 B", "1.2 kB", "3.4 GB" (powers of
 * 1000); returns buf. */
char *floe_report_human(char *buf, size_t len, uint64_t v);

/* Writes the daily report in fmt (TEXT, JSON, HTML; CSV is INVALID).
 * local_text: how the local networks were given, for the header (may be
 * NULL).  IO if the stream fails. */
FLOE_WUR enum floe_err floe_daily_write(FILE *fp, enum floe_report_fmt fmt,
                                        const struct floe_daily_result *r, const char *local_text);

/* ---- accounting: bytes per customer per UTC day ---- */

struct floe_acct_opts {
	const struct floe_prefixes *customers;   /* borrowed */
	struct floe_timerange range;             /* -t: bytes on days outside it are left
	                                          * out; start >= end (zeroed): all days */
	struct floe_budget *budget;
};

/* One row: a customer's traffic on one day.  A record's bytes are
 * apportioned over the UTC days its [stime, ltime] covers, by time (the
 * parts add up exactly); out is what the customer's addresses sent to
 * addresses not the customer's, in what they received from them; a record
 * between two addresses of the same customer counts for neither. */
struct floe_acct_row {
	size_t customer;           /* label index in customers */
	int64_t day;               /* days since 1970-01-01 (UTC) */
	uint64_t out, in, flows;   /* flows: records that touched the day */
};

struct floe_acct;
struct floe_acct *floe_acct_create(const struct floe_acct_opts *o, struct floe_errbuf *eb);
/* NOMEM (sticky) when customers x days outgrow the budget. */
FLOE_WUR enum floe_err floe_acct_add(struct floe_acct *a, const struct floe_flow *f);
/* The rows ordered by day, then customer in file order; valid until
 * destroy.  Customers without traffic on a day have no row. */
const struct floe_acct_row *floe_acct_rows(struct floe_acct *a, size_t *n);
void floe_acct_destroy(struct floe_acct *a);

FLOE_WUR enum floe_err floe_acct_write(FILE *fp, enum floe_report_fmt fmt, const struct floe_acct_row *rows,
                                       size_t n, const struct floe_prefixes *customers);

/* ---- ports, talkers, broadcast: one pass, a top list ---- */

enum floe_rtop_kind {
	FLOE_RTOP_PORTS,      /* per (proto, service port, as daily's): bytes, and rate over
	                       * the time the port was active */
	FLOE_RTOP_TALKERS,    /* per subnet of the source, the top sources in it */
	FLOE_RTOP_BROADCAST,  /* per source, records to broadcast and multicast destinations */
};

struct floe_rtop_opts {
	enum floe_rtop_kind kind;
	size_t top;                  /* entries (PORTS, BROADCAST) or subnets (TALKERS); 0: 20 */
	size_t per;                  /* TALKERS: sources per subnet; 0: 5 */
	unsigned subnet4, subnet6;   /* TALKERS: prefix lengths, IPv4 and IPv6 terms (0: 24, 64) */
	struct floe_budget *budget;
	const char *tmpdir;
	const struct floe_log *log;
};

struct floe_rtop_row {
	uint8_t addr[16];          /* PORTS: unused; TALKERS: source; BROADCAST: source */
	uint8_t net[16];           /* TALKERS: the subnet */
	unsigned plen;             /* TALKERS: its length (128-bit terms) */
	uint8_t proto;             /* PORTS */
	uint16_t port;             /* PORTS */
	uint64_t bytes, pkts, flows;
	int64_t stime, ltime;      /* first and last time seen */
	double rate;               /* bits per second over [stime, ltime] (PORTS) */
	uint64_t dests;            /* BROADCAST: distinct destinations */
	uint64_t net_bytes;        /* TALKERS: the subnet's total */
};

struct floe_rtop;
struct floe_rtop *floe_rtop_create(const struct floe_rtop_opts *o, struct floe_errbuf *eb);
/* True if f counts for a broadcast report: to 255.255.255.255, to an IPv4
 * (224.0.0.0/4) or IPv6 (ff00::/8) multicast group, or, where the sensor
 * recorded MACs, to a broadcast or multicast MAC (ff:ff:ff:ff:ff:ff,
 * 01:..., 33:33:...), which also catches directed broadcasts. */
bool floe_rtop_is_broadcast(const struct floe_flow *f);
/* Adds f (BROADCAST: only if floe_rtop_is_broadcast).  Errors are sticky
 * (floe_rtop_error): IO (a spill file), NOMEM. */
FLOE_WUR enum floe_err floe_rtop_add(struct floe_rtop *t, const struct floe_flow *f);
/* Finishes and returns the rows: PORTS the top by bytes, then (second
 * list, *n2 of them) the top by rate; TALKERS subnet by subnet (biggest
 * first), each subnet's sources biggest first; BROADCAST by bytes. */
FLOE_WUR enum floe_err floe_rtop_finish(struct floe_rtop *t, const struct floe_rtop_row **rows, size_t *n,
                                        const struct floe_rtop_row **rows2, size_t *n2);
const char *floe_rtop_error(const struct floe_rtop *t);
void floe_rtop_destroy(struct floe_rtop *t);

FLOE_WUR enum floe_err floe_rtop_write(FILE *fp, enum floe_report_fmt fmt, enum floe_rtop_kind kind,
                                       const struct floe_rtop_row *rows, size_t n,
                                       const struct floe_rtop_row *rows2, size_t n2);

#endif
