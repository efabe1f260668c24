/*
 * clickhouse.h - floe files -> ClickHouse over its HTTP interface
 * (docs/db.md).  Written for ClickHouse 18.16 (Debian 12) and later.
 *
 * The flows table is a MergeTree partitioned by UTC day
 * (PARTITION BY toDate(stime)) and ordered by (toStartOfHour(stime),
 * saddr, daddr): a time range reads only its hours, and within an hour an
 * address is found by the primary index.  Columns come from the field
 * catalog (dbload.h floe_dbcols): times as DateTime (seconds) plus
 * "<name>_ns" (nanoseconds in the second); addresses as FixedString(16)
 * (IPv6, IPv4 v4-mapped, as floe keeps them) plus "<name>_v4", the IPv4
 * address as UInt32 (0 for IPv6), because 18.16 has no IPv4/IPv6 types;
 * state and flags as String; a last column file_id tags each row with
 * its file.
 *
 * Rows go in as Native blocks (column by column: the server copies columns
 * instead of parsing rows; 18.16 has it), up to FLOE_CH_INSERT_ROWS rows
 * per INSERT sorted by the table's ORDER BY key (hour, saddr, daddr), in
 * blocks of 4096 rows that the server joins into one, finds sorted and
 * does not sort again; or, on request, as RowBinary (row by row, unsorted),
 * up to 40 MiB per INSERT.  ClickHouse has no
 * transactions, so the ledger "<table>_files" gets a "started" row for a
 * file before its rows and a "done" row after them.  A file started but
 * not done (a load cut short) has the rows with its file_id deleted
 * (ALTER TABLE ... DELETE, waited for) before it is loaded again: loading
 * twice adds nothing, a crash loses nothing.
 *
 * Scale-out: with a cluster name, <table> is a Distributed table over
 * <table>_local on the cluster's shards (sharded by saddr); floe creates
 * the local tables through the shards' own URLs (no ZooKeeper needed),
 * inserts through the Distributed table with insert_distributed_sync=1 and
 * deletes partial loads on each shard.
 *
 * Must not depend on: the CLI, the query layer.  Uses libcurl.
 */
#ifndef FLOE_EXPORT_CLICKHOUSE_H
#define FLOE_EXPORT_CLICKHOUSE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "export/dbload.h"
#include "flow.h"

#define FLOE_CH_MAX_SHARDS 64
/* Rows of one Native INSERT: held as records to be sorted (about 450
 * bytes each, so 115 MiB per connection). */
#define FLOE_CH_INSERT_ROWS 262144u

struct floe_ch_opts {
	const char *url;            /* http://[USER:PASSWORD@]HOST:PORT/ */
	const char *user;           /* NULL: from the URL, else ClickHouse's default */
	const char *password;       /* NULL: from the URL, else none */
	const char *table;          /* NULL: "flows" */
	const char *cluster;        /* NULL: one server; else remote_servers name */
	const char *const *shards;  /* with cluster: each shard's HTTP URL */
	size_t nshards;
	const struct floe_log *log;
	long timeout;               /* seconds per request; 0 = 600 */
	bool rowbinary;             /* INSERT ... FORMAT RowBinary instead of Native */
	bool lazy;                  /* reach the server at the first file, not at create */
};

struct floe_ch;

/*
 * Checks the server answers, creates the tables if missing.  Returns NULL
 * with eb set: INVALID (bad table name, cluster without shards), IO
 * (cannot connect: curl's message; the server refused: its exception
 * text, e.g. "Wrong password for user default"), NOMEM.
 */
struct floe_ch *floe_ch_create(const struct floe_ch_opts *o, struct floe_errbuf *eb);
void floe_ch_destroy(struct floe_ch *c);

/* Loads the files of lo (floe_dbload_run); IO with the server's message.
 * lo->jobs > 1: as many connections load files at once. */
FLOE_WUR enum floe_err floe_ch_load(struct floe_ch *c, const struct floe_dbload_opts *lo,
                                    struct floe_dbload_stats *st, struct floe_errbuf *eb);
/* The same in a thread of its own (dbload.h floe_dbfollow_start), with
 * lo->expire_keep dropping old partitions; c must outlive the thread. */
struct floe_dbfollow *floe_ch_follow(struct floe_ch *c, const struct floe_dbload_opts *lo,
                                     struct floe_errbuf *eb);
/* Drops the day partitions ending before now - keep (on every shard). */
FLOE_WUR enum floe_err floe_ch_expire(struct floe_ch *c, int64_t keep, int64_t now,
                                      uint64_t *dropped, struct floe_errbuf *eb);
/* The DDL (local tables, Distributed table, ledger) into buf, as snprintf. */
size_t floe_ch_schema(const char *table, const char *cluster, char *buf, size_t len);

/* ---- the RowBinary encoder ---- */

#define FLOE_CHROW_MAX 4096
/* Encodes f as one RowBinary row of cols (floe_dbcols(cols, true)) and
 * file_id into out (at least FLOE_CHROW_MAX bytes); returns its length. */
size_t floe_chrow(const struct floe_dbcol *cols, size_t ncols, const struct floe_flow *f,
                  uint64_t file_id, uint8_t *out);

/* Encodes n records (n > 0) as one Native block: the column count and
 * row count (LEB128), then per column (cols, then file_id) its name, its
 * type and its n values, each as RowBinary encodes it.  out must hold
 * FLOE_CHNATIVE_MAX(n) bytes; returns the length. */
#define FLOE_CHROW_VALUES_MAX 512  /* the values of one row, bounded */
#define FLOE_CHNATIVE_MAX(n) ((size_t)(n) * FLOE_CHROW_VALUES_MAX + FLOE_DBCOL_MAX * 64 + 16)
size_t floe_chnative(const struct floe_dbcol *cols, size_t ncols, const struct floe_flow *recs,
                     size_t n, uint64_t file_id, uint8_t *out);
/* The most bytes one row of cols (and file_id) takes in a Native block;
 * FLOE_CHNATIVE_MAX holds only while it is at most FLOE_CHROW_VALUES_MAX. */
size_t floe_chnative_rowmax(const struct floe_dbcol *cols, size_t ncols);

/* ---- the server's answers ---- */

/* A result of one unsigned number ("123\n", TabSeparated).  MALFORMED if
 * the body is anything else. */
FLOE_WUR enum floe_err floe_ch_parse_count(const uint8_t *p, size_t len, uint64_t *v);
/* The message of an error body ("Code: 193, e.displayText() = DB::Exception:
 * Wrong password ..."): its first line, unprintable bytes as '?', cut to
 * outlen - 1.  Returns its length. */
size_t floe_ch_error_line(const uint8_t *p, size_t len, char *out, size_t outlen);
/* A partition value of a day, "YYYY-MM-DD" alone on a line (p, len
 * without the newline) -> day number.  False otherwise. */
bool floe_ch_parse_day(const uint8_t *p, size_t len, int64_t *day);

#endif
