/*
 * cli.h - what the subcommands of the floe binary share: option parsing,
 * messages, exit codes.  Only the front end prints; libfloe reports through
 * return codes and the log sink set up here.
 */
#ifndef FLOE_CLI_H
#define FLOE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "field.h"
#include "util/netset.h"
#include "util/timerange.h"

/* Exit codes, the same for every subcommand (documented in the README). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,      /* could not do the job: bad input file, I/O error */
	EXIT_USAGE = 2,     /* bad command line */
	EXIT_DAMAGED = 3,   /* done, but some input was damaged and skipped */
};

#define CLI_MAX_FILES 4096
#define CLI_MAX_COLS 128

/* The options shared by every command that reads or writes records. */
struct cli_opts {
	const char *cmd;               /* "read", for messages */
	const char *rfiles[CLI_MAX_FILES];
	size_t nrfiles;
	const char *wfile;             /* -w */
	const struct floe_field *cols[CLI_MAX_COLS];
	size_t ncols;
	int outfmt;                    /* enum floe_outfmt */
	bool out_ipfix;                /* -o ipfix: IPFIX file (RFC 5655) */
	/* IPFIX export over UDP (floe export ipfix URL) */
	const char *export_url;        /* NULL: not exporting */
	size_t ipfix_mtu;              /* --mtu: largest message; 0 = default */
	uint32_t ipfix_domain;         /* --domain: Observation Domain ID */
	int64_t ipfix_template_secs;   /* --template-interval; 0 = default */
	struct floe_fmtopts fmt;
	bool no_header;
	bool stats;                    /* --stats */
	int verbose;
	char *filter;                  /* positional words joined; NULL if none */
	/* capture */
	int64_t status_interval;       /* ns; -1 = default */
	uint64_t max_flows;            /* 0 = default */
	uint32_t sensor;
	const char *instance;
	uint32_t block_records;        /* --block-records; 0 = default */
	struct floe_netset *local;     /* --local: the local networks; NULL if none */
	/* sources (OPT_SOURCE) and the archive writer (OPT_ARCHIVE) */
	const char *rdirs[CLI_MAX_FILES];  /* -R DIR... */
	size_t nrdirs;
	struct floe_timerange trange;  /* -t; FLOE_TIMERANGE_ALL if not given */
	bool no_index;                 /* --no-index: read every block */
	const char *archive;           /* --archive DIR */
	int64_t rotate;                /* --rotate; 0 = default */
	int64_t keep;                  /* --keep: expire the archive as it is written; 0 = no */
	uint64_t max_size;             /* --max-size: the same by size; 0 = no */
	/* aggregation (cluster, sort, bins, merge): OPT_AGG */
	char *keys;                    /* -m words joined; NULL if no -m */
	char *aggcols;                 /* -s words joined, unparsed; NULL if no -s */
	char *sortkeys;                /* --sort words joined; NULL if none */
	int64_t bin;                   /* -b; 0 = none */
	uint64_t top;                  /* --top N; 0 = all */
	uint64_t memory;               /* --memory bytes; 0 = default */
	/* writers (OPT_WRITE): threads encoding blocks */
	unsigned encoders;             /* --encoders N */
	bool encoders_given;
	/* streams (docs/stream.md): -S sources (OPT_STREAM), --listen (OPT_LISTEN) */
	const char *streams[64];       /* -S HOST:PORT... */
	size_t nstreams;
	uint64_t count;                /* --count N: a stream source stops after N records */
	int64_t duration;              /* --duration D: ... or after D; 0 = no limit */
	const char *listen;            /* --listen [ADDR:]PORT: serve the records */
	const char *tls_cert, *tls_key, *tls_ca;   /* --tls-cert --tls-key --tls-ca */
	const char *token_file;        /* --token FILE */
	uint64_t subscribers;          /* --subscribers N: wait for N before the first record */
	int64_t linger;                /* --linger D: serve this long after the input ends */
	uint64_t sub_buffer;           /* --subscriber-buffer SIZE: cut off past it; 0 = default */
	bool stream_wait;              /* relay: retry sources that are not up yet */
	/* the stream server's disk spool (OPT_LISTEN; docs/stream.md "Spool") */
	const char *spool;             /* --spool DIR */
	uint64_t spool_max;            /* --spool-max SIZE; 0 = 1G */
};

/* Log sink writing "floe CMD: warning: ..." to stderr. */
extern const struct floe_log *cli_log(void);
/* Sends cli_log() and cli_error()/cli_warn() to log instead of stderr
 * (daemon.c: --log, --syslog); NULL: back to stderr.  log is copied. */
void cli_log_route(const struct floe_log *log);

/* Prints "floe CMD: message" to stderr. */
void cli_error(const struct cli_opts *o, const char *fmt, ...) FLOE_PRINTF(2, 3);
void cli_warn(const struct cli_opts *o, const char *fmt, ...) FLOE_PRINTF(2, 3);

/* Option sets a command accepts. */
enum {
	OPT_READ = 1u << 0,    /* -r FILE... */
	OPT_WRITE = 1u << 1,   /* -w FILE */
	OPT_PRINT = 1u << 2,   /* -s -o -n -u -p --no-header */
	OPT_METER = 1u << 3,   /* --status --max-flows --sensor --instance */
	OPT_SOURCE = 1u << 16, /* -R DIR... -t RANGE --no-index */
	OPT_ARCHIVE = 1u << 17, /* --archive DIR --rotate DUR --instance */
	OPT_AGG = 1u << 4,     /* -m -b --top --sort --memory; -s kept unparsed */
	OPT_STREAM = 1u << 18, /* -S HOST:PORT... --count --duration --tls-* --token */
	OPT_LISTEN = 1u << 19, /* --listen [ADDR:]PORT --subscribers --linger --tls-* --token */
};

/* Parses argv (after the subcommand name).  Returns EXIT_OK, or EXIT_USAGE
 * after printing why; *help is set when -h/--help was given. */
int cli_parse(struct cli_opts *o, unsigned accept, int argc, char **argv, bool *help);
void cli_opts_release(struct cli_opts *o);

/* The start of every subcommand: parses argv with cli_parse and prints help
 * when asked.  Returns true when the command goes on; otherwise the options
 * are released and *rc is the command's exit code. */
bool cli_begin(struct cli_opts *o, unsigned accept, int argc, char **argv, const char *help,
               int *rc);

/* Reads a small text file whole (for @file arguments); NULL with a message
 * printed on failure.  Caller frees. */
char *cli_slurp(const struct cli_opts *o, const char *path);

/* Parses "60", "60s", "5m", "1h", "250ms" into ns; false if malformed. */
bool cli_parse_duration(const char *s, int64_t *ns);
/* Parses "1000000", "1M", "64k" into a count; false if malformed. */
bool cli_parse_count(const char *s, uint64_t *v);

/* Subcommands. */
int cmd_capture(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_fields(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_sort(int argc, char **argv);
int cmd_bins(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_archive(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* The body of `floe read` after option parsing (cmd_read.c), shared with
 * `floe export`: reads the sources of o through its filter into the sink
 * o selects.  Releases o.  Returns an exit code. */
int cli_read_run(struct cli_opts *o);
int cmd_collect(int argc, char **argv);
int cmd_relay(int argc, char **argv);

/* cmd_collect.c: RFC 5655 IPFIX files as records for 'floe read' (sink,
 * filter and --stats as the options say); true if a file is one. */
struct floe_filter;
bool cli_is_ipfix_file(const char *path);
int cli_read_ipfix(struct cli_opts *o, struct floe_filter *filter);

/* Aggregation commands (cmd_cluster.c): the default --memory, and the
 * parse of a size such as "256M" or "1G" (binary multiples). */
#define CLI_DEFAULT_MEMORY (256ull << 20)
bool cli_parse_size(const char *s, uint64_t *v);
enum cli_agg_mode { CLI_AGG_CLUSTER, CLI_AGG_SORT, CLI_AGG_BINS, CLI_AGG_MERGE };
/* The body of cluster, sort and bins; help is printed for -h. */
int cli_agg_main(enum cli_agg_mode mode, const char *help, int argc, char **argv);

/* The columns (floe_columns_of) the filter f reads; 0 when it reads a
 * derived field, whose inputs it does not name (decode every column). */
struct floe_filter;
uint64_t cli_filter_columns(const struct floe_filter *f);

/* The input of the reading commands (input.c).  cli_source_open opens
 * o's -r files and -R directories, in that order, as one source read with
 * *so (time range, required addresses, columns, threads: archive/source.h);
 * NULL after printing why (a source that cannot be created, a file or
 * directory that cannot be added).  The caller destroys the source. */
struct floe_source;
struct floe_source_opts;
struct floe_source *cli_source_open(const struct cli_opts *o, const struct floe_source_opts *so);
/* ORs into *m the columns (floe_columns_of) of the fields of a key list
 * such as "saddr,dport/24" (NULL or "": none); false, *m partly updated,
 * when a key is unknown, too long or derived: decode every column. */
bool cli_keys_columns(const char *keys, uint64_t *m);

/* Reads every record of o's -r files and -R directories that overlaps -t
 * and passes filter (may be NULL) with a thread of its own (cmd_cluster.c:
 * the next block is decoded while add takes this one) and hands each to
 * add(ud, const struct floe_flow *), in the calling thread.  addrs
 * (borrowed, may be NULL; ignored when naddrs > 64): only records with one
 * of them as saddr or daddr are wanted, so the source skips files and
 * blocks without them; NULL: the filter's required addresses.  columns:
 * those decoded (0: all).  errmsg(ud): the message when add fails.
 * *nrec grows by the records handed over.  Returns EXIT_OK, EXIT_DAMAGED
 * (damaged blocks or unreadable archive files) or EXIT_FAIL after a
 * message.  No progress display. */
typedef enum floe_err (*cli_add_fn)(void *ud, const void *elem);
int cli_read_records(struct cli_opts *o, const struct floe_filter *filter,
                     const uint8_t (*addrs)[16], size_t naddrs, uint64_t columns, cli_add_fn add,
                     void *ud, const char *(*errmsg)(void *ud), uint64_t *nrec);

/* Stream sources (-S, sink_stream.c): the records of stream servers,
 * block by block, until every server ends, a signal, --count or
 * --duration.  open prints why it fails; next returns OK, EOF, or an
 * error it printed; close prints --stats and returns EXIT_OK, or
 * EXIT_DAMAGED when records were lost (seq gaps). */
struct cli_stream_in;
struct cli_stream_in *cli_stream_in_open(const struct cli_opts *o);
enum floe_err cli_stream_in_next(struct cli_stream_in *in, const struct floe_flow **recs, size_t *n);
int cli_stream_in_close(struct cli_stream_in *in);

/* Threads for reading several files at once: the processors online, at
 * most 4; 0 (read in the calling thread) on one processor. */
unsigned cli_read_threads(void);
/* Threads encoding blocks for a file or archive writer: --encoders, else
 * 1 on two or more processors (the command goes on filling the next block
 * while one is compressed), 0 on one. */
unsigned cli_write_threads(const struct cli_opts *o);

#endif
