/*
 * cmd_archive.c - `floe archive`: keeping an archive (docs/archive.md
 * "Maintenance").
 *
 *   floe archive ls      --dir D [-t RANGE] [-o text|json]
 *   floe archive verify  --dir D | -r FILE...  [-o text|json]
 *   floe archive expire  --dir D [--keep 180d] [--max-size 400G] [--dry-run]
 *   floe archive recover --dir D
 *   floe archive --dir D --instance NAME [--rotate 1h] [--keep 180d]
 *                [--max-size 400G] [-r -|FILE | -S HOST:PORT...] [--resume]
 *
 * The work is in src/lib/archive/maint.h; this file parses options, prints
 * and maps outcomes to exit codes: verify exits 3 (EXIT_DAMAGED, as `floe
 * read` does for damaged input) when some file is damaged or unreadable.
 *
 * Without a subcommand `floe archive` is the archiver, a long-running
 * process (docs/daemon.md): it reads a floe record stream as it arrives,
 * from standard input (as `floe capture -w -` writes it; codec/pipe.h
 * reads it without blocking) or from stream servers (-S, net/stream.h),
 * and writes it into the archive (archive.h).  It
 * recovers its instance's .part left by a crash when it starts, expires as
 * files close and every hour, rereads its configuration on SIGHUP, and on
 * SIGTERM or SIGINT closes its file (last block, footer, rename) and
 * exits 0.
 */
#include "cli.h"
#include "daemon.h"
#include "archive/archive.h"
#include "archive/maint.h"
#include "codec/pipe.h"
#include "export/clickhouse.h"
#include "export/pg.h"
#include "net/stream.h"
#include "util/timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char archive_help[] =
	"usage: floe archive SUBCOMMAND --dir ARCHIVE [options]\n"
	"\n"
	"  ls       files with their period, state, time range, blocks, records, bytes\n"
	"             -t RANGE      only files with records overlapping RANGE\n"
	"             -o text|json  (json: one object per line)\n"
	"  verify   read every block, footer and address filter; change nothing;\n"
	"           exit 3 if a file is damaged\n"
	"             -r FILE...    these files instead of --dir\n"
	"             -o text|json\n"
	"  expire   remove old files: those whose records all ended before now - KEEP,\n"
	"           then the oldest until the archive is at most SIZE bytes; a .part\n"
	"           a writer holds is never removed\n"
	"             --keep DUR    e.g. 180d, 12h\n"
	"             --max-size SIZE  e.g. 400G, 1T (binary multiples)\n"
	"             --dry-run     print what would be removed\n"
	"  recover  close every .part that no writer holds (left by a crash) at its\n"
	"           last complete block\n"
	"\n"
	"usage: floe archive --dir ARCHIVE --instance NAME [options]   (the archiver)\n"
	"\n"
	"  Archives a floe record stream as it arrives, until its end or SIGTERM:\n"
	"    floe capture -i eth0 -w - | floe archive --dir /srv/floe --instance eth0\n"
	"  -r FILE          the stream (default \"-\", standard input)\n"
	"  -S HOST:PORT     or subscribe to stream servers (repeatable; docs/stream.md);\n"
	"                   a restart resumes after the last seq archived of each\n"
	"                   sensor, from the servers' backlog\n"
	"  --token FILE, --tls-ca FILE, --tls-cert FILE, --tls-key FILE  for -S\n"
	"  --instance NAME  the archive's instance (default floe)\n"
	"  --rotate DUR     file period, dividing a day (default 1h)\n"
	"  --keep DUR       expire files older than DUR, as files close and hourly\n"
	"  --max-size SIZE  and the oldest past SIZE (binary multiples: 400G)\n"
	"  --block-records N  records per block (default 65536)\n"
	"  --encoders N     threads compressing blocks (default 1 on 2+ processors)\n"
	"  --resume         the stream on standard input replays records already\n"
	"                   archived: drop them (by seq, or up to the last record of\n"
	"                   the instance's newest file when records have no seq)\n"
	"  --stats          print counts to the log at exit\n"
	"  --pg DSN         load each file as it closes into PostgreSQL (docs/db.md)\n"
	"  --clickhouse URL and/or into ClickHouse (http://[USER:PASSWORD@]HOST:PORT/)\n"
	"  --db-expire DUR  drop the databases' day partitions older than DUR\n"
	"  --config FILE, --log FILE, --syslog [FACILITY], --pidfile FILE: see\n"
	"  docs/daemon.md.  SIGHUP reopens the log and rereads --keep, --max-size\n"
	"  from the config; SIGTERM closes the open file cleanly.\n"
	"\n"
	"Writers (floe capture/read --archive) lock the .part they write and\n"
	"recover their instance's stale ones when they start (docs/archive.md).\n";

/* The options of every subcommand; each takes the ones its row allows. */
enum {
	A_DIR = 1u << 0, A_RANGE = 1u << 1, A_FMT = 1u << 2, A_FILES = 1u << 3,
	A_KEEP = 1u << 4, A_SIZE = 1u << 5, A_DRY = 1u << 6,
	/* the archiver */
	A_INST = 1u << 7, A_ROT = 1u << 8, A_BLOCK = 1u << 9, A_RESUME = 1u << 10,
	A_STATS = 1u << 11, A_SOURCE = 1u << 12, A_TLS = 1u << 13, A_ENC = 1u << 14,
	A_DB = 1u << 15,
};

struct aopts {
	struct cli_opts c;       /* for messages: cmd = "archive ls" ... */
	char cmd[32];
	const char *dir;
	struct floe_timerange range;
	bool json;
	const char **files;
	size_t nfiles;
	int64_t keep;
	uint64_t max_size;
	bool dry_run;
	/* the archiver */
	const char *instance;
	int64_t rotate;
	uint32_t block_records;
	bool resume;
	bool stats;
	const char *sources[64];   /* -S */
	size_t nsources;
	const char *token_file, *tls_ca, *tls_cert, *tls_key;
	/* loading into databases (docs/db.md "From the archiver") */
	const char *pg, *clickhouse;
	int64_t db_expire;
};

static int usage(struct aopts *a, const char *what, const char *arg)
{
	cli_error(&a->c, "%s%s%s (try 'floe archive --help')", what, arg ? " " : "", arg ? arg : "");
	return EXIT_USAGE;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The options, by name; the subcommands' rows below say which they take. */
static const struct aopt {
	const char *name, *alias;
	unsigned flag;
} aopt_tab[] = {
	{"--dir", "-R", A_DIR},
	{"-t", NULL, A_RANGE},
	{"-o", NULL, A_FMT},
	{"-r", NULL, A_FILES},
	{"--keep", NULL, A_KEEP},
	{"--max-size", NULL, A_SIZE},
	{"--dry-run", "-n", A_DRY},
	{"--instance", NULL, A_INST},
	{"--rotate", NULL, A_ROT},
	{"--block-records", NULL, A_BLOCK},
	{"--resume", NULL, A_RESUME},
	{"--stats", NULL, A_STATS},
	{"-S", NULL, A_SOURCE},
	{"--encoders", NULL, A_ENC},
	{"--token", NULL, A_TLS},
	{"--tls-ca", NULL, A_TLS},
	{"--tls-cert", NULL, A_TLS},
	{"--tls-key", NULL, A_TLS},
	{"--pg", NULL, A_DB},
	{"--clickhouse", NULL, A_DB},
	{"--db-expire", NULL, A_DB},
};

static int parse(struct aopts *a, unsigned accept, int argc, char **argv)
{
	a->range = FLOE_TIMERANGE_ALL;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned need = 0;
		for (size_t k = 0; k < sizeof(aopt_tab) / sizeof(aopt_tab[0]) && !need; k++)
			if (strcmp(o, aopt_tab[k].name) == 0 ||
			    (aopt_tab[k].alias && strcmp(o, aopt_tab[k].alias) == 0))
				need = aopt_tab[k].flag;
		if (!need)
			return usage(a, "unknown option", o);
		if (!(accept & need))
			return usage(a, "option not for this subcommand:", o);
		if (need == A_DRY || need == A_RESUME || need == A_STATS) {
			*(need == A_DRY ? &a->dry_run : need == A_RESUME ? &a->resume : &a->stats) = true;
			continue;
		}
		if (!v)
			return usage(a, "missing argument after", o);
		i++;
		struct floe_errbuf eb = {0};
		switch (need) {
		case A_DIR:
			a->dir = v;
			break;
		case A_RANGE:
			if (floe_timerange_parse(v, now_ns(), &a->range, &eb) != FLOE_OK)
				return usage(a, eb.msg, NULL);
			break;
		case A_FMT:
			if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
				return usage(a, "-o takes text or json, not", v);
			a->json = strcmp(v, "json") == 0;
			break;
		case A_FILES:
			a->files = (const char **)&argv[i];
			a->nfiles = 1;
			while (i + 1 < argc && argv[i + 1][0] != '-') {
				a->nfiles++;
				i++;
			}
			break;
		case A_KEEP:
			if (!cli_parse_duration(v, &a->keep) || a->keep <= 0)
				return usage(a, "--keep takes a duration such as 180d or 12h, not", v);
			break;
		case A_SIZE:
			if (!cli_parse_size(v, &a->max_size) || a->max_size == 0)
				return usage(a, "--max-size takes a size such as 400G, not", v);
			break;
		case A_INST:
			a->instance = v;
			break;
		case A_SOURCE:
			if (a->nsources == sizeof(a->sources) / sizeof(a->sources[0]))
				return usage(a, "at most 64 -S sources", NULL);
			a->sources[a->nsources++] = v;
			break;
		case A_TLS:
			*(strcmp(o, "--token") == 0 ? &a->token_file : strcmp(o, "--tls-ca") == 0 ? &a->tls_ca
			  : strcmp(o, "--tls-cert") == 0 ? &a->tls_cert : &a->tls_key) = v;
			break;
		case A_ROT:
			if (!cli_parse_duration(v, &a->rotate) || a->rotate < 1000000000LL ||
			    86400000000000LL % a->rotate != 0)
				return usage(a, "--rotate takes a period that divides a day (5m, 1h, 1d), not",
				             v);
			break;
		case A_ENC: {
			uint64_t x;
			if (!cli_parse_count(v, &x) || x > 16)
				return usage(a, "--encoders takes 0..16, not", v);
			a->c.encoders = (unsigned)x;   /* cli_write_threads reads them */
			a->c.encoders_given = true;
			break;
		}
		case A_DB:
			if (strcmp(o, "--db-expire") == 0) {
				if (!cli_parse_duration(v, &a->db_expire) || a->db_expire <= 0)
					return usage(a, "--db-expire takes a duration such as 180d, not", v);
			} else {
				*(strcmp(o, "--pg") == 0 ? &a->pg : &a->clickhouse) = v;
			}
			break;
		case A_BLOCK: {
			uint64_t x;
			if (!cli_parse_count(v, &x) || x == 0 || x > 65536)
				return usage(a, "--block-records takes 1..65536, not", v);
			a->block_records = (uint32_t)x;
			break;
		}
		}
	}
	if (!a->dir && !a->nfiles)
		return usage(a, (accept & A_FILES) ? "give --dir ARCHIVE or -r FILE..." : "give --dir ARCHIVE",
		             NULL);
	return EXIT_OK;
}

static void put_time(int64_t t, char *buf, size_t len)
{
	floe_time_format(t, FLOE_TIME_RFC3339, 0, buf, len);
}

/* A JSON string (paths are the only free text printed). */
static void put_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* ---- ls ---- */

static int do_ls(struct aopts *a)
{
	struct floe_archive_list l = {0};
	struct floe_errbuf eb = {0};
	if (floe_archive_list(&l, a->dir, &eb) != FLOE_OK) {
		cli_error(&a->c, "%s", eb.msg);
		floe_archive_list_release(&l);
		return EXIT_FAIL;
	}
	int rc = EXIT_OK;
	uint64_t files = 0, records = 0, bytes = 0;
	if (!a->json)
		printf("%-20s %-10s %-20s %-20s %7s %10s %12s  %s\n", "period", "state", "first",
		       "last", "blocks", "records", "bytes", "path");
	for (size_t i = 0; i < l.n; i++) {
		const struct floe_archive_file *f = &l.files[i];
		struct floe_archive_info in;
		struct floe_errbuf fe = {0};
		bool ok = floe_archive_file_info(f->path, cli_log(), &in, &fe) == FLOE_OK;
		bool has = ok && in.tmin <= in.tmax;
		if (!floe_timerange_is_all(&a->range) &&
		    !(has && floe_timerange_overlaps(&a->range, in.tmin, in.tmax)))
			continue;
		if (!ok)
			rc = EXIT_DAMAGED;
		const char *state = !ok ? "unreadable" : f->part ? "part" : in.closed ? "closed"
		                                                                    : "no-footer";
		char period[40] = "-", first[40] = "-", last[40] = "-";
		if (f->named)
			put_time(f->period, period, sizeof(period));
		if (has) {
			put_time(in.tmin, first, sizeof(first));
			put_time(in.tmax, last, sizeof(last));
		}
		files++;
		records += ok ? in.records : 0;
		bytes += f->bytes;
		if (a->json) {
			printf("{\"path\":");
			put_json_str(f->path);
			printf(",\"instance\":");
			put_json_str(ok && in.instance[0] ? in.instance : f->instance);
			printf(",\"period\":");
			if (f->named)
				printf("\"%s\"", period);
			else
				printf("null");
			printf(",\"state\":\"%s\"", state);
			if (has)
				printf(",\"first\":\"%s\",\"last\":\"%s\"", first, last);
			else
				printf(",\"first\":null,\"last\":null");
			printf(",\"blocks\":%" PRIu64 ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n",
			       ok ? in.blocks : 0, ok ? in.records : 0, f->bytes);
		} else {
			printf("%-20s %-10s %-20s %-20s %7" PRIu64 " %10" PRIu64 " %12" PRIu64 "  %s\n",
			       period, state, first, last, ok ? in.blocks : 0, ok ? in.records : 0,
			       f->bytes, f->path);
		}
		if (!ok)
			cli_warn(&a->c, "%s", fe.msg);
	}
	if (!a->json)
		printf("%" PRIu64 " files, %" PRIu64 " records, %" PRIu64 " bytes\n", files, records,
		       bytes);
	floe_archive_list_release(&l);
	return rc;
}

/* ---- verify ---- */

static const char *footer_name(enum floe_verify_footer f)
{
	switch (f) {
	case FLOE_VERIFY_FOOTER_OK: return "ok";
	case FLOE_VERIFY_FOOTER_MISSING: return "missing";
	case FLOE_VERIFY_FOOTER_DAMAGED: return "damaged";
	}
	return "?";
}

static const char *damage_name(enum floe_damage_kind k)
{
	switch (k) {
	case FLOE_DAMAGE_BLOCK: return "block";
	case FLOE_DAMAGE_TORN: return "torn";
	case FLOE_DAMAGE_FOOTER: return "footer";
	}
	return "?";
}

struct vcount {
	uint64_t files, clean, damaged, open;
};

/* Verifies one file and prints its result; false on a fatal error. */
static bool verify_one(struct aopts *a, const char *path, struct vcount *n)
{
	struct floe_verify_result v;
	struct floe_errbuf eb = {0};
	if (floe_archive_verify_file(path, NULL, &v, &eb) != FLOE_OK) {
		cli_error(&a->c, "%s", eb.msg);
		return false;
	}
	n->files++;
	const char *verdict = !v.clean ? "damaged" : v.part ? "open" : "ok";
	if (!v.clean)
		n->damaged++;
	else if (v.part)
		n->open++;
	else
		n->clean++;
	if (a->json) {
		printf("{\"path\":");
		put_json_str(path);
		printf(",\"verdict\":\"%s\"", verdict);
		if (v.open_err != FLOE_OK) {
			printf(",\"error\":");
			put_json_str(v.open_msg);
			printf("}\n");
			return true;
		}
		printf(",\"footer\":\"%s\",\"blocks\":%" PRIu64 ",\"records\":%" PRIu64
		       ",\"blocks_damaged\":%" PRIu64 ",\"address_filter_pages_damaged\":%u",
		       footer_name(v.footer), v.blocks, v.records, v.blocks_damaged, v.af_pages_damaged);
		if (v.torn)
			printf(",\"torn_offset\":%" PRIu64, v.torn_offset);
		printf(",\"damage\":[");
		for (size_t i = 0; i < v.ndamage; i++) {
			printf("%s{\"kind\":\"%s\",\"block\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"what\":",
			       i ? "," : "", damage_name(v.damage[i].kind), v.damage[i].block,
			       v.damage[i].offset);
			put_json_str(v.damage[i].what);
			printf("}");
		}
		printf("]}\n");
		return true;
	}
	if (v.open_err != FLOE_OK) {
		printf("%-8s %s: %s\n", verdict, path, v.open_msg);
		return true;
	}
	printf("%-8s %s: %" PRIu64 " blocks, %" PRIu64 " records, footer %s", verdict, path,
	       v.blocks, v.records, v.part && v.footer == FLOE_VERIFY_FOOTER_MISSING
	                                ? "none (.part)" : footer_name(v.footer));
	if (v.torn)
		printf(", ends inside a block at offset %" PRIu64, v.torn_offset);
	printf("\n");
	for (size_t i = 0; i < v.ndamage; i++)
		if (v.damage[i].kind != FLOE_DAMAGE_TORN)
			printf("         block %" PRIu64 " at offset %" PRIu64 ": %s\n", v.damage[i].block,
			       v.damage[i].offset, v.damage[i].what);
	if (v.blocks_damaged > v.ndamage)
		printf("         ... %" PRIu64 " damaged blocks in all\n", v.blocks_damaged);
	if (v.af_pages_damaged)
		printf("         address filter: %u pages fail their checksum\n", v.af_pages_damaged);
	return true;
}

static int do_verify(struct aopts *a)
{
	struct vcount n = {0};
	int rc = EXIT_OK;
	for (size_t i = 0; i < a->nfiles && rc == EXIT_OK; i++)
		if (!verify_one(a, a->files[i], &n))
			rc = EXIT_FAIL;
	if (a->dir && rc == EXIT_OK) {
		struct floe_archive_list l = {0};
		struct floe_errbuf eb = {0};
		if (floe_archive_list(&l, a->dir, &eb) != FLOE_OK) {
			cli_error(&a->c, "%s", eb.msg);
			rc = EXIT_FAIL;
		}
		for (size_t i = 0; i < l.n && rc == EXIT_OK; i++)
			if (!verify_one(a, l.files[i].path, &n))
				rc = EXIT_FAIL;
		floe_archive_list_release(&l);
	}
	if (!a->json && rc == EXIT_OK)
		printf("%" PRIu64 " files: %" PRIu64 " ok, %" PRIu64 " open (.part), %" PRIu64
		       " damaged\n", n.files, n.clean, n.open, n.damaged);
	if (rc == EXIT_OK && n.damaged)
		rc = EXIT_DAMAGED;
	return rc;
}

/* ---- expire ---- */

static void print_removed(void *ud, const struct floe_archive_file *f, bool by_age)
{
	const struct aopts *a = ud;
	printf("%s %s (%s, %" PRIu64 " bytes)\n", a->dry_run ? "would remove" : "removed", f->path,
	       by_age ? "age" : "size", f->bytes);
}

static int do_expire(struct aopts *a)
{
	if (!a->keep && !a->max_size)
		return usage(a, "give --keep DUR and/or --max-size SIZE", NULL);
	struct floe_expire_opts o = {.now = now_ns(), .keep = a->keep, .max_bytes = a->max_size,
	                             .dry_run = a->dry_run, .log = cli_log(),
	                             .removed = print_removed, .ud = a};
	struct floe_expire_result r;
	struct floe_errbuf eb = {0};
	enum floe_err e = floe_archive_expire(a->dir, &o, &r, &eb);
	printf("%s %" PRIu64 " of %" PRIu64 " files, %" PRIu64 " of %" PRIu64 " bytes; "
	       "%" PRIu64 " .part files in use kept; %" PRIu64 " empty directories removed\n",
	       a->dry_run ? "would remove" : "removed", r.files_removed, r.files_before,
	       r.bytes_removed, r.bytes_before, r.files_busy, r.dirs_removed);
	if (e != FLOE_OK) {
		cli_error(&a->c, "%s", eb.msg);
		return EXIT_FAIL;
	}
	if (r.over_size)
		cli_warn(&a->c, "'%s' is still over %" PRIu64 " bytes: what is left is in use",
		         a->dir, a->max_size);
	return EXIT_OK;
}

/* ---- recover ---- */

static void print_recovered(void *ud, const struct floe_recover_report *r)
{
	uint64_t *failed = ud;
	switch (r->outcome) {
	case FLOE_RECOVER_CLOSED:
		printf("recovered %s -> %s: %" PRIu64 " blocks, %" PRIu64 " records, %" PRIu64
		       " damaged blocks and %" PRIu64 " bytes dropped\n", r->part, r->final, r->blocks,
		       r->records, r->blocks_damaged, r->bytes_dropped);
		break;
	case FLOE_RECOVER_RENAMED:
		printf("renamed %s -> %s: it was complete (%" PRIu64 " blocks, %" PRIu64 " records)\n",
		       r->part, r->final, r->blocks, r->records);
		break;
	case FLOE_RECOVER_REMOVED:
		printf("removed %s: no complete block\n", r->part);
		break;
	case FLOE_RECOVER_BUSY:
		printf("busy %s: a writer holds it\n", r->part);
		break;
	case FLOE_RECOVER_FAILED:
		printf("failed %s: %s\n", r->part, r->msg);
		(*failed)++;
		break;
	}
}

static int do_recover(struct aopts *a)
{
	uint64_t failed = 0;
	struct floe_errbuf eb = {0};
	enum floe_err e = floe_archive_recover(a->dir, cli_log(), print_recovered, &failed, &eb);
	if (e != FLOE_OK && !failed)
		cli_error(&a->c, "%s", eb.msg);
	return e == FLOE_OK ? EXIT_OK : EXIT_FAIL;
}


/* ---- the archiver: floe archive --dir D --instance NAME ---- */

#define NS 1000000000LL
#define EXPIRE_EVERY (3600 * NS)

struct arch {
	struct aopts *a;
	struct floe_archive *ar;
	const char *input;
	int64_t keep;              /* expiry, which SIGHUP may change */
	uint64_t max_size;
	uint64_t files_closed;     /* floe_archive_stats: expiry runs when it grows */
	int64_t next_expiry;       /* CLOCK_MONOTONIC ns */
	/* resuming: records with seq (streams) are dropped up to the last seq
	 * archived of their sensor; records without seq until one equals last */
	bool skipping;
	bool by_seq;
	struct floe_flow last;
	struct sensor_seq *seqs;
	size_t nseqs;
	uint64_t skipped;
	uint64_t records;
	/* --pg, --clickhouse: loading threads, woken as files close */
	struct floe_dbfollow *db_follow[2];
	/* -S with one source: its server's run id, kept in DIR/INSTANCE/.session
	 * so that a restart tells a server that restarted meanwhile (whose seqs
	 * begin again) from the one it left */
	uint64_t session;
	bool session_seen;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* Two records are the same when every field is: struct floe_flow has no
 * padding up to the end of dmac, so its bytes up to there are its fields;
 * seq, after padding, is the last. */
#define FLOW_HEAD_BYTES (offsetof(struct floe_flow, dmac) + sizeof(((struct floe_flow *)0)->dmac))
_Static_assert(offsetof(struct floe_flow, seq) + sizeof(uint64_t) == sizeof(struct floe_flow),
               "seq is no longer the last field of struct floe_flow");

static bool flow_same(const struct floe_flow *x, const struct floe_flow *y)
{
	return memcmp(x, y, FLOW_HEAD_BYTES) == 0 && x->seq == y->seq;
}

/* Resuming by seq: the last seq archived of each sensor (at most
 * RESUME_SENSORS of them: a sensor past that is not resumed, logged). */
#define RESUME_SENSORS 4096

struct sensor_seq {
	uint32_t sensor;
	bool done;                 /* a newer record came: no more skipping */
	uint64_t last;
};

/* v[0..n) is sorted by sensor: the place of sensor (where it is, or
 * would go). */
static size_t sensor_place(const struct sensor_seq *v, size_t n, uint32_t sensor)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].sensor < sensor)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct sensor_seq *sensor_find(struct sensor_seq *v, size_t n, uint32_t sensor)
{
	size_t i = sensor_place(v, n, sensor);
	return i < n && v[i].sensor == sensor ? &v[i] : NULL;
}

static void log_expired(void *ud, const struct floe_archive_file *f, bool by_age)
{
	(void)ud;
	floe_logf(cli_log(), FLOE_LOG_INFO, "expired '%s' (%s, %" PRIu64 " bytes)", f->path,
	          by_age ? "age" : "size", f->bytes);
}

static void arch_expire(struct arch *d)
{
	d->next_expiry = mono_ns() + EXPIRE_EVERY;
	if (!d->keep && !d->max_size)
		return;
	struct floe_expire_opts o = {.now = now_ns(), .keep = d->keep, .max_bytes = d->max_size,
	                             .log = cli_log(), .removed = log_expired, .ud = d};
	struct floe_expire_result r;
	struct floe_errbuf eb = {0};
	if (floe_archive_expire(d->a->dir, &o, &r, &eb) != FLOE_OK)
		floe_logf(cli_log(), FLOE_LOG_WARN, "expiry: %s", eb.msg);
	else if (r.over_size)
		floe_logf(cli_log(), FLOE_LOG_WARN, "'%s' is still over %" PRIu64 " bytes: what is "
		          "left is in use", d->a->dir, d->max_size);
}

/* The period and "-N" of a writer's file name (archive.h), to order the
 * instance's files by when they were written. */
static bool file_order(const struct floe_archive_file *f, int64_t *period, unsigned *seq)
{
	if (!f->named || f->part)
		return false;
	*period = f->period;
	*seq = 0;
	const char *base = strrchr(f->path, '/');
	base = base ? base + 1 : f->path;
	size_t n = strlen(base);
	if (n < 6)
		return true;
	size_t e = n - 5, k = e;   /* before ".floe" */
	while (k > 0 && base[k - 1] >= '0' && base[k - 1] <= '9')
		k--;
	if (k < e && k >= 2 && base[k - 1] == '-' && base[k - 2] == 'Z')
		*seq = (unsigned)strtoul(base + k, NULL, 10);
	return true;
}

struct last_block {
	uint64_t nblocks, seen;
};

static bool only_last(void *ud, const struct floe_block_summary *s)
{
	(void)s;
	struct last_block *lb = ud;
	return ++lb->seen >= lb->nblocks;
}

/* The last seq of each sensor in file, reading only those two columns. */
static enum floe_err scan_seqs(struct arch *d, const char *file, struct floe_errbuf *eb)
{
	struct floe_reader *r = floe_reader_open(file, cli_log(), eb);
	if (!r)
		return eb->code;
	floe_reader_set_columns(r, floe_columns_of(offsetof(struct floe_flow, sensor), 4) |
	                               floe_columns_of(offsetof(struct floe_flow, seq), 8));
	const struct floe_flow *recs;
	size_t n;
	enum floe_err e;
	bool full = false;
	while ((e = floe_reader_next(r, &recs, &n)) == FLOE_OK)
		for (size_t i = 0; i < n; i++) {
			if (!recs[i].seq)
				continue;
			struct sensor_seq *s = sensor_find(d->seqs, d->nseqs, recs[i].sensor);
			if (!s && d->nseqs < RESUME_SENSORS) {
				size_t k = sensor_place(d->seqs, d->nseqs, recs[i].sensor);
				memmove(&d->seqs[k + 1], &d->seqs[k], (d->nseqs - k) * sizeof(*s));
				d->nseqs++;
				s = &d->seqs[k];
				*s = (struct sensor_seq){.sensor = recs[i].sensor};
			}
			if (s && recs[i].seq > s->last)
				s->last = recs[i].seq;
			full = full || !s;
		}
	if (full)
		floe_logf(cli_log(), FLOE_LOG_WARN, "'%s': records of more than %d sensors: the others "
		          "are not resumed", file, RESUME_SENSORS);
	if (e != FLOE_EOF)
		floe_errbuf_set(eb, e, "%s", floe_reader_error(r));
	floe_reader_close(r);
	return e == FLOE_EOF ? FLOE_OK : e;
}

/* The last record of the instance's newest file (after recovery every
 * file of it is closed) and the last seq of each sensor in it: where a
 * replayed stream resumes. */
static enum floe_err find_last(struct arch *d, bool *found, char *file, size_t len,
                               struct floe_errbuf *eb)
{
	*found = false;
	char dir[FLOE_ARCHIVE_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/%s", d->a->dir, d->a->instance);
	struct floe_archive_list l = {0};
	enum floe_err e = floe_archive_list(&l, dir, eb);
	const struct floe_archive_file *best = NULL;
	int64_t bp = 0;
	unsigned bs = 0;
	for (size_t i = 0; e == FLOE_OK && i < l.n; i++) {
		int64_t p;
		unsigned q;
		if (strcmp(l.files[i].instance, d->a->instance) != 0 ||
		    !file_order(&l.files[i], &p, &q))
			continue;
		if (!best || p > bp || (p == bp && q > bs)) {
			best = &l.files[i];
			bp = p;
			bs = q;
		}
	}
	if (e != FLOE_OK || !best) {
		floe_archive_list_release(&l);
		return e;
	}
	snprintf(file, len, "%s", best->path);
	floe_archive_list_release(&l);
	if ((e = scan_seqs(d, file, eb)) != FLOE_OK)
		return e;
	struct floe_reader *r = floe_reader_open(file, cli_log(), eb);
	if (!r)
		return eb->code;
	struct last_block lb = {0};
	int64_t tmin, tmax;
	uint64_t nrec;
	if (floe_reader_footer_range(r, &tmin, &tmax, &lb.nblocks, &nrec))
		floe_reader_set_block_filter(r, only_last, &lb);
	const struct floe_flow *recs;
	size_t n;
	while ((e = floe_reader_next(r, &recs, &n)) == FLOE_OK)
		if (n) {
			d->last = recs[n - 1];
			*found = true;
		}
	if (e != FLOE_EOF)
		floe_errbuf_set(eb, e, "%s", floe_reader_error(r));
	floe_reader_close(r);
	return e == FLOE_EOF ? FLOE_OK : e;
}

/* Whether f is a replay of a record archived before the start. */
static bool already_archived(struct arch *d, const struct floe_flow *f)
{
	if (!d->skipping)
		return false;
	if (d->by_seq) {
		struct sensor_seq *s = f->seq ? sensor_find(d->seqs, d->nseqs, f->sensor) : NULL;
		if (!s || s->done)
			return false;
		if (f->seq <= s->last)
			return true;
		/* past it: later small seqs are a restarted producer's */
		s->done = true;
		floe_logf(cli_log(), FLOE_LOG_INFO, "sensor %" PRIu32 ": resumed after seq %" PRIu64,
		          s->sensor, s->last);
		return false;
	}
	if (flow_same(f, &d->last)) {
		d->skipping = false;
		floe_logf(cli_log(), FLOE_LOG_INFO, "resumed after %" PRIu64 " records already archived",
		          d->skipped + 1);
	}
	return true;
}

static enum floe_err arch_add(struct arch *d, const struct floe_flow *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (already_archived(d, &recs[i])) {
			d->skipped++;
			continue;
		}
		enum floe_err e = floe_archive_add(d->ar, &recs[i]);
		if (e != FLOE_OK)
			return e;
		d->records++;
	}
	struct floe_archive_stats st;
	floe_archive_stats(d->ar, &st);
	if (st.files != d->files_closed) {
		d->files_closed = st.files;
		arch_expire(d);
		floe_dbfollow_wake(d->db_follow[0]);
		floe_dbfollow_wake(d->db_follow[1]);
	}
	return FLOE_OK;
}

/* SIGHUP: the options that change at run time are --keep and --max-size;
 * an option the command line gave stays. */
struct reread {
	int64_t keep;
	uint64_t max_size;
	bool bad;
};

static void reread_entry(void *ud, const struct cli_conf_entry *e)
{
	struct reread *r = ud;
	if (strcmp(e->key, "keep") == 0 && !cli_parse_duration(e->value, &r->keep))
		r->bad = true;
	else if (strcmp(e->key, "max-size") == 0 && !cli_parse_size(e->value, &r->max_size))
		r->bad = true;
	if (r->bad)
		floe_logf(cli_log(), FLOE_LOG_ERR, "configuration line %u: bad %s '%s'", e->line,
		          e->key, e->value);
}

static void arch_reload(struct arch *d)
{
	/* static: what the configuration says lives beside the archiver, not
	 * in a frame the reload's callbacks point into */
	static struct reread r;
	r = (struct reread){0};
	if (!cli_service_reload(reread_entry, &r) || r.bad)
		return;
	if (!cli_service_cmdline_has("keep"))
		d->keep = r.keep;
	if (!cli_service_cmdline_has("max-size"))
		d->max_size = r.max_size;
	floe_logf(cli_log(), FLOE_LOG_INFO, "expiry: keep %" PRId64 " s, max size %" PRIu64
	          " bytes (0: no limit)", (int64_t)(d->keep / NS), d->max_size);
	arch_expire(d);
}

/* What the archiver does between reads, whatever its input: a reload on
 * SIGHUP, expiry when due.  True when a stop signal came. */
static bool arch_duties(struct arch *d)
{
	unsigned sig = cli_service_pending();
	if (sig & CLI_SIG_STOP) {
		floe_logf(cli_log(), FLOE_LOG_INFO, "stopping on a signal");
		return true;
	}
	if (sig & CLI_SIG_RELOAD)
		arch_reload(d);
	if (mono_ns() >= d->next_expiry)
		arch_expire(d);
	return false;
}

/* Reads the input until its end or a stop signal.  Returns an exit code. */
static int arch_loop(struct arch *d, int fd, struct floe_pipe_reader *pr)
{
	int sfd = cli_service_signals();
	for (;;) {
		struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		int64_t wait = (d->next_expiry - mono_ns()) / 1000000;
		int k = poll(pf, sfd >= 0 ? 2 : 1, wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait);
		if (k < 0 && errno != EINTR) {
			cli_error(&d->a->c, "poll: %s", strerror(errno));
			return EXIT_FAIL;
		}
		if (arch_duties(d))
			return EXIT_OK;
		if (k <= 0 || !(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		size_t room;
		uint8_t *space = floe_pipe_reader_space(pr, 0, &room);
		if (!space) {
			cli_error(&d->a->c, "%s", floe_pipe_reader_error(pr));
			return EXIT_FAIL;
		}
		ssize_t got = read(fd, space, room);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			cli_error(&d->a->c, "cannot read '%s': %s", d->input, strerror(errno));
			return EXIT_FAIL;
		}
		if (got > 0)
			floe_pipe_reader_commit(pr, (size_t)got);
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e;
		while ((e = floe_pipe_reader_next(pr, &recs, &n)) == FLOE_OK)
			if (arch_add(d, recs, n) != FLOE_OK) {
				cli_error(&d->a->c, "%s", floe_archive_error(d->ar));
				return EXIT_FAIL;
			}
		if (e != FLOE_AGAIN && e != FLOE_EOF) {
			cli_error(&d->a->c, "%s", floe_pipe_reader_error(pr));
			return EXIT_FAIL;
		}
		if (got == 0) {
			struct floe_pipe_stats st;
			floe_pipe_reader_stats(pr, &st);
			if (floe_pipe_reader_end(pr) != FLOE_OK) {
				cli_warn(&d->a->c, "%s", floe_pipe_reader_error(pr));
				return EXIT_DAMAGED;
			}
			if (st.blocks_damaged) {
				/* each one named in the log as it was skipped */
				cli_warn(&d->a->c, "%" PRIu64 " damaged blocks skipped", st.blocks_damaged);
				return EXIT_DAMAGED;
			}
			return EXIT_OK;
		}
	}
}

static void session_path(const struct arch *d, char *buf, size_t len, const char *tail)
{
	snprintf(buf, len, "%s/%s/.session%s", d->a->dir, d->a->instance, tail);
}

/* The run id the archive's records came from (0: none known). */
static uint64_t session_load(const struct arch *d)
{
	char path[FLOE_ARCHIVE_PATH_MAX];
	session_path(d, path, sizeof(path), "");
	FILE *f = fopen(path, "r");
	unsigned long long v = 0;
	if (f && fscanf(f, "%llu", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v;
}

/* Written whole (temporary file, fsync, rename): a hidden file, which
 * listing, expiry and recovery leave alone. */
static void session_store(const struct arch *d, uint64_t v)
{
	char path[FLOE_ARCHIVE_PATH_MAX], tmp[FLOE_ARCHIVE_PATH_MAX + 8];
	session_path(d, path, sizeof(path), "");
	session_path(d, tmp, sizeof(tmp), ".tmp");
	FILE *f = fopen(tmp, "w");
	bool ok = f && fprintf(f, "%llu\n", (unsigned long long)v) > 0 && fflush(f) == 0 &&
	          fsync(fileno(f)) == 0;
	if (f)
		ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0)
		floe_logf(cli_log(), FLOE_LOG_WARN, "cannot write '%s': %s", path, strerror(errno));
}

/* After each block from one source: a server run other than the one the
 * archive's records came from numbers from 1 again, sends every record
 * (the resume points were for another run), and none is dropped here. */
static void session_check(struct arch *d, struct floe_stream_client *c)
{
	if (d->a->nsources != 1)
		return;
	uint64_t s = floe_stream_client_session(c, 0);
	if (!s || s == d->session)
		return;
	if (!d->session_seen && d->session && d->skipping) {
		d->skipping = false;
		floe_logf(cli_log(), FLOE_LOG_INFO, "the server restarted since the last record "
		          "archived: its records are all new");
	}
	d->session_seen = true;
	d->session = s;
	session_store(d, s);
}

/* The same from stream servers (-S): the client waits in poll itself, a
 * fifth of a second at a time, so signals and the hourly expiry are seen. */
static int arch_loop_stream(struct arch *d, struct floe_stream_client *c)
{
	cli_service_signals();
	for (;;) {
		if (arch_duties(d))
			return EXIT_OK;
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = floe_stream_client_next(c, &recs, &n, NS / 5);
		if (e == FLOE_AGAIN)
			continue;
		if (e == FLOE_EOF) {
			floe_logf(cli_log(), FLOE_LOG_INFO, "every source ended its stream");
			return EXIT_OK;
		}
		if (e != FLOE_OK) {
			cli_error(&d->a->c, "%s", floe_stream_client_error(c));
			return EXIT_FAIL;
		}
		session_check(d, c);
		if (arch_add(d, recs, n) != FLOE_OK) {
			cli_error(&d->a->c, "%s", floe_archive_error(d->ar));
			return EXIT_FAIL;
		}
	}
}

/* The client, asking every source to start after the last seq archived
 * of each sensor (d->seqs, filled by find_last), and for its backlog of
 * the sensors not among them. */
static struct floe_stream_client *open_sources(struct arch *d, char **token,
                                               struct floe_errbuf *eb)
{
	struct aopts *a = d->a;
	if (a->token_file && !(*token = floe_stream_read_token(a->token_file, eb)))
		return NULL;
	size_t nr = d->nseqs < FLOE_STREAM_RESUME_MAX ? d->nseqs : FLOE_STREAM_RESUME_MAX;
	struct floe_stream_resume *rs = nr ? calloc(nr, sizeof(*rs)) : NULL;
	if (nr && !rs) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < nr; i++)
		rs[i] = (struct floe_stream_resume){d->seqs[i].sensor, d->seqs[i].last};
	if (d->nseqs > nr)
		floe_logf(cli_log(), FLOE_LOG_WARN, "resume points for %zu of %zu sensors: the others "
		          "are resumed by dropping what the backlog repeats", nr, d->nseqs);
	struct floe_stream_client_opts co = {
		.sources = a->sources, .nsources = a->nsources, .instance = a->instance,
		.token = *token, .tls_ca = a->tls_ca, .tls_cert = a->tls_cert, .tls_key = a->tls_key,
		/* the backlog of sensors without a resume point: new ones, or
		 * none archived yet */
		.backlog = true,
		.resume = rs, .nresume = nr,
		/* one server run for every source: only with one source */
		.resume_session = a->nsources == 1 ? d->session : 0,
		/* a source not up yet (or restarting) is waited for */
		.wait = true, .log = cli_log()};
	struct floe_stream_client *c = floe_stream_client_create(&co, eb);
	free(rs);   /* copied at create */
	return c;
}

/* ---- --pg, --clickhouse: each closed file into the databases ---- */

struct arch_db {
	char dir[FLOE_ARCHIVE_PATH_MAX];
	const char *dirs[1];
	struct floe_dbload_opts lo;
	struct floe_pg *pg;
	struct floe_ch *ch;
};

/* A thread per database follows the instance's directory (dbload.h): what
 * the ledger lacks is loaded, so a restart or a database back after a
 * while catches up.  The connections are made by the threads. */
static bool arch_db_start(struct arch *d, struct arch_db *db)
{
	struct aopts *a = d->a;
	if (!a->pg && !a->clickhouse)
		return true;
	snprintf(db->dir, sizeof(db->dir), "%s/%s", a->dir, a->instance);
	db->dirs[0] = db->dir;
	db->lo = (struct floe_dbload_opts){.dirs = db->dirs, .ndirs = 1,
	                                   .range = FLOE_TIMERANGE_ALL, .follow = true,
	                                   .interval = 2 * NS, .max_interval = 60 * NS,
	                                   .expire_keep = a->db_expire, .log = cli_log()};
	struct floe_errbuf eb = {0};
	if (a->pg) {
		struct floe_pg_opts po = {.dsn = a->pg, .log = cli_log(), .lazy = true};
		if ((db->pg = floe_pg_create(&po, &eb)))
			d->db_follow[0] = floe_pg_follow(db->pg, &db->lo, &eb);
		if (!d->db_follow[0]) {
			cli_error(&a->c, "--pg: %s", eb.msg);
			return false;
		}
	}
	if (a->clickhouse) {
		struct floe_ch_opts co = {.url = a->clickhouse, .log = cli_log(), .lazy = true};
		if ((db->ch = floe_ch_create(&co, &eb)))
			d->db_follow[1] = floe_ch_follow(db->ch, &db->lo, &eb);
		if (!d->db_follow[1]) {
			cli_error(&a->c, "--clickhouse: %s", eb.msg);
			return false;
		}
	}
	return true;
}

/* After the last file closed: one more pass each, then the threads end. */
static void arch_db_stop(struct arch *d, struct arch_db *db)
{
	static const char *const names[2] = {"PostgreSQL", "ClickHouse"};
	for (int i = 0; i < 2; i++) {
		if (!d->db_follow[i])
			continue;
		struct floe_dbload_stats st;
		floe_dbfollow_stop(d->db_follow[i], &st);
		d->db_follow[i] = NULL;
		if (d->a->stats)
			floe_logf(cli_log(), FLOE_LOG_INFO, "%s: files loaded %" PRIu64 ", already "
			          "loaded %" PRIu64 ", rows %" PRIu64 ", retries %" PRIu64 ", partitions "
			          "dropped %" PRIu64, names[i], st.files_loaded, st.files_skipped, st.rows,
			          st.retries, st.partitions_dropped);
	}
	floe_pg_destroy(db->pg);
	floe_ch_destroy(db->ch);
}

static int do_daemon(struct aopts *a)
{
	struct arch d = {.a = a, .keep = a->keep, .max_size = a->max_size};
	d.input = a->nfiles ? a->files[0] : a->nsources ? a->sources[0] : "-";
	if (a->nfiles > 1 || (a->nfiles && a->nsources))
		return usage(a, "the archiver reads one stream: -r -|FILE or -S HOST:PORT...", NULL);
	if ((a->token_file || a->tls_ca || a->tls_cert || a->tls_key) && !a->nsources)
		return usage(a, "--token and --tls-* go with -S", NULL);
	if (!a->instance)
		a->instance = "floe";
	int fd = STDIN_FILENO;
	if (!a->nsources && strcmp(d.input, "-") != 0) {
		fd = open(d.input, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_error(&a->c, "cannot open '%s': %s", d.input, strerror(errno));
			return EXIT_FAIL;
		}
	}
	struct floe_errbuf eb = {0};
	struct floe_archive_opts ao = {.dir = a->dir, .instance = a->instance, .rotate = a->rotate,
	                               .block_records = a->block_records, .log = cli_log(),
	                               .recover = true, .threads = cli_write_threads(&a->c)};
	d.ar = floe_archive_create(&ao, &eb);
	struct floe_pipe_reader *pr = NULL;
	struct floe_stream_client *client = NULL;
	char *token = NULL;
	d.seqs = calloc(RESUME_SENSORS, sizeof(*d.seqs));
	int rc = d.ar && d.seqs ? EXIT_OK : EXIT_FAIL;
	if (rc != EXIT_OK)
		cli_error(&a->c, "%s", d.seqs ? eb.msg : "out of memory");
	/* from stream servers the archiver always resumes */
	if (rc == EXIT_OK && (a->resume || a->nsources)) {
		char file[FLOE_ARCHIVE_PATH_MAX] = "";
		bool found;
		if (find_last(&d, &found, file, sizeof(file), &eb) != FLOE_OK) {
			cli_error(&a->c, "cannot resume: %s", eb.msg);
			rc = EXIT_FAIL;
		} else if (found && (d.last.seq != 0 || !a->nsources)) {
			/* from servers only by seq: a stream never replays a
			 * record without one */
			d.skipping = true;
			d.by_seq = d.last.seq != 0;
			floe_logf(cli_log(), FLOE_LOG_INFO, "resuming after the last %s of '%s'",
			          d.by_seq ? "seq of each sensor" : "record", file);
		}
	}
	if (rc == EXIT_OK && a->nsources) {
		d.session = session_load(&d);
		client = open_sources(&d, &token, &eb);
	}
	else if (rc == EXIT_OK)
		pr = floe_pipe_reader_create(strcmp(d.input, "-") ? d.input : "standard input",
		                             cli_log(), &eb);
	if (rc == EXIT_OK && !pr && !client) {
		cli_error(&a->c, "%s", eb.msg);
		rc = EXIT_FAIL;
	}
	struct arch_db db = {0};
	if (rc == EXIT_OK && !arch_db_start(&d, &db))
		rc = EXIT_FAIL;
	if (rc == EXIT_OK) {
		floe_logf(cli_log(), FLOE_LOG_INFO, "archiving '%s' into '%s/%s'", d.input, a->dir,
		          a->instance);
		arch_expire(&d);
		rc = client ? arch_loop_stream(&d, client) : arch_loop(&d, fd, pr);
	}
	/* the open file: last block, footer, fsync, rename */
	eb = (struct floe_errbuf){0};
	if (floe_archive_close(d.ar, &eb) != FLOE_OK) {
		cli_error(&a->c, "%s", eb.msg);
		rc = EXIT_FAIL;
	}
	arch_db_stop(&d, &db);
	if (d.skipping && !d.by_seq) {
		cli_warn(&a->c, "the stream ended before the last record archived: %" PRIu64
		         " records dropped as already archived", d.skipped);
		if (rc == EXIT_OK)
			rc = EXIT_DAMAGED;
	}
	if (client) {
		struct floe_stream_client_stats cs;
		floe_stream_client_stats(client, &cs);
		if (cs.lost || cs.server_dropped) {
			cli_warn(&a->c, "%" PRIu64 " records lost by seq, %" PRIu64 " dropped by servers",
			         cs.lost, cs.server_dropped);
			if (rc == EXIT_OK)
				rc = EXIT_DAMAGED;
		}
		if (a->stats)
			floe_logf(cli_log(), FLOE_LOG_INFO, "stream: records %" PRIu64 ", lost %" PRIu64
			          ", restarts %" PRIu64 ", connects %" PRIu64 ", reconnects %" PRIu64,
			          cs.records, cs.lost, cs.restarts, cs.connects, cs.reconnects);
	}
	if (d.ar && (a->stats || rc == EXIT_OK))
		floe_logf(cli_log(), FLOE_LOG_INFO, "archived %" PRIu64 " records, %" PRIu64
		          " dropped as already archived", d.records, d.skipped);
	floe_pipe_reader_destroy(pr);
	floe_stream_client_destroy(client);
	free(token);
	free(d.seqs);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

static const struct sub {
	const char *name;
	unsigned accept;
	int (*fn)(struct aopts *a);
} subs[] = {
	{"ls", A_DIR | A_RANGE | A_FMT, do_ls},
	{"verify", A_DIR | A_FILES | A_FMT, do_verify},
	{"expire", A_DIR | A_KEEP | A_SIZE | A_DRY, do_expire},
	{"recover", A_DIR, do_recover},
};

/* The archiver's options (no subcommand word). */
static const struct sub daemon_sub = {
	"", A_DIR | A_FILES | A_KEEP | A_SIZE | A_INST | A_ROT | A_BLOCK | A_RESUME | A_STATS |
	        A_SOURCE | A_TLS | A_ENC | A_DB,
	do_daemon};

int cmd_archive(int argc, char **argv)
{
	struct aopts a = {0};
	a.c.cmd = "archive";
	if (argc < 1) {
		fputs(archive_help, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		fputs(archive_help, stdout);
		return EXIT_OK;
	}
	if (argv[0][0] == '-') {
		/* no subcommand: the archiver */
		for (int k = 0; k < argc; k++)
			if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0) {
				fputs(archive_help, stdout);
				return EXIT_OK;
			}
		int rc = parse(&a, daemon_sub.accept, argc, argv);
		if (rc == EXIT_OK && !a.dir)
			rc = usage(&a, "give --dir ARCHIVE", NULL);
		return rc == EXIT_OK ? daemon_sub.fn(&a) : rc;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[0], subs[i].name) != 0)
			continue;
		snprintf(a.cmd, sizeof(a.cmd), "archive %s", subs[i].name);
		a.c.cmd = a.cmd;
		for (int k = 1; k < argc; k++)
			if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0) {
				fputs(archive_help, stdout);
				return EXIT_OK;
			}
		int rc = parse(&a, subs[i].accept, argc - 1, argv + 1);
		return rc == EXIT_OK ? subs[i].fn(&a) : rc;
	}
	cli_error(&a.c, "unknown subcommand '%s' (try 'floe archive --help')", argv[0]);
	return EXIT_USAGE;
}
