/*
 * cmd_serve.c - `floe serve`: the web UI over an archive (docs/web.md).
 *
 *   floe serve --archive DIR [--listen 127.0.0.1:8080] [--tls-cert PEM
 *              --tls-key PEM --token FILE] [--query-memory SIZE]
 *              [--query-timeout DUR] [--max-queries N]
 *              [-S HOST:PORT... [--stream-token FILE] [--tls-ca FILE]]
 *
 * Parses the options, starts the server of libfloe (web/server.h) and
 * waits for SIGINT or SIGTERM.
 */
#include "cli.h"
#include "net/stream.h"
#include "web/server.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char serve_help[] =
	"usage: floe serve --archive DIR [--listen HOST:PORT] [options]\n"
	"\n"
	"Serves the web UI: a dashboard, a host drill-down, a query page and a live\n"
	"view of the archive, and their JSON API (docs/web.md).\n"
	"\n"
	"  --archive DIR      the archive to serve (repeatable; -R DIR is the same)\n"
	"  --listen HOST:PORT where to listen (default 127.0.0.1:8080; port 0: any free\n"
	"                     port, printed on stdout).  An address other than loopback\n"
	"                     needs --tls-cert, --tls-key and --token\n"
	"  --tls-cert FILE    HTTPS: the certificate (PEM)\n"
	"  --tls-key FILE     HTTPS: its private key (PEM)\n"
	"  --token FILE       a login token (first line of FILE, 16 characters or more):\n"
	"                     every request needs 'Authorization: Bearer TOKEN' or the\n"
	"                     cookie of the login form\n"
	"  --query-memory SIZE  memory of one query (default 64M); larger answers are refused\n"
	"  --query-timeout DUR  time one query may read (default 30s); then 503\n"
	"  --max-queries N    queries running at once (default 4); more get 503\n"
	"  -S HOST:PORT       the live page shows the rates and records of this record\n"
	"                     stream (repeatable; 'floe capture --listen'); without -S it\n"
	"                     follows the archive's newly closed files\n"
	"  --stream-token FILE  the token the stream servers want\n"
	"  --tls-ca FILE      TLS to the stream servers, verified against this CA\n"
	"  --local NETS       local networks, for 'local' and 'remote' in filters\n";

#define MAX_DIRS 64

struct serve_opts {
	const char *listen;
	const char *dirs[MAX_DIRS];
	size_t ndirs;
	const char *cert, *key, *token;
	const char *stream_token;
	uint64_t memory;
	int64_t timeout;
	uint64_t max_queries;
};

/* Takes serve's own options out of argv (the rest goes to cli_parse). */
static int take_opts(struct cli_opts *o, struct serve_opts *so, int *argc, char **argv)
{
	static const char *const ours[] = {"--archive", "--listen", "--tls-cert", "--tls-key",
	                                   "--token", "--query-memory", "--query-timeout",
	                                   "--max-queries", "--stream-token"};
	int out = 0;
	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i];
		bool mine = false;
		for (size_t k = 0; k < sizeof(ours) / sizeof(ours[0]); k++)
			mine |= strcmp(a, ours[k]) == 0;
		if (!mine) {
			argv[out++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc) {
			cli_error(o, "%s needs an argument", a);
			return EXIT_USAGE;
		}
		const char *v = argv[++i];
		if (strcmp(a, "--archive") == 0) {
			if (so->ndirs == MAX_DIRS) {
				cli_error(o, "at most %d archives", MAX_DIRS);
				return EXIT_USAGE;
			}
			so->dirs[so->ndirs++] = v;
		} else if (strcmp(a, "--listen") == 0) {
			so->listen = v;
		} else if (strcmp(a, "--tls-cert") == 0) {
			so->cert = v;
		} else if (strcmp(a, "--tls-key") == 0) {
			so->key = v;
		} else if (strcmp(a, "--token") == 0) {
			so->token = v;
		} else if (strcmp(a, "--stream-token") == 0) {
			so->stream_token = v;
		} else if (strcmp(a, "--query-memory") == 0) {
			if (!cli_parse_size(v, &so->memory) || so->memory < (1u << 20)) {
				cli_error(o, "bad --query-memory '%s': give a size of 1M or more", v);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--query-timeout") == 0) {
			if (!cli_parse_duration(v, &so->timeout) || so->timeout <= 0) {
				cli_error(o, "bad --query-timeout '%s': give a duration (30s, 2m)", v);
				return EXIT_USAGE;
			}
		} else if (!cli_parse_count(v, &so->max_queries) || so->max_queries == 0 ||
		           so->max_queries > 64) {
			cli_error(o, "bad --max-queries '%s': 1 to 64", v);
			return EXIT_USAGE;
		}
	}
	*argc = out;
	return EXIT_OK;
}

/* The server's messages: libmicrohttpd's (DEBUG) only with -v. */
static void serve_log(void *ud, enum floe_loglevel level, const char *msg)
{
	const struct cli_opts *o = ud;
	if (level == FLOE_LOG_DEBUG && o->verbose == 0)
		return;
	cli_log()->fn(cli_log()->ud, level, msg);
}

/* The first line of a file, without surrounding blanks; NULL after a message. */
static char *read_token(struct cli_opts *o, const char *path)
{
	char *t = cli_slurp(o, path);
	if (!t)
		return NULL;
	t[strcspn(t, "\r\n")] = '\0';
	size_t n = strlen(t);
	while (n && isspace((unsigned char)t[n - 1]))
		t[--n] = '\0';
	size_t lead = strspn(t, " \t");
	memmove(t, t + lead, n - lead + 1);
	return t;
}

int cmd_serve(int argc, char **argv)
{
	struct cli_opts o = {.cmd = "serve"};
	struct serve_opts so = {.listen = "127.0.0.1:8080"};
	int rc = take_opts(&o, &so, &argc, argv);
	if (rc != EXIT_OK)
		return rc;
	if (!cli_begin(&o, OPT_SOURCE | OPT_STREAM, argc, argv, serve_help, &rc))
		return rc;
	char *cert = NULL, *key = NULL, *token = NULL, *stoken = NULL;
	struct floe_web *w = NULL;
	rc = EXIT_USAGE;
	for (size_t i = 0; i < o.nrdirs && so.ndirs < MAX_DIRS; i++)
		so.dirs[so.ndirs++] = o.rdirs[i];
	if (so.ndirs == 0) {
		cli_error(&o, "no archive: give --archive DIR (try 'floe serve --help')");
		goto out;
	}
	if (o.filter || o.nrfiles || !floe_timerange_is_all(&o.trange)) {
		cli_error(&o, "serve takes no filter, -r or -t: each request gives its own");
		goto out;
	}
	if (o.count || o.duration) {
		cli_error(&o, "--count and --duration are not for serve: the live page follows -S as long "
		          "as it is open");
		goto out;
	}
	if (so.stream_token) {
		struct floe_errbuf teb = {0};
		if (!(stoken = floe_stream_read_token(so.stream_token, &teb))) {
			cli_error(&o, "%s", teb.msg);
			goto out;
		}
	}
	for (size_t i = 0; i < so.ndirs; i++) {
		struct stat st;
		int err = stat(so.dirs[i], &st) != 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR :
		          access(so.dirs[i], R_OK | X_OK) != 0 ? errno : 0;
		if (err) {
			cli_error(&o, "cannot read the archive '%s': %s", so.dirs[i], strerror(err));
			rc = EXIT_FAIL;
			goto out;
		}
	}
	if (so.cert && !(cert = cli_slurp(&o, so.cert)))
		goto out;
	if (so.key && !(key = cli_slurp(&o, so.key)))
		goto out;
	if (so.token && !(token = read_token(&o, so.token)))
		goto out;
	/* signals are waited for, not handled: block them before any thread starts */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct floe_log slog = {serve_log, &o};
	struct floe_web_opts wo = {
		.listen = so.listen, .dirs = so.dirs, .ndirs = so.ndirs, .local = o.local,
		.tls_cert = cert, .tls_key = key, .token = token, .query_memory = (size_t)so.memory,
		.query_timeout = so.timeout, .max_queries = (unsigned)so.max_queries, .log = &slog,
		.streams = o.streams, .nstreams = o.nstreams, .stream_token = stoken,
		.stream_ca = o.tls_ca,
	};
	struct floe_errbuf eb = {0};
	if (!(w = floe_web_create(&wo, &eb))) {
		cli_error(&o, "%s", eb.msg);
		rc = eb.code == FLOE_INVALID ? EXIT_USAGE : EXIT_FAIL;
		goto out;
	}
	char host[64];
	const char *colon = strrchr(so.listen, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - so.listen), so.listen);
	printf("listening on %s://%s:%u/\n", cert ? "https" : "http", host, (unsigned)floe_web_port(w));
	fflush(stdout);
	int sig = 0;
	sigwait(&sigs, &sig);
	rc = EXIT_OK;
out:
	floe_web_destroy(w);
	free(cert);
	free(key);
	free(token);
	free(stoken);
	cli_opts_release(&o);
	return rc;
}
