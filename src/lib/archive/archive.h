/*
 * archive.h - the archive writer: records into files rotated by time
 * (docs/archive.md, DESIGN.md "Archive").
 *
 *   DIR/<instance>/YYYY/MM/DD/<instance>.YYYYMMDDTHHMMSSZ.floe
 *
 * The time in the name is the UTC start of the file's rotation period.
 * Each file is written as <name>.part, then (footer written) fsynced,
 * renamed and its directory fsynced, so a crash leaves complete files plus
 * at most one .part per writer, readable to its last complete block.
 *
 * Rotation goes by the records' own clock, not the wall clock: the
 * writer's clock is the largest ltime it has been given.  A record whose
 * ltime reaches the end of the open period closes that file and opens the
 * period of that ltime; an earlier (late) record goes into the open file.
 * So every record of a file named T has ltime < T + rotation, which is what
 * lets a reader skip files by name (source.h).  If the name is taken
 * (another writer, a replay) "-1", "-2", ... is added before ".floe".
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#ifndef FLOE_ARCHIVE_H
#define FLOE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"
#include "err.h"
#include "flow.h"

#define FLOE_ARCHIVE_ROTATE_DEFAULT (3600LL * 1000000000LL)   /* 1 h */
#define FLOE_ARCHIVE_ROTATE_MAX (86400LL * 1000000000LL)      /* 1 d */
#define FLOE_ARCHIVE_NAME_MAX 64                               /* instance name */

struct floe_archive_opts {
	const char *dir;          /* archive root; created if missing */
	const char *instance;     /* [A-Za-z0-9_-], 1..63 chars, not "." or ".." */
	int64_t rotate;           /* ns; 0 = 1 h; must divide a day, >= 1 s */
	int zstd_level;           /* 0 = default */
	uint32_t block_records;   /* 0 = 65536 */
	unsigned threads;         /* encoder threads of each file's writer
	                           * (floe_writer_opts.threads) */
	const struct floe_log *log;
	/* At create, recover this instance's .part files that no writer holds
	 * (left by a crash) into closed files, as floe_archive_recover
	 * (maint.h) does; each one is logged at INFO, a failure at WARN (the
	 * writer starts anyway). */
	bool recover;
	/* Expiry as a sensor runs it: when > 0, floe_archive_expire (maint.h)
	 * runs over dir (every instance) with these limits and the wall clock
	 * at create and after each file the writer closes on rotation; what it
	 * removes is logged at INFO, a failure at WARN (writing goes on). */
	int64_t expire_keep;      /* ns; 0 = no age limit */
	uint64_t expire_max_bytes;/* 0 = no size limit */
};

struct floe_archive_stats {
	uint64_t files;           /* files closed (renamed) */
	uint64_t records;
};

struct floe_archive;

/* Checks the options (INVALID: bad instance name or rotation, message
 * naming it) and creates DIR/<instance> (IO).  Returns NULL with eb set.
 * No file is created before the first record. */
struct floe_archive *floe_archive_create(const struct floe_archive_opts *o,
                                         struct floe_errbuf *eb);
/* Appends one record (copied), rotating as described above.  Errors are
 * sticky (IO, NOMEM, with floe_archive_error() naming the file); the
 * caller stops and closes. */
FLOE_WUR enum floe_err floe_archive_add(struct floe_archive *a, const struct floe_flow *f);
/* Closes the open file (footer, fsync, rename) and frees a.  Returns the
 * first error of a's life with eb set.  NULL: no-op. */
FLOE_WUR enum floe_err floe_archive_close(struct floe_archive *a, struct floe_errbuf *eb);
/* Frees a leaving the open file as a .part without footer (a crash, for
 * tests). */
void floe_archive_abandon(struct floe_archive *a);
const char *floe_archive_error(const struct floe_archive *a);
void floe_archive_stats(const struct floe_archive *a, struct floe_archive_stats *st);

/* The relative path of the file of period start t (ns) for instance:
 * "<instance>/YYYY/MM/DD/<instance>.YYYYMMDDTHHMMSSZ.floe", with "-seq"
 * before ".floe" when seq > 0.  Returns false if it does not fit len. */
bool floe_archive_path(char *buf, size_t len, const char *instance, int64_t t, unsigned seq);

/* Parses a file's base name "<instance>.YYYYMMDDTHHMMSSZ[-N].floe[.part]"
 * into its period start (ns).  *part says whether it ends in ".part".
 * False for any other name. */
bool floe_archive_parse_name(const char *base, int64_t *t, bool *part);

/* Calls fn(ud, path, size, eb) for every regular file below dir whose name
 * ends in ".floe" or ".floe.part" (any name, not only the writer's),
 * recursively, in directory order (callers sort).  Symlinks are not
 * followed; hidden entries (".x") are ignored, which is where temporary
 * files of floe's own (recovery) live.  Stops at the first error fn
 * returns.  IO (a directory unreadable, message naming it), LIMIT (deeper
 * than 32 levels, path too long). */
typedef enum floe_err (*floe_archive_walk_fn)(void *ud, const char *path, uint64_t size,
                                              struct floe_errbuf *eb);
FLOE_WUR enum floe_err floe_archive_walk(const char *dir, floe_archive_walk_fn fn, void *ud,
                                         struct floe_errbuf *eb);

#endif
