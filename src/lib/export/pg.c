/*
 * pg.c - floe files -> PostgreSQL with binary COPY (pg.h).
 */
#include "export/pg.h"
#include "util/mem.h"

#include <libpq-fe.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows are handed to libpq in pieces of about this size. */
#define COPY_BUF (1u << 20)
/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC). */
#define PG_EPOCH_US 946684800000000LL
/* inet's address families as PostgreSQL encodes them (utils/inet.h). */
#define PGSQL_AF_INET 2
#define PGSQL_AF_INET6 3
/* The day list: some 10^4 days at most for any sane retention. */
#define DAYS_BUDGET (1u << 20)

struct day {
	int64_t day;
	bool indexed;
};

/* Several connections loading at once (jobs): the partitions are made by
 * one of them at a time. */
struct pg_shared {
	pthread_mutex_t ddl;
};

struct floe_pg {
	PGconn *conn;
	struct floe_pg_opts opts;   /* for the connections of the jobs */
	struct floe_pg *jobs[FLOE_DBLOAD_MAX_JOBS];  /* jobs[0] == this */
	size_t njobs;
	struct pg_shared *shared;   /* the first connection's; NULL while one */
	char dsn[1024];
	char table[48];
	const struct floe_log *log;
	int64_t grace;
	struct floe_dbcol cols[FLOE_DBCOL_MAX];
	size_t ncols;
	/* The day partitions that exist (sorted); stale after a rollback. */
	struct floe_budget budget;
	struct day *days;
	size_t ndays, daycap;
	bool days_stale;
	int64_t last_day;         /* the day last found in days (a cache) */
	/* The file being loaded. */
	bool in_tx, copying;
	int64_t copy_day;         /* the partition COPY writes to; INT64_MIN: the table */
	uint8_t *buf;
	size_t used;
	int64_t file_max;         /* largest stime of the file being loaded */
	int64_t hw;               /* largest stime committed */
};

/* ---- binary COPY encoding ---- */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	p = put32(p, (uint32_t)(v >> 32));
	return put32(p, (uint32_t)v);
}

/* A field: its length, then its bytes. */
static uint8_t *f_int2(uint8_t *p, uint16_t v) { return put16(put32(p, 2), v); }
static uint8_t *f_int4(uint8_t *p, uint32_t v) { return put32(put32(p, 4), v); }
static uint8_t *f_int8(uint8_t *p, uint64_t v) { return put64(put32(p, 8), v); }

static uint8_t *f_text(uint8_t *p, const char *s, size_t n)
{
	p = put32(p, (uint32_t)n);
	memcpy(p, s, n);
	return p + n;
}

static uint8_t *f_inet(uint8_t *p, const uint8_t a[16])
{
	if (floe_addr_is_v4(a)) {
		p = put32(p, 8);
		*p++ = PGSQL_AF_INET;
		*p++ = 32;   /* bits */
		*p++ = 0;    /* is_cidr */
		*p++ = 4;
		memcpy(p, a + 12, 4);
		return p + 4;
	}
	p = put32(p, 20);
	*p++ = PGSQL_AF_INET6;
	*p++ = 128;
	*p++ = 0;
	*p++ = 16;
	memcpy(p, a, 16);
	return p + 16;
}

static uint64_t load_u(const struct floe_field *fd, const struct floe_flow *f)
{
	const uint8_t *p = (const uint8_t *)f + fd->off;
	switch (fd->size) {
	case 1: return *p;
	case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
	case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
	default: return 0;
	}
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b < 0) ? q - 1 : q;
}

void floe_pgcopy_header(uint8_t out[FLOE_PGCOPY_HEADER_LEN])
{
	static const uint8_t sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
	memcpy(out, sig, 11);
	put32(out + 11, 0);  /* flags: no OIDs */
	put32(out + 15, 0);  /* header extension length */
}

void floe_pgcopy_trailer(uint8_t out[FLOE_PGCOPY_TRAILER_LEN])
{
	put16(out, 0xffff);
}

size_t floe_pgcopy_row(const struct floe_dbcol *cols, size_t ncols, const struct floe_flow *f,
                       uint8_t *out)
{
	static const struct floe_fmtopts fmt = {0};
	uint8_t *p = put16(out, (uint16_t)ncols);
	for (size_t i = 0; i < ncols; i++) {
		const struct floe_dbcol *c = &cols[i];
		const struct floe_field *fd = c->fd;
		switch (c->kind) {
		case FLOE_DBCOL_SYNACK: p = f_int8(p, (uint64_t)f->synack); continue;
		case FLOE_DBCOL_ACKDAT: p = f_int8(p, (uint64_t)f->ackdat); continue;
		case FLOE_DBCOL_SUBNS: {
			int64_t ns = (int64_t)load_u(fd, f);
			p = f_int2(p, (uint16_t)(ns - floor_div(ns, 1000) * 1000));
			continue;
		}
		case FLOE_DBCOL_V4: p = f_int8(p, 0); continue;  /* not a PostgreSQL column */
		case FLOE_DBCOL_FIELD: break;
		}
		const uint8_t *raw = (const uint8_t *)f + fd->off;
		switch (fd->type) {
		case FLOE_FT_TIME:
			p = f_int8(p, (uint64_t)(floor_div((int64_t)load_u(fd, f), 1000) - PG_EPOCH_US));
			break;
		case FLOE_FT_ADDR:
			p = f_inet(p, raw);
			break;
		case FLOE_FT_MAC:
			p = put32(p, 6);
			memcpy(p, raw, 6);
			p += 6;
			break;
		case FLOE_FT_PORT:
			p = f_int4(p, (uint32_t)load_u(fd, f));
			break;
		case FLOE_FT_STATE: {
			const char *s = floe_state_name((unsigned)load_u(fd, f));
			p = f_text(p, s, strlen(s));
			break;
		}
		case FLOE_FT_FLAGS:
		case FLOE_FT_TCPFLAGS:
		case FLOE_FT_DIR: {
			char t[64];
			size_t n = floe_field_format(fd, f, &fmt, t, sizeof(t));
			while (n && t[n - 1] == ' ')
				n--;
			p = f_text(p, t, n);
			break;
		}
		default:  /* PROTO, UINT, HEX, ...: the next wider signed type */
			if (fd->size == 1)
				p = f_int2(p, (uint16_t)load_u(fd, f));
			else if (fd->size == 2)
				p = f_int4(p, (uint32_t)load_u(fd, f));
			else
				p = f_int8(p, load_u(fd, f));
			break;
		}
	}
	return (size_t)(p - out);
}

/* ---- schema ---- */

static const char *pg_type(const struct floe_dbcol *c)
{
	switch (c->kind) {
	case FLOE_DBCOL_SUBNS: return "smallint";
	case FLOE_DBCOL_SYNACK:
	case FLOE_DBCOL_ACKDAT:
	case FLOE_DBCOL_V4: return "bigint";
	case FLOE_DBCOL_FIELD: break;
	}
	switch (c->fd->type) {
	case FLOE_FT_TIME: return "timestamptz";
	case FLOE_FT_ADDR: return "inet";
	case FLOE_FT_MAC: return "macaddr";
	case FLOE_FT_PORT: return "integer";
	case FLOE_FT_STATE:
	case FLOE_FT_FLAGS:
	case FLOE_FT_TCPFLAGS:
	case FLOE_FT_DIR: return "text";
	default:
		return c->fd->size == 1 ? "smallint" : c->fd->size == 2 ? "integer" : "bigint";
	}
}

struct sbuf {
	char *p;
	size_t len, need;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) FLOE_PRINTF(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = b->need < b->len ? b->len - b->need : 0;
	int n = vsnprintf(room ? b->p + b->need : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->need += (size_t)n;
}

size_t floe_pg_schema(const char *table, char *buf, size_t len)
{
	if (!table)
		table = "flows";
	struct floe_dbcol cols[FLOE_DBCOL_MAX];
	size_t n = floe_dbcols(cols, false);
	struct sbuf b = {buf, len, 0};
	if (len)
		buf[0] = '\0';
	sb_printf(&b, "-- floe flows, partitioned by UTC day of stime; times: timestamptz\n"
	              "-- (microseconds) + <name>_ns (nanoseconds below the microsecond)\n"
	              "CREATE TABLE IF NOT EXISTS %s (\n", table);
	for (size_t i = 0; i < n; i++)
		sb_printf(&b, "\t%s %s%s\n", cols[i].name, pg_type(&cols[i]),
		          i + 1 < n ? "," : "");
	sb_printf(&b, ") PARTITION BY RANGE (stime);\n"
	              "-- files loaded: a file's rows and its row here commit together\n"
	              "CREATE TABLE IF NOT EXISTS %s_files (\n"
	              "\tfile_key text PRIMARY KEY,\n"
	              "\tpath text NOT NULL,\n"
	              "\tbytes bigint NOT NULL,\n"
	              "\trows bigint NOT NULL,\n"
	              "\tloaded timestamptz NOT NULL DEFAULT now()\n"
	              ");\n"
	              "-- one partition per UTC day, made as rows arrive:\n"
	              "--   CREATE TABLE %s_YYYYMMDD PARTITION OF %s\n"
	              "--     FOR VALUES FROM ('YYYY-MM-DD 00:00+00') TO ('<next day> 00:00+00');\n"
	              "-- and once the day is complete:\n"
	              "--   CREATE INDEX %s_YYYYMMDD_saddr ON %s_YYYYMMDD (saddr); (daddr, dport too)\n",
	          table, table, table, table, table);
	return b.need;
}

/* ---- connection and statements ---- */

/* libpq's message on one line, without the trailing newline. */
static const char *pg_msg(PGconn *c, char *out, size_t len)
{
	snprintf(out, len, "%s", c ? PQerrorMessage(c) : "out of memory");
	for (char *s = out; *s; s++)
		if (*s == '\n')
			*s = ' ';
	size_t n = strlen(out);
	while (n && out[n - 1] == ' ')
		out[--n] = '\0';
	return out;
}

static enum floe_err pg_fail(struct floe_pg *p, struct floe_errbuf *eb, const char *what)
{
	char m[200];
	return floe_errbuf_set(eb, FLOE_IO, "PostgreSQL: %s: %s", what,
	                       pg_msg(p->conn, m, sizeof(m)));
}

/* Runs a statement without results; IO with the server's message, after
 * what (NULL: the statement itself). */
static enum floe_err pg_exec_what(struct floe_pg *p, const char *sql, const char *what,
                                  struct floe_errbuf *eb)
{
	PGresult *r = PQexec(p->conn, sql);
	ExecStatusType s = PQresultStatus(r);
	enum floe_err e = FLOE_OK;
	/* The server's own sentence, without libpq's LINE/caret decoration. */
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		e = m ? floe_errbuf_set(eb, FLOE_IO, "PostgreSQL: %s: %s", what ? what : sql, m)
		      : pg_fail(p, eb, what ? what : sql);
	PQclear(r);
	return e;
}

static enum floe_err pg_exec(struct floe_pg *p, const char *sql, struct floe_errbuf *eb)
{
	return pg_exec_what(p, sql, NULL, eb);
}

static int cmp_day(const void *a, const void *b)
{
	int64_t x = ((const struct day *)a)->day, y = ((const struct day *)b)->day;
	return (x > y) - (x < y);
}

static struct day *find_day(struct floe_pg *p, int64_t day)
{
	struct day key = {day, false};
	if (!p->ndays)
		return NULL;
	return bsearch(&key, p->days, p->ndays, sizeof(*p->days), cmp_day);
}

static enum floe_err add_day(struct floe_pg *p, int64_t day, bool indexed, struct floe_errbuf *eb)
{
	if (find_day(p, day))
		return FLOE_OK;
	if (!floe_grow(&p->budget, (void **)&p->days, &p->daycap, p->ndays + 1, sizeof(*p->days), 64))
		return floe_errbuf_set(eb, FLOE_LIMIT, "PostgreSQL: too many day partitions (%zu)",
		                       p->ndays);
	p->days[p->ndays++] = (struct day){day, indexed};
	qsort(p->days, p->ndays, sizeof(*p->days), cmp_day);
	return FLOE_OK;
}

/* The day partitions of the table and whether each has its indexes. */
static enum floe_err load_days(struct floe_pg *p, struct floe_errbuf *eb)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "SELECT c.relname, EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid) "
	         "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
	         "WHERE i.inhparent = '%s'::regclass", p->table);
	PGresult *r = PQexec(p->conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_fail(p, eb, "cannot list the day partitions");
	}
	p->ndays = 0;
	size_t tl = strlen(p->table);
	enum floe_err e = FLOE_OK;
	for (int i = 0; i < PQntuples(r) && !e; i++) {
		const char *name = PQgetvalue(r, i, 0);
		int64_t day;
		if (strncmp(name, p->table, tl) != 0 || name[tl] != '_' ||
		    !floe_db_day_parse(name + tl + 1, &day))
			continue;  /* a partition of someone else's making */
		e = add_day(p, day, PQgetvalue(r, i, 1)[0] == 't', eb);
	}
	PQclear(r);
	p->days_stale = false;
	p->last_day = INT64_MIN;
	return e;
}

static enum floe_err connect_db(struct floe_pg *p, struct floe_errbuf *eb)
{
	if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
		return FLOE_OK;
	PQfinish(p->conn);
	p->in_tx = p->copying = false;
	p->conn = PQconnectdb(p->dsn);
	if (!p->conn || PQstatus(p->conn) != CONNECTION_OK)
		return pg_fail(p, eb, "cannot connect");
	PQclear(PQexec(p->conn, "SET client_min_messages = warning"));
	size_t need = floe_pg_schema(p->table, NULL, 0);
	char *ddl = malloc(need + 1);
	if (!ddl)
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	floe_pg_schema(p->table, ddl, need + 1);
	char what[160];
	snprintf(what, sizeof(what), "cannot create the tables %s and %s_files", p->table, p->table);
	enum floe_err e = pg_exec_what(p, ddl, what, eb);
	free(ddl);
	return e ? e : load_days(p, eb);
}

struct floe_pg *floe_pg_create(const struct floe_pg_opts *o, struct floe_errbuf *eb)
{
	const char *table = o->table ? o->table : "flows";
	if (!floe_db_table_ok(table)) {
		floe_errbuf_set(eb, FLOE_INVALID, "bad table name '%s' (letters, digits, _)", table);
		return NULL;
	}
	if (strlen(o->dsn) >= sizeof(((struct floe_pg *)0)->dsn)) {
		floe_errbuf_set(eb, FLOE_INVALID, "connection string too long");
		return NULL;
	}
	struct floe_pg *p = calloc(1, sizeof(*p));
	if (p)
		p->buf = malloc(COPY_BUF);
	if (!p || !p->buf) {
		if (p)
			free(p);
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	snprintf(p->dsn, sizeof(p->dsn), "%s", o->dsn);
	snprintf(p->table, sizeof(p->table), "%s", table);
	p->log = o->log;
	p->grace = o->index_grace > 0 ? o->index_grace : 3600LL * 1000000000LL;
	p->ncols = floe_dbcols(p->cols, false);
	p->hw = p->file_max = INT64_MIN;
	floe_budget_init(&p->budget, DAYS_BUDGET);
	p->opts = *o;
	p->opts.dsn = p->dsn;
	p->opts.table = p->table;
	p->jobs[0] = p;
	p->njobs = 1;
	if (!o->lazy && connect_db(p, eb) != FLOE_OK) {
		floe_pg_destroy(p);
		return NULL;
	}
	return p;
}

void floe_pg_destroy(struct floe_pg *p)
{
	if (!p)
		return;
	for (size_t i = 1; i < p->njobs; i++)
		floe_pg_destroy(p->jobs[i]);
	if (p->shared && p->jobs[0] == p) {
		pthread_mutex_destroy(&p->shared->ddl);
		free(p->shared);
	}
	PQfinish(p->conn);
	floe_free(&p->budget, p->days, p->daycap * sizeof(*p->days));
	free(p->buf);
	free(p);
}

/* ---- loading ---- */

static enum floe_err copy_flush(struct floe_pg *p, struct floe_errbuf *eb)
{
	if (p->used && PQputCopyData(p->conn, (const char *)p->buf, (int)p->used) != 1)
		return pg_fail(p, eb, "COPY failed");
	p->used = 0;
	return FLOE_OK;
}

/* A COPY into the partition of day, or into the table (INT64_MIN). */
static enum floe_err copy_start(struct floe_pg *p, int64_t day, struct floe_errbuf *eb)
{
	char sql[128], ds[11] = "";
	if (day != INT64_MIN)
		floe_db_day_str(day, 0, ds);
	snprintf(sql, sizeof(sql), "COPY %s%s%s FROM STDIN WITH (FORMAT binary)", p->table,
	         ds[0] ? "_" : "", ds);
	PGresult *r = PQexec(p->conn, sql);
	ExecStatusType s = PQresultStatus(r);
	PQclear(r);
	if (s != PGRES_COPY_IN)
		return pg_fail(p, eb, "cannot start COPY");
	p->copying = true;
	p->copy_day = day;
	floe_pgcopy_header(p->buf);
	p->used = FLOE_PGCOPY_HEADER_LEN;
	return FLOE_OK;
}

static enum floe_err copy_end(struct floe_pg *p, struct floe_errbuf *eb)
{
	if (!p->copying)
		return FLOE_OK;
	p->copying = false;
	floe_pgcopy_trailer(p->buf + p->used);
	p->used += FLOE_PGCOPY_TRAILER_LEN;
	enum floe_err e = copy_flush(p, eb);
	if (e)
		return e;
	if (PQputCopyEnd(p->conn, NULL) != 1)
		return pg_fail(p, eb, "COPY failed");
	e = FLOE_OK;
	PGresult *r;
	while ((r = PQgetResult(p->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && !e)
			e = pg_fail(p, eb, "COPY failed");
		PQclear(r);
	}
	return e;
}

static enum floe_err make_partition(struct floe_pg *p, int64_t day, struct floe_errbuf *eb)
{
	char d[11], from[11], to[11], sql[320];
	floe_db_day_str(day, 0, d);
	floe_db_day_str(day, '-', from);
	floe_db_day_str(day + 1, '-', to);
	snprintf(sql, sizeof(sql),
	         "CREATE TABLE IF NOT EXISTS %s_%s PARTITION OF %s "
	         "FOR VALUES FROM ('%s 00:00:00+00') TO ('%s 00:00:00+00')",
	         p->table, d, p->table, from, to);
	enum floe_err e = pg_exec(p, sql, eb);
	return e ? e : add_day(p, day, false, eb);
}

static enum floe_err op_loaded(void *t, const struct floe_dbfile *f, bool *done,
                               struct floe_errbuf *eb)
{
	struct floe_pg *p = t;
	enum floe_err e = connect_db(p, eb);
	if (!e && p->days_stale)
		e = load_days(p, eb);
	if (e)
		return e;
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s_files WHERE file_key = $1", p->table);
	const char *params[1] = {f->key};
	PGresult *r = PQexecParams(p->conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_fail(p, eb, "cannot read the ledger");
	}
	*done = PQntuples(r) > 0;
	PQclear(r);
	return FLOE_OK;
}

static enum floe_err op_begin(void *t, const struct floe_dbfile *f, struct floe_errbuf *eb)
{
	(void)f;
	struct floe_pg *p = t;
	enum floe_err e = pg_exec(p, "BEGIN", eb);
	if (e)
		return e;
	p->in_tx = true;
	return FLOE_OK;
}

static enum floe_err op_add(void *t, const struct floe_flow *recs, size_t n, struct floe_errbuf *eb)
{
	struct floe_pg *p = t;
	enum floe_err e;
	/* Partitions first: they cannot be made while a COPY runs. */
	int64_t one = floe_db_day(recs[0].stime);
	for (size_t i = 0; i < n; i++) {
		int64_t day = floe_db_day(recs[i].stime);
		if (day != one)
			one = INT64_MIN;
		if (day == p->last_day)
			continue;
		if (!find_day(p, day)) {
			if ((e = copy_end(p, eb)) || (e = make_partition(p, day, eb)))
				return e;
		}
		p->last_day = day;
	}
	/* Rows of one day straight into its partition: the server routes none
	 * (ExecFindPartition per row); a block across midnight through the
	 * table. */
	if (p->copying && p->copy_day != one && (e = copy_end(p, eb)))
		return e;
	if (!p->copying && (e = copy_start(p, one, eb)))
		return e;
	for (size_t i = 0; i < n; i++) {
		if (p->used > COPY_BUF - FLOE_PGCOPY_ROW_MAX - FLOE_PGCOPY_TRAILER_LEN &&
		    (e = copy_flush(p, eb)))
			return e;
		p->used += floe_pgcopy_row(p->cols, p->ncols, &recs[i], p->buf + p->used);
		if (recs[i].stime > p->file_max)
			p->file_max = recs[i].stime;
	}
	return FLOE_OK;
}

/* Jobs: the days of f (from its footer) are made before its transaction,
 * by one connection at a time, so concurrent COPYs never race to make one.
 * A file without a footer makes its days in its transaction, as one job. */
static enum floe_err op_prepare(void *t, const struct floe_dbfile *f, struct floe_errbuf *eb)
{
	struct floe_pg *p = t;
	if (!f->ranged)
		return FLOE_OK;
	int64_t d0 = floe_db_day(f->tmin), d1 = floe_db_day(f->tmax);
	if (d1 - d0 > 62)
		return FLOE_OK;   /* a stray time: made as rows come */
	bool missing = false;
	for (int64_t d = d0; d <= d1 && !missing; d++)
		missing = !find_day(p, d);
	if (!missing)
		return FLOE_OK;
	if (p->shared)
		pthread_mutex_lock(&p->shared->ddl);
	enum floe_err e = load_days(p, eb);   /* another job may have made them */
	for (int64_t d = d0; d <= d1 && !e; d++)
		if (!find_day(p, d))
			e = make_partition(p, d, eb);
	if (p->shared)
		pthread_mutex_unlock(&p->shared->ddl);
	return e;
}

static enum floe_err op_expire(void *t, int64_t keep, int64_t now, uint64_t *dropped,
                               struct floe_errbuf *eb)
{
	return floe_pg_expire(t, keep, now, dropped, eb);
}

static enum floe_err op_commit(void *t, const struct floe_dbfile *f, uint64_t rows,
                               struct floe_errbuf *eb)
{
	struct floe_pg *p = t;
	enum floe_err e = copy_end(p, eb);
	if (e)
		return e;
	char sql[160], bytes[24], nrows[24];
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s_files (file_key, path, bytes, rows) VALUES ($1, $2, $3, $4)",
	         p->table);
	snprintf(bytes, sizeof(bytes), "%" PRIu64, f->size);
	snprintf(nrows, sizeof(nrows), "%" PRIu64, rows);
	const char *params[4] = {f->key, f->path, bytes, nrows};
	PGresult *r = PQexecParams(p->conn, sql, 4, NULL, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);
	PQclear(r);
	if (s != PGRES_COMMAND_OK)
		return pg_fail(p, eb, "cannot add to the ledger");
	if ((e = pg_exec(p, "COMMIT", eb)))
		return e;
	p->in_tx = false;
	if (p->file_max > p->hw)
		p->hw = p->file_max;
	p->file_max = INT64_MIN;
	return FLOE_OK;
}

static void op_abort(void *t)
{
	struct floe_pg *p = t;
	p->file_max = INT64_MIN;
	p->used = 0;
	if (p->conn && PQstatus(p->conn) == CONNECTION_OK) {
		if (p->copying) {
			PQputCopyEnd(p->conn, "aborted");
			PGresult *r;
			while ((r = PQgetResult(p->conn)) != NULL)
				PQclear(r);
		}
		if (p->in_tx)
			PQclear(PQexec(p->conn, "ROLLBACK"));
	}
	p->copying = p->in_tx = false;
	/* Partitions made in the transaction are gone with it. */
	p->days_stale = true;
}

/* Indexes the day partitions that are complete: rows more than the grace
 * past their end are committed. */
static enum floe_err op_idle(void *t, struct floe_errbuf *eb)
{
	static const char *const icols[] = {"saddr", "daddr", "dport"};
	struct floe_pg *p = t;
	for (size_t i = 0; i < p->ndays; i++) {
		struct day *d = &p->days[i];
		if (d->indexed || p->hw == INT64_MIN ||
		    (d->day + 1) * FLOE_DB_NS_PER_DAY > p->hw - p->grace)
			continue;
		char ds[11], sql[200];
		floe_db_day_str(d->day, 0, ds);
		for (size_t k = 0; k < sizeof(icols) / sizeof(icols[0]); k++) {
			snprintf(sql, sizeof(sql), "CREATE INDEX IF NOT EXISTS %s_%s_%s ON %s_%s (%s)",
			         p->table, ds, icols[k], p->table, ds, icols[k]);
			enum floe_err e = pg_exec(p, sql, eb);
			if (e)
				return e;
		}
		d->indexed = true;
		floe_logf(p->log, FLOE_LOG_INFO, "indexed %s_%s", p->table, ds);
	}
	return FLOE_OK;
}

static const struct floe_dbload_ops pg_ops = {
	op_loaded, op_begin, op_add, op_commit, op_abort, op_idle, op_prepare, op_expire,
};

/* The connections of n jobs: p and n - 1 more (connected at their first
 * file), sharing the lock on making partitions. */
static enum floe_err pg_jobs(struct floe_pg *p, unsigned n, struct floe_errbuf *eb)
{
	if (n > FLOE_DBLOAD_MAX_JOBS)
		return floe_errbuf_set(eb, FLOE_INVALID, "at most %d jobs", FLOE_DBLOAD_MAX_JOBS);
	if (n > 1 && !p->shared) {
		p->shared = calloc(1, sizeof(*p->shared));
		if (!p->shared)
			return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		pthread_mutex_init(&p->shared->ddl, NULL);
	}
	struct floe_pg_opts o = p->opts;
	o.lazy = true;
	while (p->njobs < n) {
		struct floe_pg *q = floe_pg_create(&o, eb);
		if (!q)
			return eb->code;
		q->shared = p->shared;
		q->jobs[0] = p;
		p->jobs[p->njobs++] = q;
	}
	return FLOE_OK;
}

enum floe_err floe_pg_load(struct floe_pg *p, const struct floe_dbload_opts *lo,
                           struct floe_dbload_stats *st, struct floe_errbuf *eb)
{
	unsigned n = lo->jobs ? lo->jobs : 1;
	enum floe_err e = pg_jobs(p, n, eb);
	if (e)
		return e;
	return floe_dbload_run(lo, &pg_ops, (void *const *)p->jobs, n, st, eb);
}

struct floe_dbfollow *floe_pg_follow(struct floe_pg *p, const struct floe_dbload_opts *lo,
                                     struct floe_errbuf *eb)
{
	unsigned n = lo->jobs ? lo->jobs : 1;
	if (pg_jobs(p, n, eb) != FLOE_OK)
		return NULL;
	return floe_dbfollow_start(lo, &pg_ops, (void *const *)p->jobs, n, eb);
}

enum floe_err floe_pg_expire(struct floe_pg *p, int64_t keep, int64_t now, uint64_t *dropped,
                             struct floe_errbuf *eb)
{
	*dropped = 0;
	enum floe_err e = connect_db(p, eb);
	if (!e)
		e = load_days(p, eb);
	if (e)
		return e;
	int64_t limit = now - keep;
	size_t k = 0;
	for (size_t i = 0; i < p->ndays; i++) {
		if ((p->days[i].day + 1) * FLOE_DB_NS_PER_DAY > limit) {
			p->days[k++] = p->days[i];
			continue;
		}
		char ds[11], sql[128];
		floe_db_day_str(p->days[i].day, 0, ds);
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s_%s", p->table, ds);
		if ((e = pg_exec(p, sql, eb))) {
			p->days_stale = true;
			return e;
		}
		floe_logf(p->log, FLOE_LOG_INFO, "dropped %s_%s", p->table, ds);
		(*dropped)++;
	}
	p->ndays = k;
	return FLOE_OK;
}
