/*
 * cmd_detect.c - `floe detect`: scanners, mail spam, watchlist hits,
 * beacons and per-host baselines (libfloe detect/detect.h; docs/detect.md).
 *
 *   floe detect DETECTOR -r FILE... | -R DIR... [-t RANGE] [--local NETS]
 *               [-o text|json] [--memory SIZE] [detector options] [FILTER]
 *
 * Reads the records once to count (twice for scan and smtp, the second time
 * only the flagged hosts' records, for examples and file names), prints one
 * line per finding after a header stating the thresholds (text), or one
 * JSON object per finding with the thresholds in a field (-o json, for a
 * SIEM).  Exit status 0 whether or not something was found.
 */
#include "cli.h"
#include "archive/source.h"
#include "codec/codec.h"
#include "detect/detect.h"
#include "detect/watchlist.h"
#include "filter/filter.h"
#include "query/output.h"
#include "util/addr.h"
#include "util/mem.h"
#include "util/timefmt.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char detect_help[] =
	"usage: floe detect DETECTOR -r FILE... | -R DIR... [options] [FILTER]\n"
	"\n"
	"Detectors (docs/detect.md):\n"
	"  scan      sources reaching many addresses on one port (hscan) or many ports\n"
	"            on one address (vscan) in a window, mostly without completed\n"
	"            connections\n"
	"  smtp      local hosts sending mail to more than N distinct servers in a window\n"
	"  watch     flows touching listed addresses or networks, per local host\n"
	"  beacon    connections to the same remote address and port at regular\n"
	"            intervals\n"
	"  baseline  each local host in the period (-t) against its own history:\n"
	"            new in the top list, volume or distinct peers far above usual,\n"
	"            a port it never used\n"
	"\n"
	"Common options:\n"
	"  -r FILE... / -R DIR... / -t RANGE   the records (as floe read)\n"
	"  --local NETS     the local networks (or @FILE); needed by baseline\n"
	"  -o FORMAT        text (default) or json: one JSON object per line\n"
	"  --memory SIZE    memory budget of the counting (default 256M); spills past it\n"
	"  --max-findings N at most N findings (default 10000)\n"
	"  --stats          print what each pass read and skipped, the memory peak and\n"
	"                   spills to stderr\n"
	"\n"
	"scan:     --window DUR (5m)  --hosts N (100)  --ports N (100)  --max-success R (0.2)\n"
	"smtp:     --window DUR (1h)  --servers N (50)  --mail-ports LIST (25; e.g. 25,465,587)\n"
	"watch:    --list FILE (required: ADDR[/LEN] per line, '#' comments)\n"
	"beacon:   --min-conns N (10)  --max-cv R (0.2)  --min-interval DUR (1s)\n"
	"baseline: --history DUR (14d)  --window DUR (1d)  --k K (3)  --min-bytes SIZE (10M)\n"
	"          --min-peers N (20)  --top N (10); -t gives the period (required)\n"
	"\n"
	"FILTER is tcpdump-like and applies before detection (docs/filter.md).\n";

/* Values of the detector options, with their defaults. */
struct detect_args {
	int64_t window;
	uint64_t hosts, ports, servers, min_conns, min_peers, top, max_findings, memory;
	uint64_t min_bytes;
	double max_success, max_cv, k;
	int64_t min_interval, history;
	const char *list;
	uint16_t mail_ports[16];
	size_t nmail_ports;
	bool window_set;
};

enum argtype { A_DUR, A_COUNT, A_SIZE, A_RATIO, A_STR, A_PORTS };

/* The detector options: name, type, where the value goes. */
/* Which detectors take an option (bit 1 << enum floe_detect_kind). */
#define D_SCAN (1u << FLOE_DETECT_SCAN)
#define D_SMTP (1u << FLOE_DETECT_SMTP)
#define D_WATCH (1u << FLOE_DETECT_WATCH)
#define D_BEACON (1u << FLOE_DETECT_BEACON)
#define D_BASE (1u << FLOE_DETECT_BASELINE)
#define D_ALL (D_SCAN | D_SMTP | D_WATCH | D_BEACON | D_BASE)

static const struct detopt {
	const char *name;
	enum argtype type;
	size_t off;
	unsigned kinds;
} detopts[] = {
	{"--window", A_DUR, offsetof(struct detect_args, window), D_SCAN | D_SMTP | D_BASE},
	{"--hosts", A_COUNT, offsetof(struct detect_args, hosts), D_SCAN},
	{"--ports", A_COUNT, offsetof(struct detect_args, ports), D_SCAN},
	{"--max-success", A_RATIO, offsetof(struct detect_args, max_success), D_SCAN},
	{"--servers", A_COUNT, offsetof(struct detect_args, servers), D_SMTP},
	{"--mail-ports", A_PORTS, 0, D_SMTP},
	{"--list", A_STR, offsetof(struct detect_args, list), D_WATCH},
	{"--min-conns", A_COUNT, offsetof(struct detect_args, min_conns), D_BEACON},
	{"--max-cv", A_RATIO, offsetof(struct detect_args, max_cv), D_BEACON},
	{"--min-interval", A_DUR, offsetof(struct detect_args, min_interval), D_BEACON},
	{"--history", A_DUR, offsetof(struct detect_args, history), D_BASE},
	{"--k", A_RATIO, offsetof(struct detect_args, k), D_BASE},
	{"--min-bytes", A_SIZE, offsetof(struct detect_args, min_bytes), D_BASE},
	{"--min-peers", A_COUNT, offsetof(struct detect_args, min_peers), D_BASE},
	{"--top", A_COUNT, offsetof(struct detect_args, top), D_BASE},
	{"--max-findings", A_COUNT, offsetof(struct detect_args, max_findings), D_ALL},
	{"--memory", A_SIZE, offsetof(struct detect_args, memory), D_ALL},
};

/* The detectors: name, kind, default window. */
static const struct detector {
	const char *name;
	enum floe_detect_kind kind;
	int64_t window;
} detectors[] = {
	{"scan", FLOE_DETECT_SCAN, 300LL * 1000000000},
	{"smtp", FLOE_DETECT_SMTP, 3600LL * 1000000000},
	{"watch", FLOE_DETECT_WATCH, 3600LL * 1000000000},
	{"beacon", FLOE_DETECT_BEACON, 3600LL * 1000000000},
	{"baseline", FLOE_DETECT_BASELINE, 86400LL * 1000000000},
};

static bool parse_ports(const char *s, struct detect_args *a)
{
	a->nmail_ports = 0;
	while (*s) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v == 0 || v > 65535 || a->nmail_ports == 16)
			return false;
		a->mail_ports[a->nmail_ports++] = (uint16_t)v;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return false;
	}
	return a->nmail_ports > 0;
}

static bool parse_detopt(const struct detopt *d, const char *v, struct detect_args *a)
{
	void *p = (char *)a + d->off;
	char *end;
	switch (d->type) {
	case A_DUR:
		return cli_parse_duration(v, p) && *(int64_t *)p > 0;
	case A_COUNT:
		return cli_parse_count(v, p);
	case A_SIZE:
		return cli_parse_size(v, p);
	case A_RATIO:
		*(double *)p = strtod(v, &end);
		return end != v && !*end && *(double *)p >= 0;
	case A_STR:
		*(const char **)p = v;
		return true;
	case A_PORTS:
		return parse_ports(v, a);
	}
	return false;
}

/* ---- output ---- */

static void fmt_time(int64_t t, char *buf, size_t len)
{
	floe_time_format(t, FLOE_TIME_RFC3339, 0, buf, len);
}

static void fmt_dur(int64_t ns, char *buf, size_t len)
{
	int64_t s = ns / 1000000000;
	if (ns % 1000000000 != 0 || s == 0)
		snprintf(buf, len, "%gs", (double)ns / 1e9);
	else if (s % 86400 == 0)
		snprintf(buf, len, "%" PRId64 "d", s / 86400);
	else if (s % 3600 == 0)
		snprintf(buf, len, "%" PRId64 "h", s / 3600);
	else if (s % 60 == 0)
		snprintf(buf, len, "%" PRId64 "m", s / 60);
	else
		snprintf(buf, len, "%gs", (double)ns / 1e9);
}

static const char *proto_str(unsigned p, char *buf, size_t len)
{
	const char *n = floe_proto_name(p);
	if (n)
		return n;
	snprintf(buf, len, "%u", p);
	return buf;
}

/* The scanner's side relative to --local: out, in, internal, external. */
static const char *side(const struct cli_opts *o, const struct floe_finding *x)
{
	if (!o->local)
		return "-";
	bool h = floe_netset_contains(o->local, x->host);
	/* the targets' side: the vscan's one, an hscan's first example */
	bool p = x->type == FLOE_FIND_VSCAN ? floe_netset_contains(o->local, x->peer)
	         : x->nexamples ? floe_netset_contains(o->local, x->examples[0]) : !h;
	return h ? (p ? "internal" : "out") : (p ? "in" : "external");
}

/* One finding's fields as (name, text, quoted) triples, the same for text
 * and JSON output. */
struct kv {
	const char *k;
	char v[1200];
	bool str;   /* a JSON string, not a number or array */
};

#define KV_MAX 16

static void kv_add(struct kv *kv, size_t *n, const char *k, bool str, const char *fmt, ...)
	FLOE_PRINTF(5, 6);
static void kv_add(struct kv *kv, size_t *n, const char *k, bool str, const char *fmt, ...)
{
	if (*n >= KV_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	kv[*n].k = k;
	kv[*n].str = str;
	vsnprintf(kv[*n].v, sizeof(kv[*n].v), fmt, ap);
	va_end(ap);
	(*n)++;
}

/* Appends s to buf (capacity cap, length *len) as a JSON string, or as
 * it is; false (buf unchanged) if it does not fit whole. */
static bool append_item(char *buf, size_t cap, size_t *len, const char *s, bool json)
{
	size_t n = *len;
	if (json && n < cap)
		buf[n++] = '"';
	for (; *s && n + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (json && (c == '"' || c == '\\'))
			n += (size_t)snprintf(buf + n, cap - n, "\\%c", c);
		else if (json && c < 0x20)
			n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
		else
			buf[n++] = (char)c;
	}
	if (*s || n + 2 >= cap)
		return false;
	if (json)
		buf[n++] = '"';
	buf[n] = '\0';
	*len = n;
	return true;
}

/* A list of addresses, ports, entries or files: text joined by spaces, or
 * a JSON array; items that do not fit are left out whole. */
static void list_add(struct kv *kv, size_t *n, const char *k, bool json, const char *const *items,
                     size_t count)
{
	char buf[sizeof(kv->v)];
	size_t len = 0, cap = sizeof(buf) - 2;   /* room for "]" */
	buf[0] = '\0';
	if (json)
		buf[len++] = '[';
	for (size_t i = 0; i < count; i++) {
		size_t mark = len;
		if (i)
			buf[len++] = json ? ',' : ' ';
		if (!append_item(buf, cap, &len, items[i], json)) {
			len = mark;
			break;
		}
	}
	if (json)
		buf[len++] = ']';
	buf[len] = '\0';
	kv_add(kv, n, k, false, "%s", buf);
}

static size_t finding_kv(const struct cli_opts *o, const struct floe_watchlist *wl,
                         const struct floe_finding *x, bool json, struct kv *kv)
{
	size_t n = 0;
	char a[FLOE_ADDRSTRLEN], t0[40], t1[40], pb[8];
	floe_addr_format(x->host, a, sizeof(a));
	fmt_time(x->t0, t0, sizeof(t0));
	fmt_time(x->t1, t1, sizeof(t1));
	const char *proto = proto_str(x->proto, pb, sizeof(pb));
	kv_add(kv, &n, "host", true, "%s", a);
	char items[FLOE_FINDING_EXAMPLES][FLOE_ADDRSTRLEN + 8];
	const char *ip[FLOE_FINDING_FILES > FLOE_FINDING_EXAMPLES ? FLOE_FINDING_FILES
	                                                          : FLOE_FINDING_EXAMPLES];
	switch (x->type) {
	case FLOE_FIND_HSCAN:
	case FLOE_FIND_VSCAN:
		kv_add(kv, &n, "dir", true, "%s", side(o, x));
		kv_add(kv, &n, "start", true, "%s", t0);
		kv_add(kv, &n, "end", true, "%s", t1);
		kv_add(kv, &n, "proto", true, "%s", proto);
		if (x->type == FLOE_FIND_HSCAN) {
			kv_add(kv, &n, "port", false, "%u", x->port);
		} else {
			floe_addr_format(x->peer, a, sizeof(a));
			kv_add(kv, &n, "target", true, "%s", a);
		}
		kv_add(kv, &n, x->type == FLOE_FIND_HSCAN ? "addresses" : "ports", false,
		       "%" PRIu64, x->targets);
		kv_add(kv, &n, "flows", false, "%" PRIu64, x->flows);
		kv_add(kv, &n, "success", false, "%.3f", x->ratio);
		for (unsigned i = 0; i < x->nexamples; i++) {
			if (x->type == FLOE_FIND_HSCAN)
				floe_addr_format(x->examples[i], items[i], sizeof(items[i]));
			else
				snprintf(items[i], sizeof(items[i]), "%u", x->ex_ports[i]);
			ip[i] = items[i];
		}
		list_add(kv, &n, "examples", json, ip, x->nexamples);
		break;
	case FLOE_FIND_SMTP:
		kv_add(kv, &n, "start", true, "%s", t0);
		kv_add(kv, &n, "end", true, "%s", t1);
		kv_add(kv, &n, "servers", false, "%" PRIu64, x->targets);
		kv_add(kv, &n, "flows", false, "%" PRIu64, x->flows);
		for (unsigned i = 0; i < x->nexamples; i++) {
			floe_addr_format(x->examples[i], items[i], sizeof(items[i]));
			ip[i] = items[i];
		}
		list_add(kv, &n, "examples", json, ip, x->nexamples);
		for (unsigned i = 0; i < x->nfiles; i++)
			ip[i] = x->files[i];
		list_add(kv, &n, "files", json, ip, x->nfiles);
		break;
	case FLOE_FIND_WATCH:
		kv_add(kv, &n, "first", true, "%s", t0);
		kv_add(kv, &n, "last", true, "%s", t1);
		kv_add(kv, &n, "flows", false, "%" PRIu64, x->flows);
		kv_add(kv, &n, "bytes", false, "%" PRIu64, x->bytes);
		kv_add(kv, &n, "nentries", false, "%u", x->nentries);
		{
			unsigned ne = x->nentries < FLOE_FINDING_EXAMPLES ? x->nentries
			                                                  : FLOE_FINDING_EXAMPLES;
			for (unsigned i = 0; i < ne; i++) {
				floe_watchlist_format(wl, x->entries[i], items[i], sizeof(items[i]));
				ip[i] = items[i];
			}
			list_add(kv, &n, "entries", json, ip, ne);
		}
		break;
	case FLOE_FIND_BEACON:
		floe_addr_format(x->peer, a, sizeof(a));
		kv_add(kv, &n, "remote", true, "%s", a);
		kv_add(kv, &n, "proto", true, "%s", proto);
		kv_add(kv, &n, "port", false, "%u", x->port);
		kv_add(kv, &n, "first", true, "%s", t0);
		kv_add(kv, &n, "last", true, "%s", t1);
		kv_add(kv, &n, "connections", false, "%" PRIu64, x->flows);
		kv_add(kv, &n, "interval", false, "%.3f", x->value);
		kv_add(kv, &n, "cv", false, "%.3f", x->ratio);
		break;
	case FLOE_FIND_TOP:
		kv_add(kv, &n, "rank", false, "%u", x->rank);
		kv_add(kv, &n, "bytes", false, "%" PRIu64, x->bytes);
		break;
	case FLOE_FIND_VOLUME:
	case FLOE_FIND_PEERS:
		kv_add(kv, &n, "day", true, "%s", t0);
		kv_add(kv, &n, x->type == FLOE_FIND_VOLUME ? "bytes" : "peers", false, "%.0f", x->value);
		kv_add(kv, &n, "usual", false, "%.1f", x->usual);
		kv_add(kv, &n, "sd", false, "%.1f", x->spread);
		break;
	case FLOE_FIND_SERVICE:
		kv_add(kv, &n, "proto", true, "%s", proto);
		kv_add(kv, &n, "port", false, "%u", x->port);
		kv_add(kv, &n, "as", true, "%s", x->dir ? "server" : "client");
		kv_add(kv, &n, "first", true, "%s", t0);
		kv_add(kv, &n, "flows", false, "%" PRIu64, x->flows);
		break;
	default:
		break;
	}
	return n;
}

/* The thresholds of the run, as "name value" pairs. */
static size_t thresholds(enum floe_detect_kind k, const struct detect_args *a, struct kv *kv)
{
	size_t n = 0;
	char w[32];
	fmt_dur(a->window, w, sizeof(w));
	switch (k) {
	case FLOE_DETECT_SCAN:
		kv_add(kv, &n, "window", true, "%s", w);
		kv_add(kv, &n, "hosts", false, "%" PRIu64, a->hosts);
		kv_add(kv, &n, "ports", false, "%" PRIu64, a->ports);
		kv_add(kv, &n, "max_success", false, "%g", a->max_success);
		break;
	case FLOE_DETECT_SMTP: {
		char p[96];
		size_t len = 0;
		for (size_t i = 0; i < a->nmail_ports; i++)
			len += (size_t)snprintf(p + len, sizeof(p) - len, "%s%u", i ? "," : "",
			                        a->mail_ports[i]);
		kv_add(kv, &n, "window", true, "%s", w);
		kv_add(kv, &n, "servers", false, "%" PRIu64, a->servers);
		kv_add(kv, &n, "mail_ports", true, "%s", p);
		break;
	}
	case FLOE_DETECT_WATCH:
		kv_add(kv, &n, "list", true, "%s", a->list);
		break;
	case FLOE_DETECT_BEACON:
		fmt_dur(a->min_interval, w, sizeof(w));
		kv_add(kv, &n, "min_conns", false, "%" PRIu64, a->min_conns);
		kv_add(kv, &n, "max_cv", false, "%g", a->max_cv);
		kv_add(kv, &n, "min_interval", true, "%s", w);
		break;
	case FLOE_DETECT_BASELINE: {
		char h[32];
		fmt_dur(a->history, h, sizeof(h));
		kv_add(kv, &n, "history", true, "%s", h);
		kv_add(kv, &n, "window", true, "%s", w);
		kv_add(kv, &n, "k", false, "%g", a->k);
		kv_add(kv, &n, "min_bytes", false, "%" PRIu64, a->min_bytes);
		kv_add(kv, &n, "min_peers", false, "%" PRIu64, a->min_peers);
		kv_add(kv, &n, "top", false, "%" PRIu64, a->top);
		break;
	}
	}
	return n;
}

static void print_json_kv(FILE *fp, const struct kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(fp, "%s", i ? "," : "");
		floe_output_json_string(fp, kv[i].k);
		fputc(':', fp);
		if (kv[i].str)
			floe_output_json_string(fp, kv[i].v);
		else
			fputs(kv[i].v, fp);
	}
}

static int print_findings(const struct cli_opts *o, const struct detector *det,
                          const struct detect_args *a, const struct floe_watchlist *wl,
                          const struct floe_finding *fs, size_t nfs, uint64_t more)
{
	bool json = o->outfmt == FLOE_OUT_JSON;
	struct kv th[KV_MAX], kv[KV_MAX];
	size_t nth = thresholds(det->kind, a, th);
	if (!json && !o->no_header) {
		printf("# floe detect %s:", det->name);
		for (size_t i = 0; i < nth; i++)
			printf(" %s %s", th[i].k, th[i].v);
		printf("; %zu finding%s%s\n", nfs, nfs == 1 ? "" : "s",
		       more ? " (more dropped: --max-findings)" : "");
	}
	for (size_t i = 0; i < nfs; i++) {
		size_t n = finding_kv(o, wl, &fs[i], json, kv);
		if (json) {
			printf("{\"detector\":\"%s\",\"finding\":\"%s\",", det->name,
			       floe_finding_name(fs[i].type));
			print_json_kv(stdout, kv, n);
			printf(",\"thresholds\":{");
			print_json_kv(stdout, th, nth);
			printf("}}\n");
		} else {
			printf("%-7s", floe_finding_name(fs[i].type));
			for (size_t k = 0; k < n; k++)
				printf(k ? "  %s %s" : " %s %s", kv[k].k, kv[k].v);
			printf("\n");
		}
	}
	if (more)
		cli_warn(o, "%" PRIu64 " findings past --max-findings %zu not shown", more, nfs);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error(o, "cannot write the findings");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ---- reading ---- */

#define COLS(m) floe_columns_of(offsetof(struct floe_flow, m), sizeof(((struct floe_flow *)0)->m))

/* The columns the detectors read (detect.c), and the filter's: the others
 * are not decoded.  All of them if the filter reads a derived field. */
static uint64_t detect_columns(const struct floe_filter *filter)
{
	uint64_t fc = filter ? cli_filter_columns(filter) : 0;
	if (filter && !fc)
		return 0;
	return fc | COLS(stime) | COLS(ltime) | COLS(saddr) | COLS(daddr) | COLS(sport) |
	       COLS(dport) | COLS(proto) | COLS(ipver) | COLS(etype) | COLS(flags) | COLS(spkts) |
	       COLS(dpkts) | COLS(sbytes) | COLS(dbytes) | COLS(stcpflags) | COLS(dtcpflags) |
	       COLS(exporter);
}

static struct floe_source *open_source(const struct cli_opts *o, struct floe_timerange range,
                                       const uint8_t (*addrs)[16], size_t naddrs,
                                       uint64_t columns)
{
	struct floe_source_opts so = {.range = range, .addrs = addrs, .naddrs = naddrs,
	                              .no_index = o->no_index, .log = cli_log(),
	                              .threads = cli_read_threads(), .columns = columns};
	return cli_source_open(o, &so);
}

/* Feeds every record in range that passes the filter to the detector:
 * pass 1 (floe_detect_add) or pass 2 (floe_detect_add2).  Counts damage. */
static int feed(const struct cli_opts *o, struct floe_detect *d, struct floe_filter *filter,
                struct floe_timerange range, const uint8_t (*addrs)[16], size_t naddrs,
                bool second, bool *damaged)
{
	struct floe_source *src = open_source(o, range, addrs, naddrs, detect_columns(filter));
	if (!src)
		return EXIT_FAIL;
	int rc = EXIT_OK;
	for (;;) {
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = floe_source_next(src, &recs, &n);
		if (e == FLOE_EOF)
			break;
		if (e != FLOE_OK) {
			cli_error(o, "%s", floe_source_error(src));
			rc = EXIT_FAIL;
			break;
		}
		const char *path = floe_source_path(src);
		for (size_t i = 0; i < n; i++) {
			if (!floe_timerange_overlaps(&range, recs[i].stime, recs[i].ltime))
				continue;
			if (filter && !floe_filter_match(filter, &recs[i]))
				continue;
			if (second) {
				floe_detect_add2(d, &recs[i], path);
			} else if (floe_detect_add(d, &recs[i]) != FLOE_OK) {
				cli_error(o, "%s", floe_detect_error(d));
				rc = EXIT_FAIL;
				break;
			}
		}
		if (rc != EXIT_OK)
			break;
	}
	struct floe_source_stats ss;
	floe_source_stats(src, &ss);
	*damaged |= ss.blocks_damaged || ss.files_failed;
	if (o->stats)
		fprintf(stderr, "pass %d: files read %" PRIu64 ", skipped by address %" PRIu64
		        "; blocks read %" PRIu64 ", skipped %" PRIu64 "; records %" PRIu64 "\n",
		        second ? 2 : 1, ss.files_read, ss.files_skipped_addr, ss.blocks_read,
		        ss.blocks_skipped, ss.records);
	floe_source_destroy(src);
	return rc;
}

/* Splits argv into the detector options (into a) and the rest (into
 * rest, for cli_parse).  Returns EXIT_OK or EXIT_USAGE. */
static int split_args(const struct detector *det, int argc, char **argv, struct detect_args *a,
                      char **rest, int *nrest)
{
	*nrest = 0;
	for (int i = 0; i < argc; i++) {
		const struct detopt *d = NULL;
		for (size_t k = 0; k < sizeof(detopts) / sizeof(detopts[0]); k++)
			if (strcmp(argv[i], detopts[k].name) == 0)
				d = &detopts[k];
		if (!d) {
			rest[(*nrest)++] = argv[i];
			continue;
		}
		if (!(d->kinds & 1u << det->kind)) {
			fprintf(stderr, "floe detect: %s is not an option of detect %s (try 'floe detect "
			        "--help')\n", argv[i], det->name);
			return EXIT_USAGE;
		}
		if (i + 1 >= argc || !parse_detopt(d, argv[i + 1], a)) {
			fprintf(stderr, "floe detect: bad or missing value for %s (try 'floe detect --help')\n",
			        argv[i]);
			return EXIT_USAGE;
		}
		if (d->off == offsetof(struct detect_args, window) && d->type == A_DUR)
			a->window_set = true;
		i++;
	}
	rest[*nrest] = NULL;
	return EXIT_OK;
}

static struct floe_watchlist *load_list(const struct cli_opts *o, const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		cli_error(o, "cannot open watchlist '%s'", path);
		return NULL;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 1 << 16;
			char *nt = realloc(text, nc);
			if (!nt) {
				free(text);
				fclose(fp);
				cli_error(o, "cannot read watchlist '%s': out of memory", path);
				return NULL;
			}
			text = nt;
			cap = nc;
		}
		size_t got = fread(text + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	bool bad = ferror(fp);
	fclose(fp);
	if (bad) {
		free(text);
		cli_error(o, "cannot read watchlist '%s'", path);
		return NULL;
	}
	struct floe_errbuf eb = {0};
	struct floe_watchlist *wl = floe_watchlist_parse(text, len, NULL, &eb);
	free(text);
	if (!wl)
		cli_error(o, "watchlist '%s': %s", path, eb.msg);
	return wl;
}

int cmd_detect(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		fputs(detect_help, argc < 1 ? stderr : stdout);
		return argc < 1 ? EXIT_USAGE : EXIT_OK;
	}
	const struct detector *det = NULL;
	for (size_t i = 0; i < sizeof(detectors) / sizeof(detectors[0]); i++)
		if (strcmp(argv[0], detectors[i].name) == 0)
			det = &detectors[i];
	if (!det) {
		fprintf(stderr, "floe detect: unknown detector '%s' (scan, smtp, watch, beacon, "
		                "baseline)\n", argv[0]);
		return EXIT_USAGE;
	}
	struct detect_args a = {.hosts = 100, .ports = 100, .max_success = 0.2, .servers = 50,
	                        .min_conns = 10, .max_cv = 0.2, .min_interval = 1000000000LL,
	                        .history = 14 * 86400LL * 1000000000, .k = 3,
	                        .min_bytes = 10u << 20, .min_peers = 20, .top = 10,
	                        .max_findings = 10000, .memory = CLI_DEFAULT_MEMORY,
	                        .mail_ports = {25}, .nmail_ports = 1};
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return EXIT_FAIL;
	int nrest, rc = split_args(det, argc - 1, argv + 1, &a, rest, &nrest);
	if (rc != EXIT_OK) {
		free(rest);
		return rc;
	}
	if (!a.window_set)
		a.window = det->window;
	char cmdname[32];
	snprintf(cmdname, sizeof(cmdname), "detect %s", det->name);
	struct cli_opts o = {.cmd = cmdname};
	if (!cli_begin(&o, OPT_READ | OPT_PRINT | OPT_SOURCE, nrest, rest, detect_help, &rc)) {
		free(rest);
		return rc;
	}
	free(rest);

	struct floe_budget budget;
	floe_budget_init(&budget, a.memory);
	struct floe_filter *filter = NULL;
	struct floe_watchlist *wl = NULL;
	struct floe_detect *d = NULL;
	rc = EXIT_USAGE;
	if (o.nrfiles == 0 && o.nrdirs == 0) {
		cli_error(&o, "no input: give -r FILE or -R DIR (try 'floe detect --help')");
		goto out;
	}
	if (o.outfmt == FLOE_OUT_CSV) {
		cli_error(&o, "-o takes text or json");
		goto out;
	}
	struct floe_errbuf eb = {0};
	if (o.filter) {
		struct floe_filter_opts fo = {.local = o.local};
		filter = floe_filter_compile_opts(o.filter, &fo, &eb);
		if (!filter) {
			cli_error(&o, "bad filter '%s': %s", o.filter, eb.msg);
			goto out;
		}
	}
	struct floe_timerange range = o.trange;
	struct floe_detect_opts dop = {
		.kind = det->kind, .local = o.local, .window = a.window,
		.scan_hosts = a.hosts, .scan_ports = a.ports, .scan_max_success = a.max_success,
		.smtp_servers = a.servers, .smtp_ports = a.mail_ports, .nsmtp_ports = a.nmail_ports,
		.beacon_min = a.min_conns, .beacon_max_cv = a.max_cv,
		.beacon_min_interval = a.min_interval,
		.history = a.history, .base_k = a.k, .base_min_bytes = a.min_bytes,
		.base_min_peers = a.min_peers, .base_top = (unsigned)(a.top > 1000 ? 1000 : a.top),
		.max_findings = (size_t)a.max_findings, .budget = &budget, .log = cli_log()};
	if (det->kind == FLOE_DETECT_WATCH) {
		if (!a.list) {
			cli_error(&o, "watch needs --list FILE");
			goto out;
		}
		rc = EXIT_FAIL;
		if (!(wl = load_list(&o, a.list)))
			goto out;
		dop.watch = wl;
	}
	if (det->kind == FLOE_DETECT_BASELINE) {
		if (range.start == INT64_MIN || range.end == INT64_MAX) {
			cli_error(&o, "baseline needs the period: -t RANGE (e.g. -t 2025-06-13)");
			rc = EXIT_USAGE;
			goto out;
		}
		dop.period_start = range.start;
		dop.period_end = range.end;
		if (range.start % a.window != 0)
			cli_warn(&o, "the period does not start at a window boundary (UTC): its first "
			         "window is part history, part period");
		range.start -= a.history;   /* the history is read too */
	}
	d = floe_detect_create(&dop, &eb);
	if (!d) {
		cli_error(&o, "%s", eb.msg);
		rc = eb.code == FLOE_INVALID ? EXIT_USAGE : EXIT_FAIL;
		goto out;
	}
	/* a watchlist of a few hosts lets the source skip files and blocks
	 * whose address filters have none of them */
	uint8_t (*hosts)[16] = NULL;
	size_t nhosts = 0;
	if (wl && floe_watchlist_count(wl) && (hosts = calloc(256, sizeof(*hosts))) &&
	    !floe_watchlist_hosts(wl, hosts, 256, &nhosts))
		nhosts = 0;
	bool damaged = false;
	rc = feed(&o, d, filter, range, (const uint8_t (*)[16])hosts, nhosts, false, &damaged);
	free(hosts);
	if (rc != EXIT_OK)
		goto out;
	if (floe_detect_end_pass(d) != FLOE_OK) {
		cli_error(&o, "%s", floe_detect_error(d));
		rc = EXIT_FAIL;
		goto out;
	}
	const uint8_t (*addrs)[16];
	size_t naddrs;
	if (floe_detect_pass2(d, &addrs, &naddrs)) {
		bool stdin_input = false;
		for (size_t i = 0; i < o.nrfiles; i++)
			stdin_input |= strcmp(o.rfiles[i], "-") == 0;
		if (stdin_input)
			cli_warn(&o, "standard input cannot be read twice: no examples or file names");
		else if ((rc = feed(&o, d, filter, range, addrs, naddrs, true, &damaged)) != EXIT_OK)
			goto out;
	}
	const struct floe_finding *fs;
	size_t nfs;
	uint64_t more;
	floe_detect_findings(d, &fs, &nfs, &more);
	rc = print_findings(&o, det, &a, wl, fs, nfs, more);
	if (rc == EXIT_OK && damaged)
		rc = EXIT_DAMAGED;
	if (o.stats)
		fprintf(stderr, "memory peak %zu bytes of %zu, spills %" PRIu64 "\n", budget.peak,
		        budget.limit, floe_detect_spills(d));
out:
	floe_detect_destroy(d);
	floe_watchlist_destroy(wl);
	floe_filter_destroy(filter);
	cli_opts_release(&o);
	return rc;
}
