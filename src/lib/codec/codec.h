/*
 * codec.h - floe's block files and the block codec (docs/format.md).
 *
 * A file is a header, self-framed blocks, and (once closed) a footer index.
 * A block holds up to 64 Ki records in column order, each column with its
 * own encoding (timestamps delta-encoded), compressed with zstd and guarded
 * by CRC32C.  Its header carries the record count, time range, sizes and a
 * summary for skipping: a Bloom filter of the addresses in it and the
 * min/max of ports and protocol.  The stream protocol carries the same
 * blocks, so one decoder serves files and streams.
 *
 * Reading is forgiving of damage, never of format: a file without a footer
 * (writer killed) is read by walking block headers to the last complete
 * block; a block whose CRC fails is reported (file, block number, offset)
 * through the log and skipped, and the rest is read.  A file of a newer
 * major version is refused with FLOE_UNSUPPORTED.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#ifndef FLOE_CODEC_H
#define FLOE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flow.h"

#define FLOE_BLOCK_MAX_RECORDS 65536u

/* What a block header says, enough to decide to skip it unread. */
struct floe_block_summary {
	uint64_t offset;         /* byte offset of the block in its file */
	uint32_t nrec;
	int64_t tmin, tmax;      /* min stime, max ltime of its records */
	uint16_t sport_min, sport_max, dport_min, dport_max;
	uint64_t proto_mask[4];  /* bit p set if some record has proto p */
	uint32_t bloom_bits;     /* size of the address Bloom filter in bits */
	uint8_t bloom_k;         /* hash functions of the Bloom filter */
	const uint8_t *bloom;    /* borrowed, valid until the next read */
};

/* True unless the block's Bloom filter proves addr is in none of its
 * records (as saddr or daddr). */
bool floe_block_may_contain(const struct floe_block_summary *s, const uint8_t addr[16]);

struct floe_file_info {
	uint16_t major, minor;   /* format version */
	char creator[64];        /* "floe 0.1.0" */
	char instance[64];       /* sensor instance name, may be empty */
	int64_t created;         /* ns */
	bool has_footer;         /* the writer closed the file */
};

/* ---- writing ---- */

struct floe_writer;

struct floe_writer_opts {
	const char *instance;    /* may be NULL */
	int zstd_level;          /* 0 = default (1) */
	uint32_t block_records;  /* 0 = 65536; records per block */
	const struct floe_log *log;
	/* Threads encoding blocks while the caller fills the next (0: the
	 * caller encodes).  Each holds one block of records (block_records x
	 * sizeof(struct floe_flow), 29 MB at the default) and its own
	 * compressor; blocks still reach the file in order. */
	unsigned threads;
	/* 0 = FLOE_AF_MAX_ADDRS (4M): the file's address filter keys held at
	 * most; when they fill up with more than half of them distinct, the
	 * file gets no file-level address filter (its blocks keep theirs):
	 * always kept up to half this many distinct addresses, never past it */
	uint32_t af_max_addrs;
};

/* Creates path (truncating) or, for "-", writes to stdout.  Returns NULL
 * with eb set on failure (IO, NOMEM). */
struct floe_writer *floe_writer_open(const char *path, const struct floe_writer_opts *opts,
                                     struct floe_errbuf *eb);
/* Writes to an open descriptor (not closed by the writer); name is for
 * messages. */
struct floe_writer *floe_writer_fdopen(int fd, const char *name, const struct floe_writer_opts *opts,
                                       struct floe_errbuf *eb);
/* Appends one record (copied).  Errors are sticky: IO, NOMEM. */
FLOE_WUR enum floe_err floe_writer_add(struct floe_writer *w, const struct floe_flow *f);
/* Ends the current block now (streams, periodic sync). */
FLOE_WUR enum floe_err floe_writer_flush(struct floe_writer *w);
/* Flushes, writes the footer, closes (if it opened the file) and frees.
 * Returns the first error seen during the writer's life.  NULL: no-op. */
FLOE_WUR enum floe_err floe_writer_close(struct floe_writer *w, struct floe_errbuf *eb);
/* Frees without writing a footer (simulates a crash in tests). */
void floe_writer_abandon(struct floe_writer *w);

/* ---- reading ---- */

struct floe_reader;

/* Opens path, or stdin for "-".  Reads and checks the file header and, if
 * the file is seekable and was closed, loads its footer index.  Returns NULL
 * with eb set, the message quoting the file: IO (cannot open), MALFORMED
 * ("not a floe file"), TRUNCATED ("empty file", header cut short),
 * UNSUPPORTED ("written by a newer floe (format X.Y)"), CHECKSUM (header
 * fails its checksum), NOMEM.  fdopen: the descriptor is borrowed (not
 * closed); it is used as seekable only if it is a regular file at offset
 * 0, otherwise blocks are walked in order as from a pipe. */
struct floe_reader *floe_reader_open(const char *path, const struct floe_log *log,
                                     struct floe_errbuf *eb);
struct floe_reader *floe_reader_fdopen(int fd, const char *name, const struct floe_log *log,
                                       struct floe_errbuf *eb);
void floe_reader_close(struct floe_reader *r);

const struct floe_file_info *floe_reader_info(const struct floe_reader *r);

/* From the footer index of a closed file, without reading any block: the
 * time range of its records (*tmin = min stime, *tmax = max ltime; a file
 * with no records gives tmin > tmax), its block and record counts.
 * Returns false when the file has no (valid) footer: then only reading its
 * blocks tells. */
bool floe_reader_footer_range(const struct floe_reader *r, int64_t *tmin, int64_t *tmax,
                              uint64_t *nblocks, uint64_t *nrec);

/* Column pruning: decode only the columns in mask (bit id-1 for column
 * id, docs/format.md; build it with floe_columns_of).  Fields of the other
 * columns read as zero, and their bytes, though covered by the block's
 * CRC, are not checked further.  Default FLOE_COLUMNS_ALL.  Asking for
 * ltime brings stime along (ltime is stored relative to it). */
#define FLOE_COLUMNS_ALL (~(uint64_t)0)
void floe_reader_set_columns(struct floe_reader *r, uint64_t mask);
/* The columns holding the bytes [off, off + size) of struct floe_flow,
 * e.g. floe_columns_of(offsetof(struct floe_flow, dport), 2). */
uint64_t floe_columns_of(size_t off, size_t size);

/* Optional, after the block filter (late materialization): for a block
 * that passed it, decode only the columns in mask (floe_columns_of) and
 * call probe on each record, which sees only those columns (the rest
 * read zero).  floe_reader_next returns only the records probe keeps,
 * their other columns decoded; the others cost a skip over their values.
 * A block of which it keeps none is skipped (counted in blocks_skipped
 * and blocks_probed).  This turns a Bloom filter's false positive into
 * the cost of decoding a few columns, and a selective filter into the
 * cost of decoding its own columns.  The probe must keep every record the
 * caller may want.  NULL probe: off. */
typedef bool (*floe_block_probe)(void *ud, const struct floe_flow *rec);
void floe_reader_set_probe(struct floe_reader *r, uint64_t mask, floe_block_probe probe, void *ud);

/* Optional: called with each block's summary before its payload is read
 * or decompressed; returning false skips the block (counted in
 * blocks_skipped; on a seekable file the reader seeks over it). */
typedef bool (*floe_block_pred)(void *ud, const struct floe_block_summary *s);
void floe_reader_set_block_filter(struct floe_reader *r, floe_block_pred pred, void *ud);

/* Reads the next block.  FLOE_OK: *recs points to *n records, valid until
 * the next call.  FLOE_EOF: no more.  Damaged blocks are logged (WARN:
 * file, block number, byte offset), counted and skipped, not returned as
 * errors; a torn last block is dropped the same way.  An error return (IO,
 * NOMEM) is fatal for this reader, with the message in
 * floe_reader_error().  info->has_footer becomes true on a pipe only once
 * the footer has been read. */
FLOE_WUR enum floe_err floe_reader_next(struct floe_reader *r, const struct floe_flow **recs, size_t *n);
const char *floe_reader_error(const struct floe_reader *r);
/* With the file's address filter (a closed, seekable file written by floe
 * 0.1 or later): false if none of the n addresses is in the file, so no
 * record has one of them as saddr or daddr.  True if one may be, or if
 * the file has no usable filter (a damaged page is logged and the filter
 * is dropped: the answer is then always true).  Reads one page per
 * address. */
bool floe_reader_may_contain(struct floe_reader *r, const uint8_t (*addrs)[16], size_t n);

struct floe_reader_stats {
	uint64_t blocks_read, blocks_skipped, blocks_damaged;
	uint64_t blocks_probed;  /* of blocks_skipped: by the probe, after decoding its columns */
	uint64_t records;
	uint64_t bytes_read;
	uint32_t footer_damaged; /* 1: the file has a trailer but it or the footer index it
	                            points to fails its checks (blocks are then walked) */
	uint32_t af_damaged;     /* 1: the address filter's head, page table or a page
	                            failed its checks (the filter is then ignored) */
};
void floe_reader_stats(const struct floe_reader *r, struct floe_reader_stats *st);

/* Optional: called for each damage the reader reports through its log
 * (and counts in blocks_damaged), with the block's number (0-based, in
 * file order), its byte offset and the message.  kind says what failed:
 * a block (header, summary, payload, or disagreeing with the footer
 * index), a torn last block (the input ends inside it: a file still being
 * written, or left by a crash), or a footer met in the block stream that
 * fails its checks.  For `floe archive verify`, which reports damage as
 * data rather than text.  NULL fn: off. */
enum floe_damage_kind { FLOE_DAMAGE_BLOCK, FLOE_DAMAGE_TORN, FLOE_DAMAGE_FOOTER };
typedef void (*floe_damage_fn)(void *ud, enum floe_damage_kind kind, uint64_t blockno,
                               uint64_t offset, const char *what);
void floe_reader_set_damage_fn(struct floe_reader *r, floe_damage_fn fn, void *ud);

/* Checks every page of a closed file's address filter against its
 * checksum (a lookup checks only the page it reads).  Returns the number
 * of damaged pages, 0 if the filter is whole or the file has none; the
 * whole filter counts as one when its head or page table failed at open
 * (stats.af_damaged).  A damaged page is logged once, af_damaged set and
 * the filter dropped, as a lookup would. */
uint32_t floe_reader_check_addr_filter(struct floe_reader *r);

/* ---- one block, for streams and fuzzing ---- */

/* Decodes one complete framed block (header + payload) from p/len into out
 * (capacity FLOE_BLOCK_MAX_RECORDS).  Returns OK with *n, or MALFORMED,
 * TRUNCATED, CHECKSUM, UNSUPPORTED, NOMEM with eb set.  *used is the framed
 * size consumed. */
FLOE_WUR enum floe_err floe_block_decode(const uint8_t *p, size_t len, struct floe_flow *out,
                                         size_t *n, size_t *used, struct floe_errbuf *eb);

#endif
