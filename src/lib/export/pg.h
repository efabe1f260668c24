/*
 * pg.h - floe files -> PostgreSQL (docs/db.md).
 *
 * The flows table is partitioned by UTC day on stime (PARTITION BY RANGE),
 * one partition "<table>_YYYYMMDD" created when the first row of that day
 * arrives.  Columns come from the field catalog (dbload.h floe_dbcols):
 * times as timestamptz (microseconds) plus "<name>_ns", the nanoseconds
 * below the microsecond; addresses as inet (IPv4 as IPv4, not v4-mapped);
 * MACs as macaddr; unsigned counters in the next wider signed integer
 * (64-bit counters as bigint); state and flags as text.
 *
 * Rows go in with binary COPY (COPY ... FROM STDIN WITH (FORMAT binary),
 * encoded here per the PostgreSQL manual, "COPY", "Binary Format"),
 * straight into the day's partition when a block's rows are of one day
 * (the server routes no row), else into the partitioned table.  Each
 * file is one transaction: its rows and its row in the ledger
 * "<table>_files" (file identity, path, rows) commit together, so a file
 * is loaded whole or not at all, and a file already in the ledger is
 * skipped.  Indexes on saddr, daddr and dport are created on a day's
 * partition once the day is complete (rows more than an hour past its end
 * have been committed), so loading a day never maintains indexes.
 *
 * Must not depend on: the CLI, the query layer.  Uses libpq.
 */
#ifndef FLOE_EXPORT_PG_H
#define FLOE_EXPORT_PG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "export/dbload.h"
#include "flow.h"

struct floe_pg_opts {
	const char *dsn;            /* libpq connection string or URI */
	const char *table;          /* NULL: "flows" */
	const struct floe_log *log;
	int64_t index_grace;        /* ns past a day's end before it is complete; 0 = 1 h */
	bool lazy;                  /* connect at the first file, not at create */
};

struct floe_pg;

/*
 * Connects and creates the tables if missing.  Returns NULL with eb set:
 * INVALID (bad table name), IO (cannot connect, or the server refused: the
 * message is libpq's, e.g. "password authentication failed for user"),
 * NOMEM.
 */
struct floe_pg *floe_pg_create(const struct floe_pg_opts *o, struct floe_errbuf *eb);
/* Closes the connection.  NULL: nothing. */
void floe_pg_destroy(struct floe_pg *p);

/* Loads the files of lo (floe_dbload_run): IO with the server's message
 * on a failure; in follow mode the connection is made again as needed.
 * lo->jobs > 1: as many connections load files at once; the day
 * partitions a file needs (from its footer) are made before its COPY,
 * outside its transaction, one connection at a time. */
FLOE_WUR enum floe_err floe_pg_load(struct floe_pg *p, const struct floe_dbload_opts *lo,
                                    struct floe_dbload_stats *st, struct floe_errbuf *eb);
/* The same in a thread of its own (dbload.h floe_dbfollow_start), with
 * lo->expire_keep dropping old partitions; p must outlive the thread. */
struct floe_dbfollow *floe_pg_follow(struct floe_pg *p, const struct floe_dbload_opts *lo,
                                     struct floe_errbuf *eb);

/* Drops the day partitions that end before now - keep (ns); the ledger
 * keeps their files so they are not loaded again.  *dropped: how many. */
FLOE_WUR enum floe_err floe_pg_expire(struct floe_pg *p, int64_t keep, int64_t now,
                                      uint64_t *dropped, struct floe_errbuf *eb);

/* The DDL of table (NULL: "flows") into buf, terminated if len > 0.
 * Returns the length it needs (without the NUL), as snprintf. */
size_t floe_pg_schema(const char *table, char *buf, size_t len);

/* ---- the binary COPY encoder ---- */

/* The file header: signature, flags 0, no extension (19 bytes). */
#define FLOE_PGCOPY_HEADER_LEN 19
void floe_pgcopy_header(uint8_t out[FLOE_PGCOPY_HEADER_LEN]);
/* The file trailer: a field count of -1. */
#define FLOE_PGCOPY_TRAILER_LEN 2
void floe_pgcopy_trailer(uint8_t out[FLOE_PGCOPY_TRAILER_LEN]);
/* A bound on one encoded row. */
#define FLOE_PGCOPY_ROW_MAX 4096
/* Encodes f as one tuple of the columns cols (floe_dbcols(cols, false))
 * into out (at least FLOE_PGCOPY_ROW_MAX bytes); returns its length. */
size_t floe_pgcopy_row(const struct floe_dbcol *cols, size_t ncols, const struct floe_flow *f,
                       uint8_t *out);

#endif
