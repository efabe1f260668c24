/*
 * detect.h - detectors over flow records (floe detect; docs/detect.md):
 * scanners, local hosts sending mail to many servers, watchlist hits,
 * beacons (regular check-ins) and per-host baselines against their own past.
 *
 * A detector is fed records in one or two passes and then hands back its
 * findings, sorted (host, time, kind, ...), so the same input gives the same
 * output whatever the memory budget:
 *
 *   d = floe_detect_create(&opts, &eb);
 *   for each record:   floe_detect_add(d, f);           pass 1
 *   floe_detect_end_pass(d);
 *   if floe_detect_pass2(d, ...):                        pass 2, same input
 *       for each record: floe_detect_add2(d, f, path);   (examples, files)
 *   floe_detect_findings(d, &fs, &n);
 *
 * Memory is bounded by opts.budget: the counting is done by the query
 * layer's operators (query/cluster.h groups per source and window with
 * distinct counts, query/sort.h orders start times per connection key), both
 * of which spill to temporary files past the budget.  What the detector
 * itself keeps is the findings (at most opts.max_findings) and, in pass 2, a
 * few examples per finding.
 *
 * Records are borrowed during each call.  Must not depend on: codec,
 * archive, filter, output, the CLI.
 */
#ifndef FLOE_DETECT_H
#define FLOE_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flow.h"
#include "detect/watchlist.h"
#include "util/netset.h"

struct floe_budget;

enum floe_detect_kind {
	FLOE_DETECT_SCAN,
	FLOE_DETECT_SMTP,
	FLOE_DETECT_WATCH,
	FLOE_DETECT_BEACON,
	FLOE_DETECT_BASELINE,
};

/* What a finding says (the "finding" field of the JSON output). */
enum floe_finding_type {
	FLOE_FIND_HSCAN,       /* one port, many addresses */
	FLOE_FIND_VSCAN,       /* one address, many ports */
	FLOE_FIND_SMTP,        /* mail to many servers in one window */
	FLOE_FIND_WATCH,       /* flows touching watchlist entries */
	FLOE_FIND_BEACON,      /* regular connections to one remote service */
	FLOE_FIND_TOP,         /* in the period's top list, not in its history's */
	FLOE_FIND_VOLUME,      /* a day's volume far above its usual */
	FLOE_FIND_PEERS,       /* a day's distinct peers far above its usual */
	FLOE_FIND_SERVICE,     /* a port/service never used in the history */
	FLOE_FIND__COUNT
};

/* The name of a finding type ("hscan", "vscan", "smtp", "watch", "beacon",
 * "top", "volume", "peers", "service"). */
const char *floe_finding_name(enum floe_finding_type t);

#define FLOE_FINDING_EXAMPLES 5
#define FLOE_FINDING_FILES 4

/* One finding; fields a type does not use are 0. */
struct floe_finding {
	enum floe_finding_type type;
	uint8_t host[16];        /* scanner, sender, local host */
	uint8_t peer[16];        /* vscan target, beacon remote; :: if none */
	uint16_t port;           /* hscan / beacon / service port */
	uint8_t proto;
	uint8_t dir;             /* service: 0 used as a client, 1 as a server */
	int64_t t0, t1;          /* window, day, or first and last seen */
	uint64_t flows;          /* flows counted */
	uint64_t targets;        /* distinct addresses (hscan, smtp), ports (vscan) */
	uint64_t bytes;          /* watch: bytes; volume: the day's bytes */
	double ratio;            /* scan: success ratio; beacon: CV of intervals */
	double value;            /* beacon: mean interval s; volume, peers: value */
	double usual;            /* volume, peers: history mean; top: history rank */
	double spread;           /* volume, peers: history sd */
	unsigned rank;           /* top: rank in the period */
	/* examples: scan targets (addresses, or ports in ex_ports), smtp servers */
	uint8_t examples[FLOE_FINDING_EXAMPLES][16];
	uint16_t ex_ports[FLOE_FINDING_EXAMPLES];
	unsigned nexamples;
	/* smtp: the files holding the flows (pass 2); watch: list entries */
	char files[FLOE_FINDING_FILES][256];
	unsigned nfiles;
	uint32_t entries[FLOE_FINDING_EXAMPLES];   /* watch: entry indexes */
	unsigned nentries;       /* watch: entries hit (may exceed the array) */
};

struct floe_detect_opts {
	enum floe_detect_kind kind;
	const struct floe_netset *local;   /* borrowed; NULL = no local networks */
	int64_t window;          /* ns: scan, smtp, beacon bins; baseline: day */
	/* scan */
	uint64_t scan_hosts;     /* horizontal: at least this many addresses */
	uint64_t scan_ports;     /* vertical: at least this many ports */
	double scan_max_success; /* and at most this success ratio */
	/* smtp */
	uint64_t smtp_servers;   /* more than this many servers */
	const uint16_t *smtp_ports;  /* borrowed */
	size_t nsmtp_ports;
	/* watch */
	const struct floe_watchlist *watch;  /* borrowed */
	/* beacon */
	uint64_t beacon_min;     /* at least this many connections */
	double beacon_max_cv;    /* coefficient of variation of the intervals */
	int64_t beacon_min_interval;  /* ns: mean interval at least this */
	/* baseline */
	int64_t period_start, period_end;  /* ns: the period; history before it */
	int64_t history;         /* ns */
	double base_k;           /* mean + k * sd */
	uint64_t base_min_bytes; /* a day's volume below this is never flagged */
	uint64_t base_min_peers; /* nor a day's peers below this */
	unsigned base_top;       /* the top list's length */
	/* all */
	size_t max_findings;     /* 0 = 10000 */
	struct floe_budget *budget;  /* borrowed; NULL = unlimited */
	const char *tmpdir;
	const struct floe_log *log;
};

struct floe_detect;

/* NULL with eb set: INVALID (missing threshold or list), NOMEM. */
struct floe_detect *floe_detect_create(const struct floe_detect_opts *o, struct floe_errbuf *eb);
void floe_detect_destroy(struct floe_detect *d);

/* Pass 1: one record (already within the time range and the filter).
 * Sticky errors: NOMEM, IO (a spill file). */
FLOE_WUR enum floe_err floe_detect_add(struct floe_detect *d, const struct floe_flow *f);
/* Ends pass 1: counts, applies the thresholds.  NOMEM, IO, LIMIT. */
FLOE_WUR enum floe_err floe_detect_end_pass(struct floe_detect *d);
/* True if a second pass over the same records adds examples or file
 * names.  *addrs (owned by d) and *n: a record matters only if one of these
 * is its saddr or daddr (for the source's skipping; *n = 0: any). */
bool floe_detect_pass2(const struct floe_detect *d, const uint8_t (**addrs)[16], size_t *n);
/* Pass 2: one record, from file path (may be NULL). */
void floe_detect_add2(struct floe_detect *d, const struct floe_flow *f, const char *path);
/* The findings, sorted; valid until destroy.  *more: findings past
 * max_findings that were dropped. */
void floe_detect_findings(const struct floe_detect *d, const struct floe_finding **fs, size_t *n,
                          uint64_t *more);
const char *floe_detect_error(const struct floe_detect *d);
/* Times the counting went to disk: cluster spills plus sorted runs'
 * records (0: everything fitted in the budget).  After end_pass. */
uint64_t floe_detect_spills(const struct floe_detect *d);

/* True if the handshake of f completed: TCP, both sides sent ACK (a SYN
 * scan's probe, refused or answered by the scanner's RST, never does);
 * other protocols, the responder answered.  A one-way record of a router
 * export (an exporter, no packets back) cannot show the answer: there the
 * initiator's ACK (TCP) or the record itself counts. */
bool floe_flow_completed(const struct floe_flow *f);

#endif
