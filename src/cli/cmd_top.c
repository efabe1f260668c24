/*
 * cmd_top.c - `floe top`: a full-screen live view of flows, like Argus's
 * ratop (docs/top.md).
 *
 *   floe top (-r FILE... | -R DIR [-t RANGE] | -S HOST:PORT...) [--speed X]
 *            [-m KEY] [--max-flows N] [FILTER]
 *
 * Records come from files or an archive replayed at the pace of their
 * times (--speed X: X times as fast; 0: as fast as they can be read), or
 * live from stream servers (net/stream.h).
 * They go into a bounded flow table (graph/top.h); every second the
 * screen shows its flows grouped by a key, sorted by a column, with
 * totals.  Keys switch the grouping, the sort and the filter at run time.
 * The screen is drawn with ncurses and follows the terminal's size.
 */
#include "cli.h"
#include "archive/source.h"
#include "filter/filter.h"
#include "graph/axis.h"
#include "graph/top.h"
#include "net/stream.h"
#include "util/addr.h"
#include "util/mem.h"
#include "util/timefmt.h"

#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char top_help[] =
	"usage: floe top -r FILE... | -R DIR [-t RANGE] | -S HOST:PORT... [options] [FILTER]\n"
	"\n"
	"A full-screen view of flows, refreshed every second (like ratop): rows\n"
	"grouped by a key, sorted by any column, with totals and current rates.\n"
	"Records are replayed from files or an archive at the pace of their times,\n"
	"or come live from stream servers (floe capture/collect/relay --listen).\n"
	"\n"
	"  -r FILE... -R DIR... -t RANGE   inputs, as for 'floe read'\n"
	"  -S HOST:PORT...  subscribe to stream servers (docs/stream.md); FILTER is\n"
	"                   sent to them; --token FILE --tls-ca --tls-cert --tls-key\n"
	"                   as for 'floe read -S'\n"
	"  --speed X        replay X times as fast as recorded (default 1), jumping\n"
	"                   over stretches without records longer than 5 s of replay;\n"
	"                   0: as fast as the records can be read\n"
	"  -m KEY           group by flow (default), saddr, daddr, dport or proto\n"
	"  --max-flows N    flows tracked (default 100000); past it the flow idle\n"
	"                   longest is dropped (counted as evicted)\n"
	"  --memory SIZE    memory target (default 256M)\n"
	"\n"
	"Keys: q quit, k / K next / previous grouping key (or 1-5: flow saddr daddr\n"
	"dport proto), s / S next / previous sort column, r reverse the order,\n"
	"f or / enter a filter (Enter applies, an empty one clears, Esc cancels),\n"
	"p or space pause.  The screen needs at least 40 x 8 characters.\n";

/* ---- the records: replay of files or an archive ---- */

struct replay {
	struct floe_source *src;
	const struct floe_filter *filter;  /* of the command line: never shown */
	const struct floe_flow *blk;
	size_t n, i;
	bool eof;
	int rc;                            /* EXIT_FAIL after a read error */
	char err[256];
	double speed;
	bool started;
	int64_t rec0;                      /* record time at the start */
	double wall0;                      /* wall time (s) at the start, moved by pauses */
	int64_t clock;                     /* record time shown */
	int64_t skipped;                   /* ns of record time without records jumped over */
	int64_t skipped_all;               /* the same since the start: not in rates */
};

#define IDLE_SKIP 5.0   /* s of wall time: longer pauses between records are skipped */

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The next record (not consumed), or NULL at the end or on an error. */
static const struct floe_flow *replay_peek(struct replay *r)
{
	while (!r->eof && r->i == r->n) {
		enum floe_err e = floe_source_next(r->src, &r->blk, &r->n);
		r->i = 0;
		if (e == FLOE_EOF) {
			r->eof = true;
		} else if (e != FLOE_OK) {
			snprintf(r->err, sizeof(r->err), "%s", floe_source_error(r->src));
			r->rc = EXIT_FAIL;
			r->eof = true;
		}
	}
	return r->eof ? NULL : &r->blk[r->i];
}

/* Feeds t the records due by now (all of them, up to a batch, at speed
 * 0).  Returns false on a table error. */
static bool replay_pump(struct replay *r, struct floe_top *t, double wall)
{
	const struct floe_flow *f;
	size_t budget = 200000;  /* records per call: the keyboard stays quick */
	while (budget-- && (f = replay_peek(r)) != NULL) {
		if (!r->started) {
			/* the first rate interval starts with the first record */
			r->started = true;
			r->rec0 = f->ltime;
			r->wall0 = wall;
			r->clock = f->ltime;
			floe_top_tick(t, r->rec0);
		}
		if (r->speed > 0) {
			int64_t due = r->rec0 + (int64_t)((wall - r->wall0) * r->speed * 1e9);
			/* a quiet stretch longer than IDLE_SKIP of wall time is
			 * jumped over (captures spliced from several days) */
			if (f->ltime > due && (double)(f->ltime - due) / 1e9 / r->speed > IDLE_SKIP) {
				r->skipped += f->ltime - due;
				r->skipped_all += f->ltime - due;
				r->rec0 += f->ltime - due;
				due = f->ltime;
			}
			r->clock = due;
			if (f->ltime > due)
				return true;
		} else if (f->ltime > r->clock) {
			r->clock = f->ltime;
		}
		r->i++;
		if (r->filter && !floe_filter_match(r->filter, f))
			continue;
		if (floe_top_add(t, f) != FLOE_OK)
			return false;
	}
	return true;
}

/* ---- the records: live from stream servers ---- */

struct live {
	struct floe_stream_client *c;
	char *token;
	const struct floe_filter *filter;
	bool eof;
	int rc;
	char err[256];
	char logmsg[256];                  /* the client's last warning */
	int64_t clock;                     /* the wall clock, ns since the epoch */
};

static int64_t real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The client's warnings (gaps, reconnects) go to the status line, not
 * to stderr under the screen. */
static void live_log(void *ud, enum floe_loglevel level, const char *msg)
{
	struct live *lv = ud;
	if (level <= FLOE_LOG_WARN)
		snprintf(lv->logmsg, sizeof(lv->logmsg), "%s", msg);
}

/* Takes what the servers sent within about wait ns.  False on a table
 * error. */
static bool live_pump(struct live *lv, struct floe_top *t, int64_t wait)
{
	int64_t end = real_now() + wait;
	size_t budget = 200000;
	while (!lv->eof && budget) {
		const struct floe_flow *recs;
		size_t n;
		int64_t left = end - real_now();
		enum floe_err e = floe_stream_client_next(lv->c, &recs, &n, left > 0 ? left : 0);
		lv->clock = real_now();
		if (e == FLOE_AGAIN)
			return true;
		if (e != FLOE_OK) {
			lv->eof = true;
			if (e != FLOE_EOF) {
				snprintf(lv->err, sizeof(lv->err), "%s", floe_stream_client_error(lv->c));
				lv->rc = EXIT_FAIL;
			}
			return true;
		}
		for (size_t i = 0; i < n; i++) {
			if (lv->filter && !floe_filter_match(lv->filter, &recs[i]))
				continue;
			if (floe_top_add(t, &recs[i]) != FLOE_OK)
				return false;
		}
		budget = budget > n ? budget - n : 0;
		if (left <= 0)
			return true;
	}
	return true;
}

/* ---- the screen ---- */

enum colid { C_PROTO, C_SADDR, C_SPORT, C_DADDR, C_DPORT, C_FLOWS, C_RECS, C_PKTS, C_BYTES,
	     C_BPS, C_PPS, C_LAST, C__COUNT };

#define K(k) (1u << (k))
#define ALLKEYS (K(FLOE_TOPK__COUNT) - 1)

static const struct tcol {
	const char *title;
	int width;               /* addresses widen to their longest value */
	bool left;
	enum floe_top_col sort;
	int prio;                /* columns of lowest priority go first when narrow */
	unsigned keys;           /* the groupings that show it */
} tcols[C__COUNT] = {
	[C_PROTO] = {"Proto", 5, true, FLOE_TOPC_PROTO, 6, K(FLOE_TOPK_FLOW) | K(FLOE_TOPK_PROTO)},
	[C_SADDR] = {"SrcAddr", 15, true, FLOE_TOPC_SADDR, 100, K(FLOE_TOPK_FLOW) | K(FLOE_TOPK_SADDR)},
	[C_SPORT] = {"Sport", 5, false, FLOE_TOPC_SPORT, 5, K(FLOE_TOPK_FLOW)},
	[C_DADDR] = {"DstAddr", 15, true, FLOE_TOPC_DADDR, 100, K(FLOE_TOPK_FLOW) | K(FLOE_TOPK_DADDR)},
	[C_DPORT] = {"Dport", 5, false, FLOE_TOPC_DPORT, 100, K(FLOE_TOPK_FLOW) | K(FLOE_TOPK_DPORT)},
	[C_FLOWS] = {"Flows", 7, false, FLOE_TOPC_FLOWS, 4, ALLKEYS & ~K(FLOE_TOPK_FLOW)},
	[C_RECS] = {"Recs", 7, false, FLOE_TOPC_RECS, 3, ALLKEYS},
	[C_PKTS] = {"Pkts", 10, false, FLOE_TOPC_PKTS, 7, ALLKEYS},
	[C_BYTES] = {"Bytes", 13, false, FLOE_TOPC_BYTES, 9, ALLKEYS},
	[C_BPS] = {"bit/s", 8, false, FLOE_TOPC_BPS, 8, ALLKEYS},
	[C_PPS] = {"pkt/s", 8, false, FLOE_TOPC_PPS, 2, ALLKEYS},
	[C_LAST] = {"Last", 8, false, FLOE_TOPC_LTIME, 1, ALLKEYS},
};

#define MAX_ROWS 1000
#define FILTER_MAX 512

struct ui {
	struct cli_opts *o;
	struct floe_top *top;
	struct replay *rp;
	struct live *lv;                   /* NULL when replaying */
	enum floe_top_key key;
	enum floe_top_col sort;
	bool asc;
	bool paused;
	double paused_at;
	struct floe_filter *filter;        /* the one typed at run time */
	char ftext[FILTER_MAX];            /* its text */
	bool editing;
	char input[FILTER_MAX];
	size_t ilen;
	char status[256];
	struct floe_top_row *rows;
	const char *source;
};

static void cell(const struct floe_top_row *r, enum colid c, char *buf, size_t len)
{
	const struct floe_flow *f = &r->rec;
	const char *pn;
	struct tm tm;
	time_t tt;
	switch (c) {
	case C_PROTO:
		pn = f->etype == FLOE_ETH_ARP ? "arp" : floe_proto_name(f->proto);
		if (pn)
			snprintf(buf, len, "%s", pn);
		else
			snprintf(buf, len, "%u", f->proto);
		break;
	case C_SADDR: floe_addr_format(f->saddr, buf, len); break;
	case C_DADDR: floe_addr_format(f->daddr, buf, len); break;
	case C_SPORT: snprintf(buf, len, "%u", f->sport); break;
	case C_DPORT: snprintf(buf, len, "%u", f->dport); break;
	case C_FLOWS: snprintf(buf, len, "%" PRIu64, r->flows); break;
	case C_RECS: snprintf(buf, len, "%" PRIu32, f->trans); break;
	case C_PKTS: snprintf(buf, len, "%" PRIu64, f->spkts + f->dpkts); break;
	case C_BYTES: snprintf(buf, len, "%" PRIu64, f->sbytes + f->dbytes); break;
	case C_BPS: floe_axis_format_value(r->bps, "", buf, len); break;
	case C_PPS: floe_axis_format_value(r->pps, "", buf, len); break;
	case C_LAST:
		tt = (time_t)(f->ltime / 1000000000);
		gmtime_r(&tt, &tm);
		strftime(buf, len, "%H:%M:%S", &tm);
		break;
	case C__COUNT: buf[0] = '\0'; break;
	}
}

/* The columns shown for the key in width cols: those of the key, widest
 * priorities kept; *w gets each one's width. */
static size_t layout(const struct ui *u, size_t nrows, int cols, enum colid *show, int *w)
{
	int width[C__COUNT];
	bool on[C__COUNT];
	for (int c = 0; c < C__COUNT; c++) {
		on[c] = (tcols[c].keys & K(u->key)) != 0;
		width[c] = tcols[c].width;
		if ((int)strlen(tcols[c].title) > width[c])
			width[c] = (int)strlen(tcols[c].title);
	}
	/* addresses and numbers as wide as their longest value */
	for (size_t i = 0; i < nrows; i++)
		for (int c = 0; c < C__COUNT; c++) {
			if (!on[c])
				continue;
			char buf[64];
			cell(&u->rows[i], (enum colid)c, buf, sizeof(buf));
			if ((int)strlen(buf) > width[c])
				width[c] = (int)strlen(buf);
		}
	for (;;) {
		int total = -1, low = -1;
		for (int c = 0; c < C__COUNT; c++)
			if (on[c]) {
				total += width[c] + 1;
				if (low < 0 || tcols[c].prio < tcols[low].prio)
					low = c;
			}
		if (total <= cols || low < 0 || tcols[low].prio >= 100)
			break;
		on[low] = false;
	}
	size_t n = 0;
	for (int c = 0; c < C__COUNT; c++)
		if (on[c]) {
			show[n] = (enum colid)c;
			w[n++] = width[c];
		}
	return n;
}

static void put_line(int y, const char *s)
{
	move(y, 0);
	clrtoeol();
	mvaddnstr(y, 0, s, COLS);
}

static const char *sort_title(enum floe_top_col s)
{
	for (int c = 0; c < C__COUNT; c++)
		if (tcols[c].sort == s)
			return tcols[c].title;
	return "?";
}

static bool view_match(void *ud, const struct floe_flow *rec)
{
	return floe_filter_match(ud, rec);
}

static void draw(struct ui *u)
{
	struct floe_top_view_opts vo = {.key = u->key, .sort = u->sort, .asc = u->asc,
	                                .match = u->filter ? view_match : NULL, .ud = u->filter};
	struct floe_top_totals tot;
	size_t n = 0;
	size_t cap = LINES > 5 ? (size_t)(LINES - 5) : 0;
	if (cap > MAX_ROWS)
		cap = MAX_ROWS;
	erase();
	if (floe_top_view(u->top, &vo, u->rows, cap, &n, &tot) != FLOE_OK) {
		snprintf(u->status, sizeof(u->status), "out of memory for the view (--memory)");
		memset(&tot, 0, sizeof(tot));
		n = 0;
	}
	char line[1024], a[32], b[32];
	struct floe_top_stats st;
	floe_top_stats(u->top, &st);
	char when[40] = "", live[96] = "";
	bool eof = u->lv ? u->lv->eof : u->rp->eof;
	if (u->lv) {
		struct floe_stream_client_stats cs;
		floe_stream_client_stats(u->lv->c, &cs);
		floe_time_format(u->lv->clock, FLOE_TIME_ISO, 0, when, sizeof(when));
		snprintf(live, sizeof(live), "  live %u, lost %" PRIu64, cs.sources_live, cs.lost);
	} else if (u->rp->started) {
		floe_time_format(u->rp->clock, FLOE_TIME_ISO, 0, when, sizeof(when));
	}
	snprintf(line, sizeof(line), "floe top  key %s  sort %s %s%s%s%s  %s UTC  %s%s",
	         floe_top_key_name(u->key), sort_title(u->sort), u->asc ? "asc" : "desc",
	         *u->ftext ? "  filter: " : "", u->ftext,
	         u->paused ? "  [paused]" : eof ? "  [end of input]" : "", when, u->source, live);
	attron(A_BOLD);
	put_line(0, line);
	attroff(A_BOLD);
	floe_axis_format_value(tot.bps, "bit/s", a, sizeof(a));
	floe_axis_format_value(tot.pps, "pkt/s", b, sizeof(b));
	/* the totals, the less telling ones only if they fit */
	int len = snprintf(line, sizeof(line), "Total %s %s  pkts %" PRIu64 "  bytes %" PRIu64
	                   "  rows %" PRIu64, a, b, tot.pkts, tot.bytes, tot.groups);
	const char *more[] = {"flows", "recs", "evicted"};
	uint64_t mv[] = {tot.flows, tot.records, st.evicted};
	for (size_t i = 0; i < 3 && len > 0 && (size_t)len < sizeof(line); i++) {
		char part[48];
		int k = snprintf(part, sizeof(part), "  %s %" PRIu64, more[i], mv[i]);
		if (len + k > COLS)
			break;
		memcpy(line + len, part, (size_t)k + 1);
		len += k;
	}
	put_line(1, line);

	enum colid show[C__COUNT];
	int w[C__COUNT];
	size_t ncol = layout(u, n, COLS, show, w);
	size_t pos = 0;
	line[0] = '\0';
	for (size_t i = 0; i < ncol && pos < sizeof(line); i++) {
		const struct tcol *tc = &tcols[show[i]];
		int k = snprintf(line + pos, sizeof(line) - pos, "%s%*s", i ? " " : "",
		                 tc->left ? -w[i] : w[i], tc->title);
		pos += k > 0 ? (size_t)k : 0;
	}
	attron(A_REVERSE);
	put_line(2, line);
	for (int x = (int)strlen(line); x < COLS; x++)
		mvaddch(2, x, ' ');
	attroff(A_REVERSE);
	for (size_t r = 0; r < n; r++) {
		pos = 0;
		line[0] = '\0';
		for (size_t i = 0; i < ncol && pos < sizeof(line); i++) {
			char buf[64];
			cell(&u->rows[r], show[i], buf, sizeof(buf));
			int k = snprintf(line + pos, sizeof(line) - pos, "%s%*s", i ? " " : "",
			                 tcols[show[i]].left ? -w[i] : w[i], buf);
			pos += k > 0 ? (size_t)k : 0;
		}
		put_line(3 + (int)r, line);
	}
	if (u->editing) {
		snprintf(line, sizeof(line), "filter: %s", u->input);
		put_line(LINES - 2, line);
	} else {
		put_line(LINES - 2, u->status);
	}
	attron(A_REVERSE);
	put_line(LINES - 1, COLS >= 100 ? "q quit  k/K key  1-5 flow saddr daddr dport proto  s/S sort  "
	         "r reverse  f filter  p pause" :
	         "q:quit k:key s:sort r:reverse f:filter p:pause 1-5:flow/saddr/daddr/dport/proto");
	attroff(A_REVERSE);
	if (u->editing) {
		curs_set(1);
		move(LINES - 2, (int)(8 + u->ilen) < COLS ? (int)(8 + u->ilen) : COLS - 1);
	} else {
		curs_set(0);
	}
	refresh();
}

/* The sort columns of the columns the key shows, in screen order. */
static size_t sort_cycle(const struct ui *u, enum floe_top_col *cyc)
{
	size_t n = 0;
	for (int c = 0; c < C__COUNT; c++)
		if (tcols[c].keys & K(u->key))
			cyc[n++] = tcols[c].sort;
	return n;
}

static void next_sort(struct ui *u, int dir)
{
	enum floe_top_col cyc[C__COUNT];
	size_t n = sort_cycle(u, cyc), at = 0;
	for (size_t i = 0; i < n; i++)
		if (cyc[i] == u->sort)
			at = i;
	u->sort = cyc[(at + n + (size_t)(dir > 0 ? 1 : n - 1)) % n];
	/* counters and times: the biggest or latest first; keys ascending */
	u->asc = u->sort <= FLOE_TOPC_DPORT;
	snprintf(u->status, sizeof(u->status), "sorted by %s", sort_title(u->sort));
}

static void set_key(struct ui *u, enum floe_top_key k)
{
	u->key = k;
	enum floe_top_col cyc[C__COUNT];
	size_t n = sort_cycle(u, cyc);
	bool have = false;
	for (size_t i = 0; i < n; i++)
		have |= cyc[i] == u->sort;
	if (!have) {
		u->sort = FLOE_TOPC_BYTES;
		u->asc = false;
	}
	snprintf(u->status, sizeof(u->status), "grouped by %s", floe_top_key_name(k));
}

static void apply_filter(struct ui *u)
{
	u->editing = false;
	if (u->ilen == 0) {
		floe_filter_destroy(u->filter);
		u->filter = NULL;
		u->ftext[0] = '\0';
		snprintf(u->status, sizeof(u->status), "filter cleared");
		return;
	}
	struct floe_errbuf eb = {0};
	struct floe_filter *f = floe_filter_compile(u->input, &eb);
	if (!f) {
		snprintf(u->status, sizeof(u->status), "bad filter '%.64s': %.160s", u->input, eb.msg);
		return;
	}
	floe_filter_destroy(u->filter);
	u->filter = f;
	snprintf(u->ftext, sizeof(u->ftext), "%s", u->input);
	snprintf(u->status, sizeof(u->status), "filter applied");
}

/* Handles a key; returns false to quit. */
static bool on_key(struct ui *u, int ch, double wall)
{
	if (u->editing) {
		if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
			apply_filter(u);
		} else if (ch == 27) {
			u->editing = false;
			snprintf(u->status, sizeof(u->status), "filter unchanged");
		} else if (ch == 21) {  /* ^U: the whole line */
			u->ilen = 0;
			u->input[0] = '\0';
		} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
			if (u->ilen)
				u->input[--u->ilen] = '\0';
		} else if (ch >= 32 && ch < 127 && u->ilen + 1 < sizeof(u->input)) {
			u->input[u->ilen++] = (char)ch;
			u->input[u->ilen] = '\0';
		}
		return true;
	}
	switch (ch) {
	case 'q': case 'Q':
		return false;
	case 'k': set_key(u, (enum floe_top_key)((u->key + 1) % FLOE_TOPK__COUNT)); break;
	case 'K':
		set_key(u, (enum floe_top_key)((u->key + FLOE_TOPK__COUNT - 1) % FLOE_TOPK__COUNT));
		break;
	case '1': case '2': case '3': case '4': case '5':
		set_key(u, (enum floe_top_key)(ch - '1'));
		break;
	case 's': next_sort(u, 1); break;
	case 'S': next_sort(u, -1); break;
	case 'r':
		u->asc = !u->asc;
		snprintf(u->status, sizeof(u->status), "order %s", u->asc ? "ascending" : "descending");
		break;
	case 'f': case '/':
		u->editing = true;
		snprintf(u->input, sizeof(u->input), "%s", u->ftext);
		u->ilen = strlen(u->input);
		break;
	case 'p': case ' ':
		u->paused = !u->paused;
		if (u->paused)
			u->paused_at = wall;
		else if (!u->lv)
			u->rp->wall0 += wall - u->paused_at;  /* the replay clock stood still */
		snprintf(u->status, sizeof(u->status), u->paused ? "paused" : "running");
		break;
	default:
		break;
	}
	return true;
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Options of floe top that cli_parse does not take. */
struct top_args {
	double speed;
	const char *key;
	uint64_t max_flows;
};

static int take_args(struct top_args *ta, int *argc, char **argv)
{
	int n = 0;
	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i];
		bool known = strcmp(a, "--speed") == 0 || strcmp(a, "-m") == 0 ||
		             strcmp(a, "--max-flows") == 0;
		if (!known) {
			argv[n++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc) {
			fprintf(stderr, "floe top: %s needs an argument (try 'floe top --help')\n", a);
			return EXIT_USAGE;
		}
		const char *v = argv[++i];
		char *end;
		if (a[2] == 's') {
			errno = 0;
			ta->speed = strtod(v, &end);
			if (errno || *end || end == v || ta->speed < 0 || ta->speed > 1e6) {
				fprintf(stderr, "floe top: bad --speed '%s': 0 (no pacing) or a factor "
				        "such as 10\n", v);
				return EXIT_USAGE;
			}
		} else if (a[1] == 'm') {
			ta->key = v;
		} else if (!cli_parse_count(v, &ta->max_flows) || ta->max_flows == 0 ||
		           ta->max_flows > 100000000) {
			fprintf(stderr, "floe top: bad --max-flows '%s': 1 to 100M\n", v);
			return EXIT_USAGE;
		}
	}
	*argc = n;
	return EXIT_OK;
}

/* Opens the files or archives of o for replay; false after a message. */
static bool open_replay(struct cli_opts *o, struct replay *rp, const struct floe_filter *cfilter,
                        uint8_t (*addrs)[16])
{
	size_t naddrs = 0;
	if (cfilter && !floe_filter_required_addrs(cfilter, addrs, 64, &naddrs))
		naddrs = 0;
	struct floe_source_opts so = {.range = o->trange, .addrs = (const uint8_t (*)[16])addrs,
	                              .naddrs = naddrs, .no_index = o->no_index, .log = NULL};
	rp->src = cli_source_open(o, &so);
	rp->filter = cfilter;
	return rp->src != NULL;
}

/* Subscribes to the stream servers of o (-S); false after a message.
 * The servers apply the command line's filter before sending. */
static bool open_live(struct cli_opts *o, struct live *lv, const struct floe_filter *cfilter,
                      struct floe_log *log)
{
	struct floe_errbuf eb = {0};
	if (o->token_file && !(lv->token = floe_stream_read_token(o->token_file, &eb))) {
		cli_error(o, "%s", eb.msg);
		return false;
	}
	*log = (struct floe_log){live_log, lv};
	struct floe_stream_client_opts co = {
		.sources = o->streams, .nsources = o->nstreams,
		.instance = o->instance ? o->instance : "floe-top", .token = lv->token,
		.filter = o->filter, .tls_ca = o->tls_ca,
		.tls_cert = o->tls_ca ? o->tls_cert : NULL, .tls_key = o->tls_ca ? o->tls_key : NULL,
		.backlog = true, .wait = true, .log = log};
	if (!(lv->c = floe_stream_client_create(&co, &eb))) {
		cli_error(o, "%s", eb.msg);
		return false;
	}
	lv->filter = cfilter;
	lv->rc = EXIT_OK;
	lv->clock = real_now();
	return true;
}

int cmd_top(int argc, char **argv)
{
	struct top_args ta = {.speed = 1};
	struct cli_opts o = {.cmd = "top"};
	int rc = take_args(&ta, &argc, argv);
	if (rc != EXIT_OK)
		return rc;
	if (!cli_begin(&o, OPT_READ | OPT_SOURCE | OPT_AGG | OPT_STREAM, argc, argv, top_help, &rc))
		return rc;
	struct ui u = {.o = &o, .sort = FLOE_TOPC_BYTES};
	struct replay rp = {.speed = ta.speed, .rc = EXIT_OK};
	struct live lv = {.rc = EXIT_OK};
	struct floe_log lvlog;
	struct floe_filter *cfilter = NULL;
	struct floe_errbuf eb = {0};
	struct floe_budget budget;
	uint8_t addrs[64][16];
	bool screen = false;
	u.rp = &rp;
	rc = EXIT_USAGE;
	if (o.nrfiles == 0 && o.nrdirs == 0 && o.nstreams == 0) {
		cli_error(&o, "no input: give -r FILE, -R DIR or -S HOST:PORT (try 'floe top --help')");
		goto out;
	}
	if (o.keys || o.sortkeys || o.aggcols || o.bin || o.top) {
		cli_error(&o, "-s, -b, --top and --sort are not for top: its keys sort and group");
		goto out;
	}
	if (o.count || o.duration) {
		cli_error(&o, "--count and --duration are not for top: q ends it");
		goto out;
	}
	int key = ta.key ? floe_top_key_parse(ta.key) : FLOE_TOPK_FLOW;
	if (key < 0) {
		cli_error(&o, "unknown key '%s' (flow, saddr, daddr, dport, proto)", ta.key);
		goto out;
	}
	u.key = (enum floe_top_key)key;
	if (o.filter && !(cfilter = floe_filter_compile(o.filter, &eb))) {
		cli_error(&o, "bad filter '%s': %s", o.filter, eb.msg);
		goto out;
	}
	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
		cli_error(&o, "the screen is a terminal: run floe top in one (or floe cluster for a "
		          "report)");
		goto out;
	}
	rc = EXIT_FAIL;
	floe_budget_init(&budget, (size_t)(o.memory ? o.memory : CLI_DEFAULT_MEMORY));
	struct floe_top_opts to = {.max_flows = (size_t)ta.max_flows, .budget = &budget};
	if (!(u.top = floe_top_create(&to, &eb))) {
		cli_error(&o, "%s", eb.msg);
		goto out;
	}
	u.rows = calloc(MAX_ROWS, sizeof(*u.rows));
	if (!u.rows) {
		cli_error(&o, "out of memory");
		goto out;
	}
	char source[256];
	if (o.nstreams) {
		if (!open_live(&o, &lv, cfilter, &lvlog))
			goto out;
		u.lv = &lv;
		floe_top_tick(u.top, lv.clock);  /* the first interval starts now */
		snprintf(source, sizeof(source), "-S %s%s", o.streams[0], o.nstreams > 1 ? " ..." : "");
	} else {
		if (!open_replay(&o, &rp, cfilter, addrs))
			goto out;
		snprintf(source, sizeof(source), "%s%s", o.nrfiles ? o.rfiles[0] : o.rdirs[0],
		         o.nrfiles + o.nrdirs > 1 ? " ..." : "");
	}
	u.source = source;

	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	initscr();
	screen = true;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(25);  /* Esc cancels a filter at once, not after a second */
	curs_set(0);
	/* live: the client waits for records, the keyboard only a moment */
	timeout(u.lv ? 5 : 50);
	if (u.lv)
		snprintf(u.status, sizeof(u.status), "subscribed to %zu server%s", o.nstreams,
		         o.nstreams > 1 ? "s" : "");
	else if (ta.speed > 0 && ta.speed != 1)
		snprintf(u.status, sizeof(u.status), "replaying at %g x record pace", ta.speed);
	else
		snprintf(u.status, sizeof(u.status), "replaying at %s",
		         ta.speed > 0 ? "record pace" : "full speed");
	double next_draw = 0;
	bool ok = true, err_shown = false;
	while (ok && !stop_requested) {
		double wall = wall_now();
		bool pumped = u.lv ? lv.eof || live_pump(&lv, u.top, 45000000) :
		              u.paused || rp.eof || replay_pump(&rp, u.top, wall);
		if (!pumped) {
			snprintf(u.status, sizeof(u.status), "out of memory for the flow table (--memory)");
			rp.eof = lv.eof = true;
		}
		int src_rc = u.lv ? lv.rc : rp.rc;
		if (src_rc != EXIT_OK && !err_shown) {
			snprintf(u.status, sizeof(u.status), "%s", u.lv ? lv.err : rp.err);
			err_shown = true;
		}
		if (rp.skipped) {
			char d[32];
			floe_axis_dur(rp.skipped, d, sizeof(d));
			snprintf(u.status, sizeof(u.status), "skipped %s without records", d);
			rp.skipped = 0;
		}
		if (lv.logmsg[0]) {
			snprintf(u.status, sizeof(u.status), "%s", lv.logmsg);
			lv.logmsg[0] = '\0';
		}
		bool redraw = false;
		if (wall >= next_draw) {
			/* paused: the screen holds (live records are still counted) */
			if (!u.paused && u.lv)
				floe_top_tick(u.top, lv.clock);
			else if (!u.paused && rp.started)
				floe_top_tick(u.top, rp.clock - rp.skipped_all);
			next_draw = wall + 1;
			redraw = !u.paused;
		}
		int ch = getch();
		if (ch == KEY_RESIZE) {
			redraw = true;
		} else if (ch != ERR) {
			ok = on_key(&u, ch, wall);
			redraw = true;
		}
		if (ok && redraw)
			draw(&u);
	}
	rc = u.lv ? lv.rc : rp.rc;
out:
	if (screen)
		endwin();
	if (rp.rc != EXIT_OK && rp.err[0])
		cli_error(&o, "%s", rp.err);
	if (lv.rc != EXIT_OK && lv.err[0])
		cli_error(&o, "%s", lv.err);
	if (rp.src) {
		struct floe_source_stats ss;
		floe_source_stats(rp.src, &ss);
		if (rc == EXIT_OK && (ss.blocks_damaged || ss.files_failed))
			rc = EXIT_DAMAGED;
	}
	if (lv.c) {
		struct floe_stream_client_stats cs;
		floe_stream_client_stats(lv.c, &cs);
		if (cs.lost || cs.server_dropped) {
			cli_warn(&o, "%" PRIu64 " records lost by seq, %" PRIu64 " dropped by servers",
			         cs.lost, cs.server_dropped);
			if (rc == EXIT_OK)
				rc = EXIT_DAMAGED;
		}
	}
	floe_stream_client_destroy(lv.c);
	free(lv.token);
	floe_source_destroy(rp.src);
	floe_top_destroy(u.top);
	floe_filter_destroy(u.filter);
	floe_filter_destroy(cfilter);
	free(u.rows);
	cli_opts_release(&o);
	return rc;
}
