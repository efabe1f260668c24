/*
 * maint.h - keeping an archive (archive.h) in order: listing its files,
 * verifying them, expiring them by age and size, and recovering the
 * .part files a crash left (docs/archive.md "Maintenance").
 *
 * Nothing here prints: results are structs and callbacks, warnings go to
 * the log.  Only expire and recover change an archive; list and verify
 * only read.
 *
 * Who may touch a .part: the archive writer holds an exclusive flock(2)
 * on each .part for as long as it writes it (archive.c), and the kernel
 * drops the lock when the writer exits or dies.  So a .part whose lock
 * can be taken is not being written: it is left by a crash (or by a
 * writer on a file system without flock, see docs).  Expire and recover
 * take that lock (non-blocking) before they remove or replace a .part and
 * skip it as busy otherwise; the writer, after locking a .part it just
 * created, checks it is still the file of that name and starts over if
 * recovery removed it meanwhile.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#ifndef FLOE_ARCHIVE_MAINT_H
#define FLOE_ARCHIVE_MAINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"
#include "err.h"

/* ---- listing ---- */

/* One file of an archive, as its path and name tell. */
struct floe_archive_file {
	char *path;               /* owned by the list */
	char instance[64];        /* the name up to its first '.'; "" if not the writer's */
	int64_t period;           /* period start (ns) from the name; valid if named */
	bool named;               /* the name parses as the writer's (floe_archive_parse_name) */
	bool part;                /* ends in .part: being written, or left by a crash */
	uint64_t bytes;           /* size when listed */
};

struct floe_archive_list {
	struct floe_archive_file *files;
	size_t n, cap;
};

/* Fills l (zeroed by the caller, or released) with every .floe and
 * .floe.part file below dir (floe_archive_walk), sorted by path: for an
 * archive, instance then time.  IO, LIMIT, NOMEM with eb set; l then holds
 * what was found so far and must still be released. */
FLOE_WUR enum floe_err floe_archive_list(struct floe_archive_list *l, const char *dir,
                                         struct floe_errbuf *eb);
void floe_archive_list_release(struct floe_archive_list *l);

/* What a file holds, for `floe archive ls`. */
struct floe_archive_info {
	bool closed;              /* it has a valid footer index */
	int64_t tmin, tmax;       /* min stime, max ltime; tmin > tmax: no records */
	uint64_t blocks, records;
	char instance[64];        /* from the file header */
};

/* Reads a file's footer index, or (a .part, a damaged footer) walks its
 * block headers without decompressing any payload.  Damage met on the way
 * goes to log.  Returns the open error (IO, MALFORMED, TRUNCATED,
 * CHECKSUM, UNSUPPORTED, NOMEM) with eb naming the file. */
FLOE_WUR enum floe_err floe_archive_file_info(const char *path, const struct floe_log *log,
                                              struct floe_archive_info *out,
                                              struct floe_errbuf *eb);

/* ---- verifying ---- */

#define FLOE_VERIFY_DAMAGE_MAX 16

enum floe_verify_footer {
	FLOE_VERIFY_FOOTER_OK,       /* trailer, footer and entries verify */
	FLOE_VERIFY_FOOTER_MISSING,  /* no trailer: a .part, or a closed file cut short */
	FLOE_VERIFY_FOOTER_DAMAGED,  /* a trailer whose footer or itself fails its checks */
};

struct floe_verify_damage {
	enum floe_damage_kind kind;
	uint64_t block;               /* 0-based, in file order */
	uint64_t offset;              /* bytes from the start of the file */
	char what[128];
};

struct floe_verify_result {
	enum floe_err open_err;       /* OK: the header was read; else the file was not */
	char open_msg[256];
	bool part;                    /* named .part: no footer is expected, a torn tail
	                                 is what a crash leaves, not damage */
	enum floe_verify_footer footer;
	uint32_t af_pages_damaged;    /* address filter: pages failing their CRC (1 if
	                                 its head or page table does) */
	uint64_t blocks, records;     /* blocks read whole, their records */
	uint64_t blocks_damaged;      /* blocks failing a check (torn tail not counted) */
	bool torn;                    /* the file ends inside a block */
	uint64_t torn_offset;         /* where that block starts */
	struct floe_verify_damage damage[FLOE_VERIFY_DAMAGE_MAX];  /* the first ones */
	size_t ndamage;               /* reports kept in damage[] */
	bool clean;                   /* nothing above is wrong for this kind of file */
};

/* Reads every block of path with every CRC and column check on, checks
 * the trailer, footer index (each entry against its block's header) and
 * every page of the address filter, and fills out.  The file is opened
 * read-only and never changed.  A file that cannot be opened is a result
 * (open_err), not an error: the return is OK unless reading fails
 * outright (IO, NOMEM, with eb set).  Damage is also logged to log. */
FLOE_WUR enum floe_err floe_archive_verify_file(const char *path, const struct floe_log *log,
                                                struct floe_verify_result *out,
                                                struct floe_errbuf *eb);

/* ---- expiring ---- */

struct floe_expire_opts {
	int64_t now;              /* ns, the reference time (the CLI: the wall clock) */
	int64_t keep;             /* ns; 0 = no age limit */
	uint64_t max_bytes;       /* 0 = no size limit */
	bool dry_run;             /* report what would go, remove nothing */
	const struct floe_log *log;
	/* Called for each file removed (or that would be, with dry_run). */
	void (*removed)(void *ud, const struct floe_archive_file *f, bool by_age);
	void *ud;
};

struct floe_expire_result {
	uint64_t files_before, bytes_before;
	uint64_t files_removed, bytes_removed;
	uint64_t files_busy;      /* .part files a writer holds: never removed */
	uint64_t dirs_removed;    /* day, month, year directories left empty */
	bool over_size;           /* still above max_bytes (everything left is busy) */
};

/* Expires the archive below dir, in two steps (docs/archive.md):
 *   1. age: a file whose records all ended before now - keep goes.  Its
 *      end is the footer's max ltime for a closed file; otherwise (a .part,
 *      a damaged or unreadable file) its period start + 1 day, the longest
 *      rotation, which by the writer's rule bounds every ltime in it;
 *   2. size: while the files left total more than max_bytes, the oldest
 *      (period start, then path) goes.
 * Only files named by the writer are touched.  A .part a writer holds
 * (see above) is never removed and still counts towards the size.
 * Directories left empty below an instance (DD, MM, YYYY) are removed.
 * Errors: IO (listing; a removal that fails stops with the file named),
 * NOMEM, with eb set; files removed before stay removed and counted. */
FLOE_WUR enum floe_err floe_archive_expire(const char *dir, const struct floe_expire_opts *o,
                                           struct floe_expire_result *res,
                                           struct floe_errbuf *eb);

/* ---- recovering ---- */

enum floe_recover_outcome {
	FLOE_RECOVER_CLOSED,      /* complete blocks copied into the closed file */
	FLOE_RECOVER_RENAMED,     /* it already had its footer (crash before rename) */
	FLOE_RECOVER_REMOVED,     /* no complete block (crash at creation): removed */
	FLOE_RECOVER_BUSY,        /* a writer holds it: left alone */
	FLOE_RECOVER_FAILED,      /* left alone; msg says why */
};

#define FLOE_ARCHIVE_PATH_MAX 4096

struct floe_recover_report {
	char part[FLOE_ARCHIVE_PATH_MAX];   /* the .part */
	char final[FLOE_ARCHIVE_PATH_MAX];  /* the closed file (CLOSED, RENAMED) */
	enum floe_recover_outcome outcome;
	uint64_t blocks, records; /* in the closed file */
	uint64_t blocks_damaged;  /* dropped: damaged inside the .part */
	uint64_t bytes_dropped;   /* the torn tail (REMOVED: the whole .part) */
	char msg[256];            /* FAILED: why */
};

/* Turns a .part that no writer holds into a closed file at its last
 * complete block: the records of every complete block are written, block
 * for block, into a hidden temporary file beside it (".NAME.recover") with
 * footer, address filter and trailer, which is fsynced and renamed to the
 * .part's name without ".part"; the .part is then removed and the
 * directory fsynced.  Never overwrites: if the closed name exists the
 * .part is left (FAILED).  *rep is filled whatever the outcome (its
 * strings valid until the next call).  Returns OK for every outcome but
 * FAILED; FAILED returns the error (IO, MALFORMED, CHECKSUM, ...) with eb
 * set. */
FLOE_WUR enum floe_err floe_archive_recover_file(const char *part, const struct floe_log *log,
                                                 struct floe_recover_report *rep,
                                                 struct floe_errbuf *eb);

/* floe_archive_recover_file on every .part below dir; fn (may be NULL)
 * sees each report.  Goes on after a file that fails and returns the
 * first error (eb), or the listing's (IO, LIMIT, NOMEM). */
FLOE_WUR enum floe_err floe_archive_recover(const char *dir, const struct floe_log *log,
                                            void (*fn)(void *ud,
                                                       const struct floe_recover_report *rep),
                                            void *ud, struct floe_errbuf *eb);

#endif
