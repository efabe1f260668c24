/*
 * cmd_export.c - `floe export`: send records to another system.
 *
 *   floe export ipfix udp://HOST:PORT -r FILE... | -R DIR... [-t RANGE]
 *               [--mtu BYTES] [--domain ID] [--template-interval DUR] [FILTER]
 *
 * Reads like `floe read` (same sources, time range and filter) and sends
 * the matching records as IPFIX messages (RFC 7011) over UDP to a
 * collector (nfcapd, ipfixcol2, another floe collect).  docs/ipfix.md.
 *
 *   floe export pg --dsn DSN (-R DIR... | -r FILE...) [-t RANGE] [--table T]
 *               [--follow [--interval DUR]] [--expire DUR] [--schema]
 *   floe export clickhouse --url URL [--user U --password P] (-R | -r) ...
 *               [--cluster NAME --shard URL...]
 *
 * Loads floe files into PostgreSQL or ClickHouse, each file once
 * (export/pg.h, export/clickhouse.h, docs/db.md).
 */
#include "cli.h"
#include "export/clickhouse.h"
#include "export/ipfix.h"
#include "export/pg.h"

#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char export_help[] =
	"usage: floe export ipfix udp://HOST:PORT -r FILE... | -R DIR... [options] [FILTER]\n"
	"\n"
	"Sends the records of floe files as IPFIX (RFC 7011) over UDP.\n"
	"\n"
	"  -r FILE...       input files (\"-\" reads standard input)\n"
	"  -R DIR...        every .floe file below DIR, e.g. an archive\n"
	"  -t RANGE         records overlapping RANGE (as floe read)\n"
	"  --mtu BYTES      largest IPFIX message (default 1400)\n"
	"  --domain ID      Observation Domain ID (default 0)\n"
	"  --template-interval DUR  send the templates again after DUR (default 60s)\n"
	"  --stats          print counts of blocks and records to stderr\n"
	"\n"
	"An IPFIX file instead: floe read -r FILE -o ipfix -w OUT.ipfix\n"
	"Databases: floe export pg --help, floe export clickhouse --help\n";

static const char db_help[] =
	"usage: floe export pg --dsn DSN (-R DIR... | -r FILE...) [options]\n"
	"       floe export clickhouse --url URL (-R DIR... | -r FILE...) [options]\n"
	"\n"
	"Loads floe files into PostgreSQL (binary COPY, a partition per day) or\n"
	"ClickHouse (Native blocks over HTTP, MergeTree partitioned by day).  A file\n"
	"is loaded once: a ledger table remembers it.  docs/db.md.\n"
	"\n"
	"  --dsn DSN        PostgreSQL connection string (libpq), e.g.\n"
	"                   'host=127.0.0.1 port=5432 dbname=flows user=floe'\n"
	"  --url URL        ClickHouse HTTP interface, e.g. http://127.0.0.1:8123/\n"
	"  --user U, --password P   ClickHouse user (default: default, none)\n"
	"  --cluster NAME   ClickHouse: insert through a Distributed table over\n"
	"  --shard URL...   <table>_local on each shard (HTTP URLs of the shards)\n"
	"  --format F       ClickHouse: native (default, column blocks) or rowbinary\n"
	"  -r FILE...       files to load\n"
	"  -R DIR...        every closed .floe file below DIR (an archive)\n"
	"  -t RANGE         only the records overlapping RANGE\n"
	"  --table NAME     table (default flows; also NAME_files, the ledger)\n"
	"  --follow         keep loading files of -R as they close, until a signal\n"
	"  --interval DUR   --follow: look for new files every DUR (default 5s)\n"
	"  --expire DUR     drop the day partitions older than DUR (e.g. 180d)\n"
	"  --jobs N         load N files at once, over N connections (default 1)\n"
	"  --schema         print the tables' DDL and exit\n"
	"  --stats          print counts of files and rows to stderr\n"
	"  -v               name each file loaded\n";

static volatile sig_atomic_t db_stop;

static void db_on_signal(int sig)
{
	(void)sig;
	db_stop = 1;
}

static void db_log_fn(void *ud, enum floe_loglevel level, const char *msg)
{
	const struct cli_opts *o = ud;
	static const char *const names[] = {"error", "warning", "info", "debug"};
	if (level <= FLOE_LOG_WARN || (level == FLOE_LOG_INFO && o->verbose))
		fprintf(stderr, "floe export: %s: %s\n", names[level], msg);
}

/* The options of `floe export pg|clickhouse` besides the shared ones. */
struct db_args {
	const char *dsn, *url, *user, *password, *table, *cluster;
	const char *shards[FLOE_CH_MAX_SHARDS];
	size_t nshards;
	bool schema, follow, stats, rowbinary;
	int64_t interval, expire;
	uint64_t jobs;
};

static int db_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "floe export: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try 'floe export --help')\n");
	return EXIT_USAGE;
}

static int db_export(bool pg, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(db_help, stdout);
			return EXIT_OK;
		}
	char **av = calloc((size_t)argc + 1, sizeof(*av));
	if (!av)
		return EXIT_FAIL;
	int ac = 0;
	struct db_args a = {0};
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
		const char **dst = NULL;
		if (strcmp(arg, "--schema") == 0) {
			a.schema = true;
			continue;
		} else if (strcmp(arg, "--follow") == 0) {
			a.follow = true;
			continue;
		} else if (strcmp(arg, "--stats") == 0) {
			a.stats = true;
			continue;
		} else if (!pg && strcmp(arg, "--format") == 0) {
			if (!next || (strcmp(next, "native") != 0 && strcmp(next, "rowbinary") != 0)) {
				free(av);
				return db_usage("%s", "bad --format (native, rowbinary)");
			}
			a.rowbinary = strcmp(next, "rowbinary") == 0;
			i++;
			continue;
		} else if (strcmp(arg, "--jobs") == 0) {
			if (!next || !cli_parse_count(next, &a.jobs) || a.jobs == 0 ||
			    a.jobs > FLOE_DBLOAD_MAX_JOBS) {
				free(av);
				return db_usage("%s", "bad --jobs (1 to 16)");
			}
			i++;
			continue;
		} else if (strcmp(arg, "--interval") == 0 || strcmp(arg, "--expire") == 0) {
			int64_t *d = arg[2] == 'i' ? &a.interval : &a.expire;
			if (!next || !cli_parse_duration(next, d) || *d <= 0) {
				free(av);
				return db_usage("bad %s", arg);
			}
			i++;
			continue;
		} else if (pg && strcmp(arg, "--dsn") == 0) {
			dst = &a.dsn;
		} else if (!pg && strcmp(arg, "--url") == 0) {
			dst = &a.url;
		} else if (!pg && strcmp(arg, "--user") == 0) {
			dst = &a.user;
		} else if (!pg && strcmp(arg, "--password") == 0) {
			dst = &a.password;
		} else if (!pg && strcmp(arg, "--cluster") == 0) {
			dst = &a.cluster;
		} else if (!pg && strcmp(arg, "--shard") == 0) {
			if (a.nshards == FLOE_CH_MAX_SHARDS) {
				free(av);
				return db_usage("%s", "too many --shard");
			}
			dst = &a.shards[a.nshards++];
		} else if (strcmp(arg, "--table") == 0) {
			dst = &a.table;
		} else {
			av[ac++] = argv[i];
			continue;
		}
		if (!next) {
			free(av);
			return db_usage("%s needs a value", arg);
		}
		*dst = next;
		i++;
	}
	if (a.schema) {
		free(av);
		size_t need = pg ? floe_pg_schema(a.table, NULL, 0)
		                 : floe_ch_schema(a.table, a.cluster, NULL, 0);
		char *ddl = malloc(need + 1);
		if (!ddl)
			return EXIT_FAIL;
		if (pg)
			floe_pg_schema(a.table, ddl, need + 1);
		else
			floe_ch_schema(a.table, a.cluster, ddl, need + 1);
		fputs(ddl, stdout);
		free(ddl);
		return EXIT_OK;
	}
	if (pg ? !a.dsn : !a.url) {
		free(av);
		return db_usage("%s", pg ? "give the database: --dsn DSN" : "give the server: --url URL");
	}
	struct cli_opts o = {.cmd = "export"};
	int rc;
	bool go = cli_begin(&o, OPT_READ | OPT_SOURCE, ac, av, db_help, &rc);
	free(av);
	if (!go)
		return rc;
	rc = EXIT_OK;
	for (size_t i = 0; i < o.nrfiles; i++)
		if (strcmp(o.rfiles[i], "-") == 0) {
			cli_error(&o, "cannot load standard input: a loaded file needs an identity "
			              "(give -r FILE or -R DIR)");
			rc = EXIT_USAGE;
		}
	if (!rc && o.filter) {
		cli_error(&o, "no filter here: the database selects ('%s')", o.filter);
		rc = EXIT_USAGE;
	}
	if (!rc && a.follow && o.nrdirs == 0) {
		cli_error(&o, "--follow needs -R DIR");
		rc = EXIT_USAGE;
	}
	if (!rc && !a.expire && o.nrfiles + o.nrdirs == 0) {
		cli_error(&o, "nothing to load: give -r FILE... or -R DIR...");
		rc = EXIT_USAGE;
	}
	if (rc) {
		cli_opts_release(&o);
		return rc;
	}
	struct floe_log log = {db_log_fn, &o};
	struct floe_errbuf eb = {0};
	struct floe_pg *p = NULL;
	struct floe_ch *c = NULL;
	if (pg) {
		struct floe_pg_opts po = {.dsn = a.dsn, .table = a.table, .log = &log};
		p = floe_pg_create(&po, &eb);
	} else {
		struct floe_ch_opts co = {.url = a.url, .user = a.user, .password = a.password,
		                          .table = a.table, .cluster = a.cluster, .shards = a.shards,
		                          .nshards = a.nshards, .log = &log,
		                          .rowbinary = a.rowbinary};
		c = floe_ch_create(&co, &eb);
	}
	if (!p && !c) {
		cli_error(&o, "%s", eb.msg);
		cli_opts_release(&o);
		return eb.code == FLOE_INVALID ? EXIT_USAGE : EXIT_FAIL;
	}
	enum floe_err e = FLOE_OK;
	bool damaged = false;
	if (a.expire) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		uint64_t dropped = 0;
		e = pg ? floe_pg_expire(p, a.expire, now, &dropped, &eb)
		       : floe_ch_expire(c, a.expire, now, &dropped, &eb);
		if (!e && a.stats)
			fprintf(stderr, "floe export: day partitions dropped: %" PRIu64 "\n", dropped);
	}
	if (!e && o.nrfiles + o.nrdirs) {
		struct floe_dbload_opts lo = {
			.files = o.rfiles, .nfiles = o.nrfiles, .dirs = o.rdirs, .ndirs = o.nrdirs,
			.range = o.trange, .follow = a.follow, .interval = a.interval, .stop = &db_stop,
			.log = &log, .jobs = (unsigned)a.jobs,
		};
		if (a.follow) {
			struct sigaction sa = {0};
			sa.sa_handler = db_on_signal;
			sigaction(SIGINT, &sa, NULL);
			sigaction(SIGTERM, &sa, NULL);
		}
		struct floe_dbload_stats st;
		e = pg ? floe_pg_load(p, &lo, &st, &eb) : floe_ch_load(c, &lo, &st, &eb);
		if (a.stats)
			fprintf(stderr, "floe export: files loaded %" PRIu64 ", already loaded %" PRIu64
			                ", rows %" PRIu64 ", retries %" PRIu64 ", damaged %" PRIu64 "\n",
			        st.files_loaded, st.files_skipped, st.rows, st.retries, st.files_damaged);
		damaged = st.files_damaged > 0;
	}
	if (e)
		cli_error(&o, "%s", eb.msg);
	floe_pg_destroy(p);
	floe_ch_destroy(c);
	cli_opts_release(&o);
	return e ? EXIT_FAIL : damaged ? EXIT_DAMAGED : EXIT_OK;
}

int cmd_export(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		fputs(export_help, argc < 1 ? stderr : stdout);
		return argc < 1 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[0], "pg") == 0 || strcmp(argv[0], "postgresql") == 0)
		return db_export(true, argc, argv);
	if (strcmp(argv[0], "clickhouse") == 0)
		return db_export(false, argc, argv);
	if (strcmp(argv[0], "ipfix") != 0) {
		fprintf(stderr, "floe export: unknown format '%s' (ipfix, pg, clickhouse) "
		                "(try 'floe export --help')\n",
		        argv[0]);
		return EXIT_USAGE;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "floe export: give the collector: udp://HOST:PORT "
		                "(try 'floe export --help')\n");
		return EXIT_USAGE;
	}
	const char *url = argv[1];
	/* Options of export alone are taken out before the shared parser. */
	char **av = calloc((size_t)argc, sizeof(*av));
	if (!av)
		return EXIT_FAIL;
	int ac = 0;
	uint64_t mtu = 0, domain = 0;
	int64_t tmpl = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
		bool bad = false;
		if (strcmp(a, "--mtu") == 0) {
			bad = !next || !cli_parse_count(next, &mtu) || mtu < 512 || mtu > 65535;
			i++;
		} else if (strcmp(a, "--domain") == 0) {
			bad = !next || !cli_parse_count(next, &domain) || domain > UINT32_MAX;
			i++;
		} else if (strcmp(a, "--template-interval") == 0) {
			bad = !next || !cli_parse_duration(next, &tmpl) || tmpl < 1000000000;
			i++;
		} else {
			av[ac++] = argv[i];
			continue;
		}
		if (bad) {
			fprintf(stderr, "floe export: bad %s '%s' (try 'floe export --help')\n", a,
			        next ? next : "");
			free(av);
			return EXIT_USAGE;
		}
	}
	struct cli_opts o = {.cmd = "export"};
	int rc;
	bool go = cli_begin(&o, OPT_READ | OPT_SOURCE, ac, av, export_help, &rc);
	free(av);
	if (!go)
		return rc;
	o.export_url = url;
	o.ipfix_mtu = (size_t)mtu;
	o.ipfix_domain = (uint32_t)domain;
	o.ipfix_template_secs = tmpl / 1000000000;
	return cli_read_run(&o);
}
