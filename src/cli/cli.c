/*
 * cli.c - option parsing and messages shared by the subcommands.
 *
 * Options follow Argus's clients: -r FILE (repeatable; several files may
 * follow one -r), -w FILE, -s FIELDS (names may follow as separate words,
 * as in `ra -s saddr daddr`), -n, -u, -p DIGITS; the filter comes last,
 * optionally after a lone "-" as ra accepts.
 */
#include "cli.h"
#include "codec/codec.h"
#include "filter/filter.h"
#include "query/output.h"
#include "util/timefmt.h"

#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void log_to_stderr(void *ud, enum floe_loglevel level, const char *msg)
{
	(void)ud;
	static const char *const names[] = {"error", "warning", "info", "debug"};
	fprintf(stderr, "floe: %s: %s\n", names[level], msg);
}

static const struct floe_log stderr_log = {log_to_stderr, NULL};
/* Where a service sends messages instead (daemon.c: --log, --syslog). */
static struct floe_log routed_log;

const struct floe_log *cli_log(void)
{
	return routed_log.fn ? &routed_log : &stderr_log;
}

void cli_log_route(const struct floe_log *log)
{
	routed_log = log ? *log : (struct floe_log){0};
}

static void vmsg(const struct cli_opts *o, const char *kind, const char *fmt, va_list ap)
{
	if (routed_log.fn) {
		char buf[1024];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		routed_log.fn(routed_log.ud, kind[0] ? FLOE_LOG_WARN : FLOE_LOG_ERR, buf);
		return;
	}
	fprintf(stderr, "floe %s: %s", o && o->cmd ? o->cmd : "", kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const struct cli_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(o, "", fmt, ap);
	va_end(ap);
}

void cli_warn(const struct cli_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(o, "warning: ", fmt, ap);
	va_end(ap);
}

bool cli_parse_duration(const char *s, int64_t *ns)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || v < 0)
		return false;
	double mult = 1e9;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1e9;
	else if (strcmp(end, "ms") == 0)
		mult = 1e6;
	else if (strcmp(end, "us") == 0)
		mult = 1e3;
	else if (strcmp(end, "m") == 0)
		mult = 60e9;
	else if (strcmp(end, "h") == 0)
		mult = 3600e9;
	else if (strcmp(end, "d") == 0)
		mult = 86400e9;
	else
		return false;
	double r = v * mult;
	if (r > 9.2e18)
		return false;
	*ns = (int64_t)r;
	return true;
}

bool cli_parse_count(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	if (*s == '-')
		return false;
	unsigned long long x = strtoull(s, &end, 10);
	if (end == s || errno)
		return false;
	uint64_t mult = 1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1000; end++; break;
	case 'M': mult = 1000000; end++; break;
	case 'G': mult = 1000000000; end++; break;
	default: return false;
	}
	if (*end || (x && mult > UINT64_MAX / x))
		return false;
	*v = x * mult;
	return true;
}

static void append_word(char **buf, const char *w)
{
	size_t old = *buf ? strlen(*buf) : 0, add = strlen(w);
	char *nb = realloc(*buf, old + add + 2);
	if (!nb) {
		fprintf(stderr, "floe: out of memory\n");
		exit(EXIT_FAIL);
	}
	if (old)
		nb[old++] = ' ';
	memcpy(nb + old, w, add + 1);
	*buf = nb;
}

static bool is_field_word(const char *w)
{
	const char *name = (w[0] == '+' || w[0] == '-') && w[1] ? w + 1 : w;
	if (strchr(w, ',')) {
		/* "saddr,daddr": a list is fields if its first item is. */
		char first[64];
		size_t n = strcspn(name, ",");
		if (n == 0 || n >= sizeof(first))
			return false;
		memcpy(first, name, n);
		first[n] = '\0';
		return floe_field_lookup(first) != NULL;
	}
	return floe_field_lookup(name) != NULL;
}

static int parse_agg_opt(struct cli_opts *o, int argc, char **argv, int *i);
static bool is_agg_word(const char *w);

static int usage_err(struct cli_opts *o, const char *fmt, const char *arg)
{
	fprintf(stderr, "floe %s: ", o->cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try 'floe %s --help')\n", o->cmd);
	return EXIT_USAGE;
}

int cli_parse(struct cli_opts *o, unsigned accept, int argc, char **argv, bool *help)
{
	const char *cmd = o->cmd;
	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->outfmt = FLOE_OUT_TEXT;
	o->fmt.timefmt = FLOE_TIME_ISO;
	o->fmt.prec = 6;
	o->status_interval = -1;
	o->trange = FLOE_TIMERANGE_ALL;
	*help = false;
	char *colspec = NULL;
	bool filter_mode = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (filter_mode || a[0] != '-' || a[1] == '\0') {
			if (a[0] == '-' && a[1] == '\0' && !filter_mode) {
				filter_mode = true;  /* ra's separator before the filter */
				continue;
			}
			filter_mode = true;
			append_word(&o->filter, a);
			continue;
		}
#define NEED_ARG(flag) do { if (!next) { free(colspec); return usage_err(o, "%s needs an argument", flag); } } while (0)
#define ACCEPT(set) do { if (!(accept & (set))) { free(colspec); return usage_err(o, "option %s is not for this command", a); } } while (0)
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			*help = true;
			free(colspec);
			return EXIT_OK;
		} else if (strcmp(a, "-r") == 0) {
			ACCEPT(OPT_READ);
			NEED_ARG(a);
			/* -r takes every following word that is not an option,
			 * as ra does; "-r -" is standard input. */
			o->rfiles[o->nrfiles++] = argv[++i];
			while (i + 1 < argc && argv[i + 1][0] != '-' && o->nrfiles < CLI_MAX_FILES &&
			       access(argv[i + 1], F_OK) == 0)
				o->rfiles[o->nrfiles++] = argv[++i];
			if (o->nrfiles >= CLI_MAX_FILES) {
				free(colspec);
				return usage_err(o, "%s", "too many input files");
			}
		} else if (strcmp(a, "-w") == 0) {
			ACCEPT(OPT_WRITE);
			NEED_ARG(a);
			o->wfile = argv[++i];
		} else if (strcmp(a, "-s") == 0) {
			ACCEPT(OPT_PRINT);
			NEED_ARG(a);
			append_word(&colspec, argv[++i]);
			while (i + 1 < argc && (is_field_word(argv[i + 1]) ||
			                        ((accept & OPT_AGG) && is_agg_word(argv[i + 1]))))
				append_word(&colspec, argv[++i]);
		} else if (strcmp(a, "-o") == 0) {
			ACCEPT(OPT_PRINT);
			NEED_ARG(a);
			int f = floe_outfmt_parse(next);
			o->out_ipfix = strcasecmp(next, "ipfix") == 0;
			if (f < 0 && !o->out_ipfix) {
				free(colspec);
				return usage_err(o, "unknown output format '%s' (text, csv, json, ipfix)", next);
			}
			o->outfmt = f < 0 ? FLOE_OUT_TEXT : f;
			i++;
		} else if (strcmp(a, "-n") == 0) {
			ACCEPT(OPT_PRINT);
			o->fmt.numeric = true;
		} else if (strcmp(a, "-u") == 0) {
			ACCEPT(OPT_PRINT);
			o->fmt.timefmt = FLOE_TIME_EPOCH;
		} else if (strcmp(a, "--localtime") == 0) {
			ACCEPT(OPT_PRINT);
			o->fmt.timefmt = FLOE_TIME_LOCAL;
		} else if (strcmp(a, "-p") == 0) {
			ACCEPT(OPT_PRINT);
			NEED_ARG(a);
			char *end;
			long p = strtol(next, &end, 10);
			if (*end || p < 0 || p > 9) {
				free(colspec);
				return usage_err(o, "-p takes 0..9 digits, not '%s'", next);
			}
			o->fmt.prec = (int)p;
			i++;
		} else if (strcmp(a, "--no-header") == 0) {
			ACCEPT(OPT_PRINT);
			o->no_header = true;
		} else if (strcmp(a, "--stats") == 0) {
			o->stats = true;
		} else if (strcmp(a, "-v") == 0) {
			o->verbose++;
		} else if (strcmp(a, "--status") == 0) {
			ACCEPT(OPT_METER);
			NEED_ARG(a);
			if (!cli_parse_duration(next, &o->status_interval)) {
				free(colspec);
				return usage_err(o, "bad --status interval '%s'", next);
			}
			i++;
		} else if (strcmp(a, "--max-flows") == 0) {
			ACCEPT(OPT_METER);
			NEED_ARG(a);
			if (!cli_parse_count(next, &o->max_flows) || o->max_flows == 0) {
				free(colspec);
				return usage_err(o, "bad --max-flows '%s'", next);
			}
			i++;
		} else if (strcmp(a, "--sensor") == 0) {
			ACCEPT(OPT_METER);
			NEED_ARG(a);
			uint64_t v;
			if (!cli_parse_count(next, &v) || v > UINT32_MAX) {
				free(colspec);
				return usage_err(o, "bad --sensor id '%s'", next);
			}
			o->sensor = (uint32_t)v;
			i++;
		} else if (strcmp(a, "--block-records") == 0) {
			ACCEPT(OPT_WRITE);
			NEED_ARG(a);
			uint64_t v;
			if (!cli_parse_count(next, &v) || v == 0 || v > 65536) {
				free(colspec);
				return usage_err(o, "--block-records takes 1..65536, not '%s'", next);
			}
			o->block_records = (uint32_t)v;
			i++;
		} else if (strcmp(a, "--encoders") == 0) {
			ACCEPT(OPT_WRITE);
			NEED_ARG(a);
			uint64_t v;
			if (!cli_parse_count(next, &v) || v > 16) {
				free(colspec);
				return usage_err(o, "--encoders takes 0..16, not '%s'", next);
			}
			o->encoders = (unsigned)v;
			o->encoders_given = true;
			i++;
		} else if (strcmp(a, "--local") == 0) {
			/* --local 10.0.0.0/8,2001:db8::/32 or --local @FILE; repeatable */
			NEED_ARG(a);
			const char *spec = argv[++i];
			char *text = spec[0] == '@' ? cli_slurp(o, spec + 1) : NULL;
			if (spec[0] == '@' && !text) {
				free(colspec);
				return EXIT_USAGE;
			}
			struct floe_errbuf eb = {0};
			if (!o->local)
				o->local = floe_netset_create(NULL);
			if (!o->local || floe_netset_add_text(o->local, text ? text : spec, &eb) != FLOE_OK) {
				free(text);
				free(colspec);
				return usage_err(o, "bad --local: %s", o->local ? eb.msg : "out of memory");
			}
			free(text);
		} else if (strcmp(a, "--instance") == 0) {
			ACCEPT(OPT_METER | OPT_WRITE | OPT_ARCHIVE);
			NEED_ARG(a);
			o->instance = argv[++i];
		/* ---- sources and archive (OPT_SOURCE, OPT_ARCHIVE) ---- */
		} else if (strcmp(a, "-R") == 0) {
			ACCEPT(OPT_SOURCE);
			NEED_ARG(a);
			/* like -r: every following word that is an existing path */
			o->rdirs[o->nrdirs++] = argv[++i];
			while (i + 1 < argc && argv[i + 1][0] != '-' && o->nrdirs < CLI_MAX_FILES &&
			       access(argv[i + 1], F_OK) == 0)
				o->rdirs[o->nrdirs++] = argv[++i];
			if (o->nrdirs >= CLI_MAX_FILES) {
				free(colspec);
				return usage_err(o, "%s", "too many input directories");
			}
		} else if (strcmp(a, "-t") == 0) {
			ACCEPT(OPT_SOURCE);
			NEED_ARG(a);
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			struct floe_errbuf eb = {0};
			if (floe_timerange_parse(argv[++i], (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec,
			                         &o->trange, &eb) != FLOE_OK) {
				free(colspec);
				fprintf(stderr, "floe %s: -t '%s': %s\n", o->cmd, argv[i], eb.msg);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--no-index") == 0) {
			ACCEPT(OPT_SOURCE);
			o->no_index = true;
		} else if (strcmp(a, "--archive") == 0) {
			ACCEPT(OPT_ARCHIVE);
			NEED_ARG(a);
			o->archive = argv[++i];
		} else if (strcmp(a, "--rotate") == 0) {
			ACCEPT(OPT_ARCHIVE);
			NEED_ARG(a);
			if (!cli_parse_duration(next, &o->rotate) || o->rotate < 1000000000LL ||
			    86400000000000LL % o->rotate != 0) {
				free(colspec);
				return usage_err(o, "bad --rotate '%s': a period that divides a day (5m, 1h, 1d)",
				                 next);
			}
			i++;
		} else if (strcmp(a, "--keep") == 0) {
			ACCEPT(OPT_ARCHIVE);
			NEED_ARG(a);
			if (!cli_parse_duration(next, &o->keep) || o->keep <= 0) {
				free(colspec);
				return usage_err(o, "bad --keep '%s': a duration such as 180d", next);
			}
			i++;
		} else if (strcmp(a, "--max-size") == 0) {
			ACCEPT(OPT_ARCHIVE);
			NEED_ARG(a);
			if (!cli_parse_size(next, &o->max_size) || o->max_size == 0) {
				free(colspec);
				return usage_err(o, "bad --max-size '%s': a size such as 400G", next);
			}
			i++;
		/* ---- streams (OPT_STREAM, OPT_LISTEN; docs/stream.md) ---- */
		} else if (strcmp(a, "-S") == 0) {
			ACCEPT(OPT_STREAM);
			NEED_ARG(a);
			if (o->nstreams == sizeof(o->streams) / sizeof(o->streams[0])) {
				free(colspec);
				return usage_err(o, "%s", "too many -S sources");
			}
			o->streams[o->nstreams++] = argv[++i];
		} else if (strcmp(a, "--count") == 0 || strcmp(a, "--subscribers") == 0) {
			ACCEPT(a[2] == 'c' ? OPT_STREAM : OPT_LISTEN);
			NEED_ARG(a);
			if (!cli_parse_count(next, a[2] == 'c' ? &o->count : &o->subscribers) ||
			    (a[2] == 's' && o->subscribers > 64)) {
				free(colspec);
				return usage_err(o, "bad count '%s'", next);
			}
			i++;
		} else if (strcmp(a, "--duration") == 0 || strcmp(a, "--linger") == 0) {
			ACCEPT(a[2] == 'd' ? OPT_STREAM : OPT_LISTEN);
			NEED_ARG(a);
			if (!cli_parse_duration(next, a[2] == 'd' ? &o->duration : &o->linger)) {
				free(colspec);
				return usage_err(o, "bad duration '%s'", next);
			}
			i++;
		} else if (strcmp(a, "--subscriber-buffer") == 0) {
			ACCEPT(OPT_LISTEN);
			NEED_ARG(a);
			if (!cli_parse_size(next, &o->sub_buffer) || o->sub_buffer < 4096) {
				free(colspec);
				return usage_err(o, "bad --subscriber-buffer '%s' (at least 4k)", next);
			}
			i++;
		} else if (strcmp(a, "--listen") == 0) {
			ACCEPT(OPT_LISTEN);
			NEED_ARG(a);
			o->listen = argv[++i];
		} else if (strcmp(a, "--spool") == 0) {
			ACCEPT(OPT_LISTEN);
			NEED_ARG(a);
			o->spool = argv[++i];
		} else if (strcmp(a, "--spool-max") == 0) {
			ACCEPT(OPT_LISTEN);
			NEED_ARG(a);
			if (!cli_parse_size(next, &o->spool_max) || o->spool_max < (64u << 10)) {
				free(colspec);
				return usage_err(o, "bad --spool-max '%s' (at least 64k)", next);
			}
			i++;
		} else if (strcmp(a, "--tls-cert") == 0 || strcmp(a, "--tls-key") == 0 ||
		           strcmp(a, "--tls-ca") == 0 || strcmp(a, "--token") == 0) {
			ACCEPT(OPT_STREAM | OPT_LISTEN);
			NEED_ARG(a);
			const char **dst = strcmp(a, "--tls-cert") == 0 ? &o->tls_cert :
			                   strcmp(a, "--tls-key") == 0 ? &o->tls_key :
			                   strcmp(a, "--tls-ca") == 0 ? &o->tls_ca : &o->token_file;
			*dst = argv[++i];
		/* ---- end of sources and archive ---- */
		} else if ((accept & OPT_AGG) && parse_agg_opt(o, argc, argv, &i) >= 0) {
			if (o->memory == UINT64_MAX) {  /* parse_agg_opt reported an error */
				free(colspec);
				return EXIT_USAGE;
			}
		} else {
			free(colspec);
			return usage_err(o, "unknown option '%s'", a);
		}
#undef NEED_ARG
#undef ACCEPT
	}

	/* IPFIX goes through the record sink (sink.c): not for aggregations. */
	if (o->out_ipfix && (accept & OPT_AGG)) {
		free(colspec);
		return usage_err(o, "%s", "-o ipfix is for floe read and floe capture");
	}
	if (o->nstreams && (o->nrfiles || o->nrdirs)) {
		free(colspec);
		return usage_err(o, "%s", "give -S or -r/-R, not both");
	}
	if ((o->keep || o->max_size) && !o->archive) {
		free(colspec);
		return usage_err(o, "%s", "--keep and --max-size go with --archive DIR");
	}
	if (colspec && (accept & OPT_AGG)) {
		o->aggcols = colspec;  /* the command parses pct(), dcount() */
		colspec = NULL;
	}
	if (colspec) {
		struct floe_errbuf eb = {0};
		if (floe_output_parse_cols(colspec, o->cols, CLI_MAX_COLS, &o->ncols, &eb) != FLOE_OK) {
			free(colspec);
			return usage_err(o, "%s", eb.msg);
		}
		free(colspec);
	} else {
		size_t nd;
		const struct floe_field *const *defs = floe_fields_default(&nd);
		for (size_t k = 0; k < nd; k++)
			o->cols[k] = defs[k];
		o->ncols = nd;
	}
	return EXIT_OK;
}

void cli_opts_release(struct cli_opts *o)
{
	free(o->filter);
	o->filter = NULL;
	floe_netset_destroy(o->local);
	o->local = NULL;
	free(o->keys);
	free(o->aggcols);
	free(o->sortkeys);
	o->keys = o->aggcols = o->sortkeys = NULL;
}

bool cli_begin(struct cli_opts *o, unsigned accept, int argc, char **argv, const char *help,
               int *rc)
{
	bool want_help;
	*rc = cli_parse(o, accept, argc, argv, &want_help);
	if (*rc == EXIT_OK && !want_help)
		return true;
	if (want_help)
		fputs(help, stdout);
	cli_opts_release(o);
	return false;
}

char *cli_slurp(const struct cli_opts *o, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		cli_error(o, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				cli_error(o, "cannot read '%s': out of memory", path);
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (got == 0)
			break;
		n += got;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		cli_error(o, "cannot read '%s': read error", path);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- aggregation options (OPT_AGG): -m KEYS, -b BIN, --top N, --sort,
 * --memory ---- */

bool cli_parse_size(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	if (*s == '-')
		return false;
	double x = strtod(s, &end);
	if (end == s || errno || x < 0)
		return false;
	double mult = 1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1024.0; end++; break;
	case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: return false;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || x * mult >= 1.8e19)
		return false;
	*v = (uint64_t)(x * mult);
	return true;
}

/* A word of -m / --sort / -s: a field name, maybe with /MASK or :DIR, or
 * an aggregate column (pct(F), %F, dcount(F)). */
static bool is_agg_word(const char *w)
{
	char buf[64];
	if (w[0] == '-')
		return false;
	if (w[0] == '%')
		w++;
	const char *open = strchr(w, '(');
	if (open && (strncmp(w, "pct(", 4) == 0 || strncmp(w, "dcount(", 7) == 0))
		w = open + 1;
	size_t n = strcspn(w, "/:),");
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, w, n);
	buf[n] = '\0';
	return floe_field_lookup(buf) != NULL;
}

/* Returns -1 if argv[*i] is not an aggregation option, else 0 (with
 * o->memory set to UINT64_MAX after printing a usage error). */
static int parse_agg_opt(struct cli_opts *o, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;
	bool words = strcmp(a, "-m") == 0 || strcmp(a, "--sort") == 0;
	if (!words && strcmp(a, "-b") && strcmp(a, "--top") && strcmp(a, "--memory"))
		return -1;
	if (!next) {
		usage_err(o, "%s needs an argument", a);
		o->memory = UINT64_MAX;
		return 0;
	}
	if (words) {
		char **dst = a[1] == 'm' ? &o->keys : &o->sortkeys;
		/* -m "" (one group) is allowed: the word list may be empty */
		if (!*dst)
			append_word(dst, "");
		append_word(dst, argv[++*i]);
		while (*i + 1 < argc && is_agg_word(argv[*i + 1]))
			append_word(dst, argv[++*i]);
		return 0;
	}
	bool ok;
	if (strcmp(a, "-b") == 0)
		ok = cli_parse_duration(next, &o->bin) && o->bin > 0;
	else if (strcmp(a, "--top") == 0)
		ok = cli_parse_count(next, &o->top) && o->top > 0;
	else
		ok = cli_parse_size(next, &o->memory) && o->memory >= (16u << 20);
	if (!ok) {
		usage_err(o, a[2] == 'm' ? "bad --memory '%s' (at least 16M)" : "bad value '%s'", next);
		o->memory = UINT64_MAX;
		return 0;
	}
	++*i;
	return 0;
}

unsigned cli_read_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n <= 1 ? 0 : n > 4 ? 4 : (unsigned)n;
}

unsigned cli_write_threads(const struct cli_opts *o)
{
	if (o->encoders_given)
		return o->encoders;
	return sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0;
}

static void add_columns(void *ud, size_t off, size_t size)
{
	*(uint64_t *)ud |= floe_columns_of(off, size);
}

uint64_t cli_filter_columns(const struct floe_filter *f)
{
	uint64_t m = 0;
	return floe_filter_fields(f, add_columns, &m) ? m : 0;
}
