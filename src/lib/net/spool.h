/*
 * spool.h - the disk spool of a stream server (docs/stream.md "Spool"):
 * the blocks a server serves, written to segment files under a directory,
 * so that a subscriber that was away (an archiver down, a relay
 * restarted) gets every block after its resume point, and a producer
 * restarted on the same directory continues its run (run id and seq).
 *
 * A segment file DIR/<16 hex digits>.spool is a 32-byte header (magic
 * FLSP, version, the server's run id, the segment's index, CRC32C) and
 * entries appended one after another: a 16-byte entry header (block
 * length, number of seq ranges, records, CRC32C), the seq ranges (24 bytes
 * each, as in a SEEN frame: sensor, 0, first, last) and the block exactly
 * as served (codec.h).  Segments are appended to, fsynced when they are
 * rotated and at most sync_interval after an append; the oldest are
 * removed when the spool passes max_bytes, and what they held is counted
 * and logged.  At open, each segment is scanned; a damaged tail (a torn
 * entry, a bad checksum) is cut at the last complete entry.
 *
 * Threads: a spool and its readers are used by one thread (the server's).
 * Readers see what the writer appended as soon as floe_spool_append
 * returns (the page cache), which lets a subscriber change from reading
 * the spool to the live blocks in the same thread without a gap.
 *
 * Must not depend on: meter, decode, archive, query, libpcap, the server.
 */
#ifndef FLOE_NET_SPOOL_H
#define FLOE_NET_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "stream.h"

#define FLOE_SPOOL_MAGIC "FLSP"
#define FLOE_SPOOL_VERSION 1u
#define FLOE_SPOOL_HDR 32u           /* segment header */
#define FLOE_SPOOL_ENT_HDR 16u       /* entry header */
#define FLOE_SPOOL_RANGE 24u         /* a seq range: as FLOE_STREAM_SEEN_ENT */
#define FLOE_SPOOL_RANGES_MAX FLOE_STREAM_RESUME_MAX
#define FLOE_SPOOL_BLOCK_MAX FLOE_STREAM_FRAME_MAX

/* A segment's header: u32 magic, u16 version, u16 0, u64 run id, u64
 * index, u32 CRC32C of bytes 0..24, u32 0. */
struct floe_spool_seghdr {
	uint64_t run;
	uint64_t index;
};

/* An entry: u32 block length, u32 ranges, u32 records, u32 CRC32C of the
 * first 12 bytes, the ranges and the block; then the ranges and the
 * block.  Decoding borrows ranges and block from the bytes. */
struct floe_spool_entry {
	uint32_t nrec;
	size_t nranges;
	const uint8_t *ranges;       /* nranges * 24 bytes: floe_stream_seen_entry */
	const uint8_t *block;
	size_t block_len;
	size_t len;                  /* the entry's bytes in the file */
};

void floe_spool_seghdr_encode(const struct floe_spool_seghdr *h, uint8_t out[FLOE_SPOOL_HDR]);
/* MALFORMED (magic, reserved bytes), CHECKSUM, UNSUPPORTED (version),
 * TRUNCATED (len < 32). */
FLOE_WUR enum floe_err floe_spool_seghdr_decode(const uint8_t *p, size_t len,
                                                struct floe_spool_seghdr *h,
                                                struct floe_errbuf *eb);
/* Bytes of an entry with nranges ranges and a block of block_len bytes. */
size_t floe_spool_entry_size(size_t nranges, size_t block_len);
/* Writes the entry header and the ranges into head (16 + 24 * n bytes);
 * the block follows them in the file.  Returns the bytes written. */
size_t floe_spool_entry_head(uint8_t *head, const struct floe_stream_seen *r, size_t n,
                             const uint8_t *block, size_t block_len, uint32_t nrec);
/* Decodes the entry at p.  TRUNCATED: len is shorter than the entry (a
 * torn tail; *need says how many bytes it has, once the header is there,
 * else 16).  MALFORMED (a length past its bound, a range with first >
 * last or 0), CHECKSUM. */
FLOE_WUR enum floe_err floe_spool_entry_decode(const uint8_t *p, size_t len,
                                               struct floe_spool_entry *e, size_t *need,
                                               struct floe_errbuf *eb);

/* ---- the spool ---- */

struct floe_spool;

struct floe_spool_opts {
	const char *dir;             /* created if missing */
	uint64_t max_bytes;          /* bound of all segments; 0 = 1 GiB */
	uint64_t segment_bytes;      /* rotate past this; 0 = max_bytes / 8, within
	                                64 KiB .. 64 MiB */
	int64_t sync_interval;       /* ns: fsync at most this after an append; 0 = 1 s */
	uint64_t run;                /* the run id of a new spool (a random number) */
	const struct floe_log *log;
};

struct floe_spool_stats {
	uint64_t bytes;              /* in the segments now */
	uint32_t segments;
	uint64_t blocks, records;    /* appended by this run */
	uint64_t dropped_blocks;     /* removed with the oldest segments (this run) */
	uint64_t dropped_records;
	uint64_t errors;             /* appends that failed (logged) */
	uint64_t cut_bytes;          /* cut from damaged tails at open */
	uint64_t found_records;      /* records in the spool at open */
};

/* Opens (or creates) the spool in opts.dir: scans its segments, cuts a
 * damaged tail at its last complete entry (logged), and starts a new
 * segment.  The run id is the one found in the newest segment, else
 * opts.run.  NULL with eb set: IO (the directory or a file, named),
 * NOMEM, INVALID (max_bytes below 64 KiB). */
struct floe_spool *floe_spool_open(const struct floe_spool_opts *opts, struct floe_errbuf *eb);
/* The run id the spool's records belong to. */
uint64_t floe_spool_run(const struct floe_spool *sp);
/* The last seq of each sensor in the spool (found at open and appended
 * since), at most cap of them; returns how many. */
size_t floe_spool_last(const struct floe_spool *sp, struct floe_stream_resume *out, size_t cap);
/* The same without opening for writing: scans dir as floe_spool_open
 * would (a damaged tail is ignored, not cut); *run gets its run id (0:
 * no spool there).  IO only for a directory that exists but cannot be
 * read. */
FLOE_WUR enum floe_err floe_spool_peek(const char *dir, struct floe_stream_resume *out,
                                       size_t cap, size_t *n, uint64_t *run,
                                       struct floe_errbuf *eb);
/* Appends one served block (block bytes, its record count and the seq
 * range of each of its sensors), rotating and removing the oldest
 * segments as the bounds say.  IO (logged and counted by the caller; the
 * spool goes on with the next block), LIMIT (more ranges or a longer
 * block than the format holds). */
FLOE_WUR enum floe_err floe_spool_append(struct floe_spool *sp, const uint8_t *block,
                                         size_t block_len, uint32_t nrec,
                                         const struct floe_stream_seen *ranges, size_t nranges,
                                         struct floe_errbuf *eb);
/* fsyncs the current segment if sync_interval has passed since the first
 * append not yet synced; called regularly by the owner. */
void floe_spool_tick(struct floe_spool *sp);
void floe_spool_stats(const struct floe_spool *sp, struct floe_spool_stats *st);
/* fsyncs and closes.  NULL: no-op. */
void floe_spool_close(struct floe_spool *sp);

/* ---- reading ---- */

struct floe_spool_reader;

/* A reader at the oldest entry of the spool.  NULL on NOMEM. */
struct floe_spool_reader *floe_spool_reader_create(struct floe_spool *sp);
/* The next entry, valid until the next call.  EOF: the reader has every
 * entry appended so far (call again after the next append).  A segment
 * removed under the reader is read to its end (its file stays open); one
 * removed before the reader came to it is skipped (the subscriber sees
 * the seq gap).  IO, NOMEM; a damaged entry (MALFORMED, CHECKSUM) ends
 * its segment for the reader (logged). */
FLOE_WUR enum floe_err floe_spool_reader_next(struct floe_spool_reader *r,
                                              struct floe_spool_entry *e,
                                              struct floe_errbuf *eb);
void floe_spool_reader_destroy(struct floe_spool_reader *r);

#endif
