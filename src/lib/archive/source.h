/*
 * source.h - where a query's records come from: files (-r), archives and
 * directory trees (-R), restricted to a time range (-t) and to blocks whose
 * address Bloom filter admits the addresses the filter requires
 * (docs/archive.md "Reading").
 *
 * A source yields blocks of records, file after file.  It skips work in
 * three steps, each exact or conservative, never lossy:
 *   1. by file name: a file the archive writer named for period T holds
 *      only records with ltime < T + rotation <= T + FLOE_SOURCE_SLACK, so
 *      it is skipped unopened when T + FLOE_SOURCE_SLACK <= range start;
 *   2. by footer: a closed file whose footer index puts all its records
 *      outside the range is skipped after reading only its footer;
 *   3. by block: a block whose time range misses the range, or whose Bloom
 *      filter rules out every required address, is seeked over unread;
 *      one that passes has its time and address columns decoded first,
 *      and the rest only if some record is in the range with a required
 *      address (a Bloom false positive costs a few columns, not a block).
 * Records inside a block read are returned as they are: the caller still
 * checks the range (floe_timerange_overlaps) and its filter per record.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#ifndef FLOE_SOURCE_H
#define FLOE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flow.h"
#include "util/timerange.h"

/* Name-based slack: the longest rotation period the writer allows. */
#define FLOE_SOURCE_SLACK (86400LL * 1000000000LL)

struct floe_source_opts {
	struct floe_timerange range;    /* FLOE_TIMERANGE_ALL: no restriction */
	const uint8_t (*addrs)[16];     /* borrowed: a record can match only if one of
	                                   these is its saddr or daddr; NULL/0: any */
	size_t naddrs;
	bool no_index;                  /* skip nothing: read and decode every block of every file */
	uint64_t columns;               /* floe_reader_set_columns; 0 = all */
	/* Optional record predicate that reads only rec_columns (plus times):
	 * a block none of whose records passes it is not decoded further
	 * (late materialization; a filter the caller knows the columns of). */
	bool (*rec_probe)(void *ud, const struct floe_flow *rec);
	void *rec_probe_ud;
	uint64_t rec_columns;
	const struct floe_log *log;     /* warnings: damaged blocks, unreadable archive files
	                                   (called from reading threads when threads > 0) */
	/* Reading threads: 0 reads in the caller's thread; n > 0 reads up to n
	 * files at once, each in its own thread, and returns their records in
	 * the same order (the callbacks above must then be thread-safe; a
	 * compiled filter is).  Memory: up to 3 decoded blocks per thread. */
	unsigned threads;
};

struct floe_source_stats {
	uint64_t files_considered;
	uint64_t files_skipped_name, files_skipped_footer;
	uint64_t files_skipped_addr;    /* the file's address filter has none of addrs */
	uint64_t files_read;            /* opened and their blocks looked at */
	uint64_t files_failed;          /* under -R: could not be opened, skipped with a warning */
	uint64_t blocks_considered;     /* blocks of the files read */
	uint64_t blocks_skipped, blocks_read, blocks_damaged;
	uint64_t blocks_probed;         /* of blocks_skipped: after decoding time and addresses */
	uint64_t records;               /* records in the blocks read */
	uint64_t bytes_read;
};

struct floe_source;

/* Returns NULL with eb set (NOMEM).  opts is copied; opts->addrs is not
 * (it must outlive the source). */
struct floe_source *floe_source_create(const struct floe_source_opts *opts,
                                       struct floe_errbuf *eb);
void floe_source_destroy(struct floe_source *s);

/* Adds one file ("-": standard input).  It is opened only when reached; if
 * it cannot be, floe_source_next fails (a file the user named must be
 * readable).  NOMEM. */
FLOE_WUR enum floe_err floe_source_add_file(struct floe_source *s, const char *path,
                                            struct floe_errbuf *eb);
/* Adds every .floe and .floe.part file below dir (recursively, symlinks
 * not followed), sorted by path.  A .part is a file still being written or
 * left by a crash: it is read to its last complete block.  A file that
 * cannot be opened later is skipped with a warning (files_failed).  IO
 * (dir unreadable, message naming it), NOMEM, LIMIT (deeper than 32). */
FLOE_WUR enum floe_err floe_source_add_dir(struct floe_source *s, const char *dir,
                                           struct floe_errbuf *eb);
/* Number of files added so far. */
size_t floe_source_nfiles(const struct floe_source *s);

/* Next block of records: OK with recs and n valid until the next call, EOF
 * after the last file, or an error (IO, NOMEM, or the open error of a file
 * given with add_file) with floe_source_error() naming the file. */
FLOE_WUR enum floe_err floe_source_next(struct floe_source *s, const struct floe_flow **recs,
                                        size_t *n);
const char *floe_source_error(const struct floe_source *s);
/* The path of the file the last block came from. */
const char *floe_source_path(const struct floe_source *s);
void floe_source_stats(const struct floe_source *s, struct floe_source_stats *st);

#endif
