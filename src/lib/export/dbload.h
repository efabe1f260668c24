/*
 * dbload.h - what the database exporters (pg.h, clickhouse.h) share: which
 * files to load, the identity of a file for the loaded-files ledger, the
 * loop over files (once, or following an archive as files close), and the
 * column list of a flows table, generated from the field catalog.
 *
 * A loader is a table of operations on a target (a database connection).
 * floe_dbload_run asks the target whether a file is in its ledger, and if
 * not hands it the file's records block by block between begin and
 * commit; the target makes the rows and the ledger entry appear together
 * or not at all.  Files are loaded in path order (archive names sort by
 * time); with several targets (jobs, one connection each) as many files
 * are loaded at once, each whole in one transaction of one target.
 *
 * Following: the archive directories are walked every interval; closed
 * files (".floe") not yet handled are loaded, ".floe.part" files (still
 * being written) are left for a later pass.  The set of handled paths is
 * the last walk's, so it is bounded by the archive (which expiry bounds).
 * A failed pass is retried after the interval, doubled after each failure
 * up to max_interval (a database away for a while is not hammered).
 * floe_dbfollow runs that loop in a thread of its own, woken when a file
 * closes, so a slow or absent database never holds up the caller.
 *
 * Must not depend on: the CLI, libpq, libcurl.
 */
#ifndef FLOE_EXPORT_DBLOAD_H
#define FLOE_EXPORT_DBLOAD_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "field.h"
#include "flow.h"
#include "util/timerange.h"

#define FLOE_DB_NS_PER_DAY (86400LL * 1000000000LL)

/* One file as the ledger knows it. */
struct floe_dbfile {
	const char *path;         /* borrowed */
	/* "<instance>/<created ns>/<size>/<crc32c of the bytes>", plus
	 * "/t=<start>,<end>" when only a time range of it is loaded: the same
	 * bytes loaded the same way have the same key wherever they lie. */
	char key[192];
	uint64_t id;              /* 64-bit FNV-1a of key: tags rows (ClickHouse) */
	uint64_t size;            /* bytes */
	/* From the footer: min stime, max ltime of the records (ranged false:
	 * no footer, unknown). */
	bool ranged;
	int64_t tmin, tmax;
};

/*
 * Computes f's identity: reads the file header (instance, creation time)
 * and every byte (CRC32C).  range: FLOE_TIMERANGE_ALL unless -t.  Returns
 * OK, or IO / MALFORMED / ... with eb naming the file.
 */
FLOE_WUR enum floe_err floe_dbfile_identify(struct floe_dbfile *f, const char *path,
                                            const struct floe_timerange *range,
                                            struct floe_errbuf *eb);

/* Targets loading at once, at most. */
#define FLOE_DBLOAD_MAX_JOBS 16

/* The operations of a target; t is the target's handle. */
struct floe_dbload_ops {
	/* *done = the ledger has f.  Also the place to (re)connect. */
	enum floe_err (*loaded)(void *t, const struct floe_dbfile *f, bool *done,
	                        struct floe_errbuf *eb);
	enum floe_err (*begin)(void *t, const struct floe_dbfile *f, struct floe_errbuf *eb);
	/* n records of f (n > 0); borrowed for the call. */
	enum floe_err (*add)(void *t, const struct floe_flow *recs, size_t n,
	                     struct floe_errbuf *eb);
	/* Makes the rows and the ledger entry (rows records) durable together. */
	enum floe_err (*commit)(void *t, const struct floe_dbfile *f, uint64_t rows,
	                        struct floe_errbuf *eb);
	/* Undoes what begin started, after a failure; must not fail. */
	void (*abort)(void *t);
	/* After each pass over the files (index complete days ...); may be NULL. */
	enum floe_err (*idle)(void *t, struct floe_errbuf *eb);
	/* With several targets, before begin, outside any transaction: makes
	 * what f's rows need that concurrent loads must not race to make (the
	 * day partitions of f->tmin..tmax, PostgreSQL).  May be NULL. */
	enum floe_err (*prepare)(void *t, const struct floe_dbfile *f, struct floe_errbuf *eb);
	/* Drops the day partitions ending before now - keep; may be NULL. */
	enum floe_err (*expire)(void *t, int64_t keep, int64_t now, uint64_t *dropped,
	                        struct floe_errbuf *eb);
};

struct floe_dbload_opts {
	const char *const *files;     /* -r FILE... (not "-": a file needs an identity) */
	size_t nfiles;
	const char *const *dirs;      /* -R DIR...: every .floe file below */
	size_t ndirs;
	struct floe_timerange range;  /* records overlapping it; FLOE_TIMERANGE_ALL */
	bool follow;                  /* walk dirs again every interval until *stop */
	unsigned jobs;                /* floe_pg_load, floe_ch_load: connections (0: 1) */
	int64_t interval;             /* ns; 0 = 5 s */
	volatile sig_atomic_t *stop;  /* set by a signal handler; may be NULL */
	const struct floe_log *log;   /* each file loaded at INFO, retries at WARN */
	/* follow: a failed pass doubles the wait up to this (0: interval) */
	int64_t max_interval;
	/* follow: after a good pass, at most hourly, ops->expire(keep) (0: never) */
	int64_t expire_keep;
	/* follow: set (by floe_dbfollow, from another thread) to end a wait
	 * early / to end after one more pass; NULL: none */
	atomic_int *wake, *finish;
};

struct floe_dbload_stats {
	uint64_t files_loaded;
	uint64_t files_skipped;       /* already in the ledger */
	uint64_t rows;                /* rows loaded */
	uint64_t retries;             /* follow: passes that failed and were retried */
	uint64_t files_damaged;       /* not floe files, unreadable: skipped (logged) */
	uint64_t partitions_dropped;  /* follow with expire_keep */
};

/*
 * Loads the files of o into the targets t[0..nt) (nt >= 1: one file per
 * target at a time; with nt > 1 ops->prepare runs before each file's
 * transaction).  A file that cannot be read as a
 * floe file is logged at WARN, counted in files_damaged and skipped (its
 * damaged blocks alone are skipped by the reader, with a WARN each).
 * Once (follow false): stops at the first failure of the target,
 * returning its code with eb set (the file being loaded is aborted, the
 * ones before it stay loaded).  Following: a failed pass is
 * logged at WARN and retried after interval (a server restarting), until
 * *stop; returns OK when stopped.  st (may be NULL) is filled in either
 * case.
 */
FLOE_WUR enum floe_err floe_dbload_run(const struct floe_dbload_opts *o,
                                       const struct floe_dbload_ops *ops, void *const *t,
                                       size_t nt, struct floe_dbload_stats *st,
                                       struct floe_errbuf *eb);

/*
 * floe_dbload_run with follow in a thread of its own (signals blocked in
 * it), for a caller that must not wait on the database (the archiver).
 * o and what it points to, ops and t stay the caller's and must outlive
 * the thread; o->stop, wake and finish are the thread's own (it ends by
 * floe_dbfollow_stop).  Returns NULL
 * with eb set (NOMEM, or the thread could not start).
 */
struct floe_dbfollow;
struct floe_dbfollow *floe_dbfollow_start(const struct floe_dbload_opts *o,
                                          const struct floe_dbload_ops *ops, void *const *t,
                                          size_t nt, struct floe_errbuf *eb);
/* A file closed: look now rather than at the end of the interval. */
void floe_dbfollow_wake(struct floe_dbfollow *f);
/* Ends the thread after one more pass (what closed until now is loaded,
 * unless the database fails), waits for it, fills st (may be NULL) and
 * frees f.  NULL: nothing. */
void floe_dbfollow_stop(struct floe_dbfollow *f, struct floe_dbload_stats *st);

/* ---- the columns of a flows table ---- */

enum floe_dbcol_kind {
	FLOE_DBCOL_FIELD,     /* the field's stored value */
	FLOE_DBCOL_SUBNS,     /* the part of a time below the database's unit */
	FLOE_DBCOL_V4,        /* ClickHouse only: an address as UInt32 if IPv4, else 0 */
	FLOE_DBCOL_SYNACK,    /* ns (the catalog's synack is derived, in seconds) */
	FLOE_DBCOL_ACKDAT,
};

struct floe_dbcol {
	char name[32];
	enum floe_dbcol_kind kind;
	const struct floe_field *fd;  /* FIELD, SUBNS, V4; NULL otherwise */
};

#define FLOE_DBCOL_MAX 96

/*
 * The columns of a flows table, in order: every stored field of the
 * catalog that is not relative to --local, each time followed by
 * "<name>_ns", (with v4 true) each address by "<name>_v4", then synack_ns
 * and ackdat_ns.  Derived fields (dur, bytes, rates ...) are left out:
 * SQL computes them.  Returns the count (at most FLOE_DBCOL_MAX).
 */
size_t floe_dbcols(struct floe_dbcol *cols, bool v4);

/* True if name is a usable table name: [A-Za-z_][A-Za-z0-9_]*, at most 40. */
bool floe_db_table_ok(const char *name);

/* The UTC day (days since the epoch) of a time in ns, rounding down. */
static inline int64_t floe_db_day(int64_t ns)
{
	int64_t d = ns / FLOE_DB_NS_PER_DAY;
	return (ns % FLOE_DB_NS_PER_DAY < 0) ? d - 1 : d;
}

/* "YYYYMMDD" (sep 0) or "YYYY-MM-DD" (sep '-') of a day number. */
void floe_db_day_str(int64_t day, char sep, char out[11]);
/* The day number of the 8 digits "YYYYMMDD" at s; false if not a date. */
bool floe_db_day_parse(const char *s, int64_t *day);

#endif
