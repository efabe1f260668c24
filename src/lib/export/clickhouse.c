/*
 * clickhouse.c - floe files -> ClickHouse with Native or RowBinary over HTTP
 * (clickhouse.h).
 */
#include "export/clickhouse.h"

#include <curl/curl.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rows per INSERT: about this many bytes (fewer than the server's
 * max_insert_block_size rows); it holds at least one Native block of
 * FLOE_BLOCK_ROWS rows. */
#define INSERT_BUF (40u << 20)
#define FLOE_BLOCK_ROWS 65536u
/* The buffer holds a RowBinary INSERT or the Native block of
 * FLOE_CH_INSERT_ROWS rows (its bound; some 45 MiB are used), which is
 * filled NATIVE_TILE sorted rows at a time. */
#define NATIVE_TILE 4096u
#define NATIVE_BOUND FLOE_CHNATIVE_MAX(FLOE_CH_INSERT_ROWS)
#define INSERT_BUF_SIZE (NATIVE_BOUND > INSERT_BUF ? NATIVE_BOUND : INSERT_BUF)
/* The column names of an INSERT, comma-separated (names under 32 bytes). */
#define FLOE_CH_NAMES_MAX ((FLOE_DBCOL_MAX + 1) * 33)
/* Answers floe reads are a number or a list of days. */
#define RESP_MAX (1u << 20)

struct resp {
	char *p;
	size_t len, cap;
	bool over;
};

struct floe_ch {
	CURL *curl;
	struct floe_ch_opts opts;   /* for the connections of the jobs */
	struct floe_ch *jobs[FLOE_DBLOAD_MAX_JOBS];  /* jobs[0] == this */
	size_t njobs;
	bool made;                  /* the tables exist */
	/* Native: the rows of the next INSERT, sorted before it */
	struct floe_flow *rows;
	size_t nrows;
	struct sortkey *keys;
	struct floe_flow *tile;     /* NATIVE_TILE rows in key order */
	char names[FLOE_CH_NAMES_MAX];  /* the columns of the Native INSERT ("" for all) */
	char url[512];
	char user[128], password[128];
	bool auth;
	char table[48];
	char cluster[64];
	char shards[FLOE_CH_MAX_SHARDS][512];
	size_t nshards;
	const struct floe_log *log;
	long timeout;
	bool rowbinary;
	struct floe_dbcol cols[FLOE_DBCOL_MAX];
	size_t ncols;
	uint8_t *buf;
	size_t used;
	uint64_t file_id;
	struct resp resp;
};

/* The table's ORDER BY (toStartOfHour(stime), saddr, daddr) of a row, in
 * UTC hours, as five big-endian words compared in turn (a comparison of
 * integers, not of bytes: IPv4 addresses share their first 12), the last
 * ending with the row's place, which keeps equal keys in order. */
struct sortkey {
	uint64_t w[5];
};

/* ---- RowBinary ---- */

static uint8_t *le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + n;
}

static uint8_t *str(uint8_t *p, const char *s, size_t n)
{
	*p++ = (uint8_t)n;  /* LEB128 length; floe's strings are under 128 bytes */
	memcpy(p, s, n);
	return p + n;
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

/* Nanoseconds within the second of a time in ns (UInt32 *_ns columns). */
static inline uint32_t ch_subns(int64_t ns)
{
	int64_t r = ns % 1000000000;
	return (uint32_t)(r < 0 ? r + 1000000000 : r);
}

/* DateTime: seconds in a UInt32, so 1970 to 2106. */
static inline uint32_t ch_datetime(int64_t ns)
{
	int64_t sec = ns / 1000000000 - (ns % 1000000000 < 0);
	return sec < 0 ? 0 : sec > UINT32_MAX ? UINT32_MAX : (uint32_t)sec;
}

/* The *_v4 column: an IPv4 address as a number, 0 for IPv6. */
static inline uint32_t ch_v4(const uint8_t *a)
{
	return floe_addr_is_v4(a) ? (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 |
	                            (uint32_t)a[14] << 8 | a[15] : 0;
}

/* A String column's text (state, flags, TCP flags) into t[64], without
 * the padding of floe's columns; returns its length. */
static size_t ch_text(const struct floe_field *fd, const struct floe_flow *f, char *t)
{
	static const struct floe_fmtopts fmt = {0};
	size_t n = floe_field_format(fd, f, &fmt, t, 64);
	while (n && t[n - 1] == ' ')
		n--;
	return n;
}

/* One value of column c of f, as RowBinary and Native both encode it. */
static uint8_t *put_value(const struct floe_dbcol *c, const struct floe_flow *f, uint8_t *p)
{
	const struct floe_field *fd = c->fd;
	switch (c->kind) {
	case FLOE_DBCOL_SYNACK: return le(p, (uint64_t)f->synack, 8);
	case FLOE_DBCOL_ACKDAT: return le(p, (uint64_t)f->ackdat, 8);
	case FLOE_DBCOL_SUBNS: return le(p, ch_subns((int64_t)load_u(fd, f)), 4);
	case FLOE_DBCOL_V4: return le(p, ch_v4((const uint8_t *)f + fd->off), 4);
	case FLOE_DBCOL_FIELD: break;
	}
	const uint8_t *raw = (const uint8_t *)f + fd->off;
	switch (fd->type) {
	case FLOE_FT_TIME:
		return le(p, ch_datetime((int64_t)load_u(fd, f)), 4);
	case FLOE_FT_ADDR:
		memcpy(p, raw, 16);
		return p + 16;
	case FLOE_FT_MAC:
		memcpy(p, raw, 6);
		return p + 6;
	case FLOE_FT_STATE:
	case FLOE_FT_FLAGS:
	case FLOE_FT_TCPFLAGS:
	case FLOE_FT_DIR: {
		char t[64];
		return str(p, t, ch_text(fd, f, t));
	}
	default:  /* PORT, PROTO, UINT, HEX: UInt of the member's width */
		return le(p, load_u(fd, f), fd->size);
	}
}

size_t floe_chrow(const struct floe_dbcol *cols, size_t ncols, const struct floe_flow *f,
                  uint64_t file_id, uint8_t *out)
{
	uint8_t *p = out;
	for (size_t i = 0; i < ncols; i++)
		p = put_value(&cols[i], f, p);
	return (size_t)(le(p, file_id, 8) - out);
}

/* The ClickHouse type of column c, and in *max (unless NULL) the most
 * bytes one of its values takes in RowBinary and Native. */
static const char *ch_type(const struct floe_dbcol *c, size_t *max);

/* The member at byte offset off of record k, of 2, 4 or 8 bytes. */
static inline uint64_t load16(const struct floe_flow *recs, size_t k, size_t off)
{
	uint16_t v;
	memcpy(&v, (const uint8_t *)&recs[k] + off, 2);
	return v;
}

static inline uint64_t load32(const struct floe_flow *recs, size_t k, size_t off)
{
	uint32_t v;
	memcpy(&v, (const uint8_t *)&recs[k] + off, 4);
	return v;
}

static inline uint64_t load64(const struct floe_flow *recs, size_t k, size_t off)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)&recs[k] + off, 8);
	return v;
}

/* The n values of column c, one after another (Native's layout).  The
 * kind and type are looked at once per column, not once per value, and a
 * text value is formatted again only when the member changes from the
 * row before (flags and states repeat from row to row). */
static uint8_t *put_column(const struct floe_dbcol *c, const struct floe_flow *recs, size_t n,
                           uint8_t *p)
{
	const struct floe_field *fd = c->fd;
	const size_t off = fd ? fd->off : 0;
	switch (c->kind) {
	case FLOE_DBCOL_SYNACK:
		for (size_t k = 0; k < n; k++)
			p = le(p, (uint64_t)recs[k].synack, 8);
		return p;
	case FLOE_DBCOL_ACKDAT:
		for (size_t k = 0; k < n; k++)
			p = le(p, (uint64_t)recs[k].ackdat, 8);
		return p;
	case FLOE_DBCOL_SUBNS:
		for (size_t k = 0; k < n; k++)
			p = le(p, ch_subns((int64_t)load64(recs, k, off)), 4);
		return p;
	case FLOE_DBCOL_V4:
		for (size_t k = 0; k < n; k++)
			p = le(p, ch_v4((const uint8_t *)&recs[k] + off), 4);
		return p;
	case FLOE_DBCOL_FIELD:
		break;
	}
	switch (fd->type) {
	case FLOE_FT_TIME:
		for (size_t k = 0; k < n; k++)
			p = le(p, ch_datetime((int64_t)load64(recs, k, off)), 4);
		return p;
	case FLOE_FT_ADDR:
		for (size_t k = 0; k < n; k++, p += 16)
			memcpy(p, (const uint8_t *)&recs[k] + off, 16);
		return p;
	case FLOE_FT_MAC:
		for (size_t k = 0; k < n; k++, p += 6)
			memcpy(p, (const uint8_t *)&recs[k] + off, 6);
		return p;
	case FLOE_FT_STATE:
	case FLOE_FT_FLAGS:
	case FLOE_FT_TCPFLAGS:
	case FLOE_FT_DIR: {
		char t[64];
		size_t tn = 0;
		uint64_t last = 0;
		for (size_t k = 0; k < n; k++) {
			uint64_t v = load_u(fd, &recs[k]);
			if (k == 0 || v != last) {
				tn = ch_text(fd, &recs[k], t);
				last = v;
			}
			p = str(p, t, tn);
		}
		return p;
	}
	default:  /* PORT, PROTO, UINT, HEX: UInt of the member's width */
		switch (fd->size) {
		case 1:
			for (size_t k = 0; k < n; k++)
				*p++ = ((const uint8_t *)&recs[k])[off];
			return p;
		case 2:
			for (size_t k = 0; k < n; k++)
				p = le(p, load16(recs, k, off), 2);
			return p;
		case 4:
			for (size_t k = 0; k < n; k++)
				p = le(p, load32(recs, k, off), 4);
			return p;
		default:
			for (size_t k = 0; k < n; k++)
				p = le(p, load64(recs, k, off), 8);
			return p;
		}
	}
}

static size_t col_max(const struct floe_dbcol *c)
{
	size_t m;
	ch_type(c, &m);
	return m;
}

size_t floe_chnative_rowmax(const struct floe_dbcol *cols, size_t ncols)
{
	size_t m = 8;  /* file_id */
	for (size_t i = 0; i < ncols; i++)
		m += col_max(&cols[i]);
	return m;
}

/* One Native block of n rows is built in out in three steps: each column
 * gets a region of n times its widest value, after room for the names and
 * types (NATIVE_NAMES); the rows are appended to the regions a batch at a
 * time; then the names, types and values are moved down into one block.
 * Only the String columns leave slack, so the move is short. */
#define NATIVE_NAMES FLOE_CHNATIVE_MAX(0)

struct native {
	uint8_t *start[FLOE_DBCOL_MAX + 1];  /* each column's region; [ncols] is file_id */
	uint8_t *end[FLOE_DBCOL_MAX + 1];
};

static void native_begin(struct native *nb, const struct floe_dbcol *cols, size_t ncols,
                         size_t n, uint8_t *out)
{
	uint8_t *p = out + NATIVE_NAMES;
	for (size_t i = 0; i <= ncols; i++) {
		nb->start[i] = nb->end[i] = p;
		p += n * (i < ncols ? col_max(&cols[i]) : 8);
	}
}

static void native_rows(struct native *nb, const struct floe_dbcol *cols, size_t ncols,
                        const struct floe_flow *recs, size_t k, uint64_t file_id)
{
	for (size_t i = 0; i < ncols; i++)
		nb->end[i] = put_column(&cols[i], recs, k, nb->end[i]);
	uint8_t *p = nb->end[ncols];
	for (size_t j = 0; j < k; j++)
		p = le(p, file_id, 8);
	nb->end[ncols] = p;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* With names (a buffer of FLOE_CH_NAMES_MAX bytes), the columns whose
 * values are all zero bytes, which is the type's default (0, '', 16 zero
 * bytes), are left out of the block and the names of those kept are
 * listed there, comma-separated, for the INSERT: the server fills the
 * others with their defaults, and nothing is sent or parsed for them. */
static size_t native_end(struct native *nb, const struct floe_dbcol *cols, size_t ncols,
                         size_t n, uint8_t *out, char *names)
{
	bool keep[FLOE_DBCOL_MAX + 1];
	size_t nkeep = 0, nl = 0;
	for (size_t i = 0; i <= ncols; i++) {
		keep[i] = !names || i == ncols ||
		          !all_zero(nb->start[i], (size_t)(nb->end[i] - nb->start[i]));
		nkeep += keep[i];
	}
	uint8_t *p = out;
	*p++ = (uint8_t)nkeep;  /* LEB128, under 128 */
	for (size_t v = n; ; v >>= 7) {
		*p++ = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
		if (!(v >> 7))
			break;
	}
	for (size_t i = 0; i <= ncols; i++) {
		if (!keep[i])
			continue;
		const char *name = i < ncols ? cols[i].name : "file_id";
		const char *type = i < ncols ? ch_type(&cols[i], NULL) : "UInt64";
		if (names) {
			size_t k = strlen(name);
			if (nl)
				names[nl++] = ',';
			memcpy(names + nl, name, k);
			nl += k;
		}
		/* p stays below start[i]: the names take less than
		 * NATIVE_NAMES and no column more than its region */
		p = str(p, name, strlen(name));
		p = str(p, type, strlen(type));
		size_t len = (size_t)(nb->end[i] - nb->start[i]);
		memmove(p, nb->start[i], len);
		p += len;
	}
	if (names)
		names[nl] = '\0';
	return (size_t)(p - out);
}

size_t floe_chnative(const struct floe_dbcol *cols, size_t ncols, const struct floe_flow *recs,
                     size_t n, uint64_t file_id, uint8_t *out)
{
	struct native nb;
	native_begin(&nb, cols, ncols, n, out);
	native_rows(&nb, cols, ncols, recs, n, file_id);
	return native_end(&nb, cols, ncols, n, out, NULL);
}

static const char *ch_type(const struct floe_dbcol *c, size_t *max)
{
	size_t unused;
	size_t *m = max ? max : &unused;
	switch (c->kind) {
	case FLOE_DBCOL_SUBNS:
	case FLOE_DBCOL_V4: *m = 4; return "UInt32";
	case FLOE_DBCOL_SYNACK:
	case FLOE_DBCOL_ACKDAT: *m = 8; return "Int64";
	case FLOE_DBCOL_FIELD: break;
	}
	switch (c->fd->type) {
	case FLOE_FT_TIME: *m = 4; return "DateTime";
	case FLOE_FT_ADDR: *m = 16; return "FixedString(16)";
	case FLOE_FT_MAC: *m = 6; return "FixedString(6)";
	case FLOE_FT_STATE:
	case FLOE_FT_FLAGS:
	case FLOE_FT_TCPFLAGS:
	case FLOE_FT_DIR: *m = 64; return "String";  /* length byte, at most 63 characters */
	default:
		*m = c->fd->size;
		return c->fd->size == 1 ? "UInt8" : c->fd->size == 2 ? "UInt16"
		     : c->fd->size == 4 ? "UInt32" : "UInt64";
	}
}

/* ---- the server's answers ---- */

enum floe_err floe_ch_parse_count(const uint8_t *p, size_t len, uint64_t *v)
{
	if (len && p[len - 1] == '\n')
		len--;
	if (len == 0 || len > 20)
		return FLOE_MALFORMED;
	uint64_t x = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return FLOE_MALFORMED;
		unsigned d = (unsigned)(p[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return FLOE_MALFORMED;
		x = x * 10 + d;
	}
	*v = x;
	return FLOE_OK;
}

size_t floe_ch_error_line(const uint8_t *p, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < outlen; i++) {
		if (p[i] == '\n' || p[i] == '\r')
			break;
		out[n++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	}
	/* ", e.what() = DB::Exception" repeats the class: not worth a line. */
	static const char tail[] = ", e.what() = DB::Exception";
	size_t tl = sizeof(tail) - 1;
	if (n >= tl && memcmp(out + n - tl, tail, tl) == 0)
		n -= tl;
	out[n] = '\0';
	return n;
}

bool floe_ch_parse_day(const uint8_t *p, size_t len, int64_t *day)
{
	if (len != 10 || p[4] != '-' || p[7] != '-')
		return false;
	char s[9] = {(char)p[0], (char)p[1], (char)p[2], (char)p[3], (char)p[5], (char)p[6],
	             (char)p[8], (char)p[9], 0};
	return floe_db_day_parse(s, day);
}

/* ---- schema ---- */

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

/* The CREATE TABLE of the MergeTree holding the rows. */
static void ddl_rows(struct sbuf *b, const char *name)
{
	struct floe_dbcol cols[FLOE_DBCOL_MAX];
	size_t n = floe_dbcols(cols, true);
	sb_printf(b, "CREATE TABLE IF NOT EXISTS %s (\n", name);
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "\t%s %s,\n", cols[i].name, ch_type(&cols[i], NULL));
	sb_printf(b, "\tfile_id UInt64\n) ENGINE = MergeTree PARTITION BY toDate(stime)\n"
	             "ORDER BY (toStartOfHour(stime), saddr, daddr)");
}

static void ddl_dist(struct sbuf *b, const char *table, const char *cluster)
{
	sb_printf(b, "CREATE TABLE IF NOT EXISTS %s AS %s_local\n"
	             "ENGINE = Distributed(%s, currentDatabase(), %s_local, cityHash64(saddr))",
	          table, table, cluster, table);
}

static void ddl_ledger(struct sbuf *b, const char *table)
{
	sb_printf(b, "CREATE TABLE IF NOT EXISTS %s_files (\n"
	             "\tfile_key String,\n\tfile_id UInt64,\n\tpath String,\n\trows UInt64,\n"
	             "\tdone UInt8,\n\tloaded DateTime DEFAULT now()\n"
	             ") ENGINE = MergeTree ORDER BY file_key",
	          table);
}

size_t floe_ch_schema(const char *table, const char *cluster, char *buf, size_t len)
{
	if (!table)
		table = "flows";
	struct sbuf b = {buf, len, 0};
	if (len)
		buf[0] = '\0';
	sb_printf(&b, "-- floe flows; times: DateTime + <name>_ns (nanoseconds in the second);\n"
	              "-- addresses: FixedString(16) (IPv4 v4-mapped) + <name>_v4 (UInt32, 0 if IPv6)\n");
	if (cluster) {
		char local[64];
		snprintf(local, sizeof(local), "%s_local", table);
		sb_printf(&b, "-- on every shard:\n");
		ddl_rows(&b, local);
		sb_printf(&b, ";\n-- on the server floe inserts through:\n");
		ddl_dist(&b, table, cluster);
	} else {
		ddl_rows(&b, table);
	}
	sb_printf(&b, ";\n-- files loaded (a file's row is added after all its rows):\n");
	ddl_ledger(&b, table);
	sb_printf(&b, ";\n");
	return b.need;
}

/* ---- HTTP ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;
	if (r->len + n + 1 > RESP_MAX) {
		r->over = true;
		return n;  /* keep what fits for the message; the rest is dropped */
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		char *p = realloc(r->p, cap);
		if (!p) {
			r->over = true;
			return n;
		}
		r->p = p;
		r->cap = cap;
	}
	memcpy(r->p + r->len, data, n);
	r->len += n;
	r->p[r->len] = '\0';
	return n;
}

/*
 * POSTs body to base with "?query=<query>&<params>" (query NULL: the body
 * is the query).  The answer lands in c->resp.  IO unless HTTP 200, with
 * curl's or the server's message.
 */
static enum floe_err ch_post(struct floe_ch *c, const char *base, const char *query,
                             const char *params, const void *body, size_t len,
                             struct floe_errbuf *eb)
{
	char *q = query ? curl_easy_escape(c->curl, query, 0) : NULL;
	size_t ulen = strlen(base) + (q ? strlen(q) : 0) + (params ? strlen(params) : 0) + 16;
	char *url = malloc(ulen);
	if (!url || (query && !q)) {
		free(url);
		curl_free(q);
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	}
	snprintf(url, ulen, "%s%s%s%s%s%s", base, strchr(base, '?') ? "&" : "?",
	         q ? "query=" : "", q ? q : "", q && params ? "&" : "", params ? params : "");
	curl_free(q);
	c->resp.len = 0;
	c->resp.over = false;
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->resp);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->timeout);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	if (c->auth) {
		curl_easy_setopt(c->curl, CURLOPT_USERNAME, c->user);
		curl_easy_setopt(c->curl, CURLOPT_PASSWORD, c->password);
	}
	CURLcode cc = curl_easy_perform(c->curl);
	free(url);
	/* The URL may hold a password: messages name host and port only. */
	char *host = NULL;
	long port = 0;
	CURLU *u = curl_url();
	if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_HOST, &host, 0);
		char *ps = NULL;
		if (curl_url_get(u, CURLUPART_PORT, &ps, CURLU_DEFAULT_PORT) == CURLUE_OK && ps)
			port = strtol(ps, NULL, 10);
		curl_free(ps);
	}
	char where[300];
	snprintf(where, sizeof(where), "%s:%ld", host ? host : "?", port);
	curl_free(host);
	curl_url_cleanup(u);
	if (cc != CURLE_OK)
		return floe_errbuf_set(eb, FLOE_IO, "ClickHouse at %s: %s", where,
		                       curl_easy_strerror(cc));
	long status = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		char m[200];
		floe_ch_error_line((const uint8_t *)c->resp.p, c->resp.len, m, sizeof(m));
		return floe_errbuf_set(eb, FLOE_IO, "ClickHouse at %s: HTTP %ld: %s", where, status,
		                       m);
	}
	if (c->resp.over)
		return floe_errbuf_set(eb, FLOE_LIMIT, "ClickHouse at %s: answer over %u bytes", where,
		                       RESP_MAX);
	return FLOE_OK;
}

static enum floe_err ch_exec(struct floe_ch *c, const char *base, const char *sql,
                             struct floe_errbuf *eb)
{
	return ch_post(c, base, NULL, NULL, sql, strlen(sql), eb);
}

static enum floe_err ch_count(struct floe_ch *c, const char *base, const char *sql, uint64_t *v,
                              struct floe_errbuf *eb)
{
	enum floe_err e = ch_exec(c, base, sql, eb);
	if (e)
		return e;
	if (floe_ch_parse_count((const uint8_t *)c->resp.p, c->resp.len, v) != FLOE_OK)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "ClickHouse: unexpected answer to '%s'",
		                       sql);
	return FLOE_OK;
}

/* The tables the rows are stored in: (url, name) pairs. */
static size_t row_tables(const struct floe_ch *c, const char **urls, char names[][64])
{
	if (!c->cluster[0]) {
		urls[0] = c->url;
		snprintf(names[0], 64, "%s", c->table);
		return 1;
	}
	for (size_t i = 0; i < c->nshards; i++) {
		urls[i] = c->shards[i];
		snprintf(names[i], 64, "%s_local", c->table);
	}
	return c->nshards;
}

static enum floe_err make_tables(struct floe_ch *c, struct floe_errbuf *eb)
{
	const char *urls[FLOE_CH_MAX_SHARDS];
	char names[FLOE_CH_MAX_SHARDS][64];
	size_t n = row_tables(c, urls, names);
	char sql[8192];
	enum floe_err e = FLOE_OK;
	for (size_t i = 0; i < n && !e; i++) {
		struct sbuf b = {sql, sizeof(sql), 0};
		ddl_rows(&b, names[i]);
		e = ch_exec(c, urls[i], sql, eb);
	}
	if (!e && c->cluster[0]) {
		struct sbuf b = {sql, sizeof(sql), 0};
		ddl_dist(&b, c->table, c->cluster);
		e = ch_exec(c, c->url, sql, eb);
	}
	if (!e) {
		struct sbuf b = {sql, sizeof(sql), 0};
		ddl_ledger(&b, c->table);
		e = ch_exec(c, c->url, sql, eb);
	}
	return e;
}

static bool copy_str(char *dst, size_t len, const char *src)
{
	return (size_t)snprintf(dst, len, "%s", src ? src : "") < len;
}

struct floe_ch *floe_ch_create(const struct floe_ch_opts *o, struct floe_errbuf *eb)
{
	const char *table = o->table ? o->table : "flows";
	if (!floe_db_table_ok(table)) {
		floe_errbuf_set(eb, FLOE_INVALID, "bad table name '%s' (letters, digits, _)", table);
		return NULL;
	}
	if (o->cluster && (!floe_db_table_ok(o->cluster) || o->nshards == 0 ||
	                   o->nshards > FLOE_CH_MAX_SHARDS)) {
		floe_errbuf_set(eb, FLOE_INVALID, "a cluster needs its name and 1 to %d shard URLs",
		                FLOE_CH_MAX_SHARDS);
		return NULL;
	}
	struct floe_ch *c = calloc(1, sizeof(*c));
	if (!c) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	bool ok = copy_str(c->url, sizeof(c->url), o->url) &&
	          copy_str(c->user, sizeof(c->user), o->user ? o->user : "default") &&
	          copy_str(c->password, sizeof(c->password), o->password) &&
	          copy_str(c->cluster, sizeof(c->cluster), o->cluster);
	for (size_t i = 0; ok && o->cluster && i < o->nshards; i++)
		ok = copy_str(c->shards[i], sizeof(c->shards[i]), o->shards[i]);
	if (!ok) {
		free(c);
		floe_errbuf_set(eb, FLOE_INVALID, "URL or name too long");
		return NULL;
	}
	c->nshards = o->cluster ? o->nshards : 0;
	c->auth = o->user || o->password;
	snprintf(c->table, sizeof(c->table), "%s", table);
	c->log = o->log;
	c->timeout = o->timeout > 0 ? o->timeout : 600;
	c->rowbinary = o->rowbinary;
	c->ncols = floe_dbcols(c->cols, true);
	if (floe_chnative_rowmax(c->cols, c->ncols) > FLOE_CHROW_VALUES_MAX) {
		floe_errbuf_set(eb, FLOE_INVALID, "a row of %zu columns exceeds %d bytes", c->ncols,
		                FLOE_CHROW_VALUES_MAX);
		free(c);
		return NULL;
	}
	c->opts = *o;
	c->jobs[0] = c;
	c->njobs = 1;
	c->curl = curl_easy_init();
	c->buf = malloc(INSERT_BUF_SIZE);
	if (!c->rowbinary) {
		/* untouched until rows come */
		c->rows = malloc(FLOE_CH_INSERT_ROWS * sizeof(*c->rows));
		c->keys = malloc(FLOE_CH_INSERT_ROWS * sizeof(*c->keys));
		c->tile = malloc(NATIVE_TILE * sizeof(*c->tile));
	}
	if (!c->curl || !c->buf || (!c->rowbinary && (!c->rows || !c->keys || !c->tile))) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		floe_ch_destroy(c);
		return NULL;
	}
	if (!o->lazy && make_tables(c, eb) != FLOE_OK) {
		floe_ch_destroy(c);
		return NULL;
	}
	c->made = !o->lazy;
	return c;
}

void floe_ch_destroy(struct floe_ch *c)
{
	if (!c)
		return;
	for (size_t i = 1; i < c->njobs; i++)
		floe_ch_destroy(c->jobs[i]);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->resp.p);
	free(c->buf);
	free(c->rows);
	free(c->keys);
	free(c->tile);
	free(c);
}

/* ---- loading ---- */

/* Waits until the mutations of table at url are done (a DELETE). */
static enum floe_err wait_mutations(struct floe_ch *c, const char *url, const char *table,
                                    struct floe_errbuf *eb)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count() FROM system.mutations WHERE "
	                           "database = currentDatabase() AND table = '%s' AND is_done = 0",
	         table);
	for (int i = 0; i < 6000; i++) {
		uint64_t n = 0;
		enum floe_err e = ch_count(c, url, sql, &n, eb);
		if (e || n == 0)
			return e;
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	return floe_errbuf_set(eb, FLOE_IO, "ClickHouse: a DELETE on %s did not finish in 10 min",
	                       table);
}

static enum floe_err op_loaded(void *t, const struct floe_dbfile *f, bool *done,
                               struct floe_errbuf *eb)
{
	struct floe_ch *c = t;
	char sql[512];
	uint64_t n = 0;
	enum floe_err me = c->made ? FLOE_OK : make_tables(c, eb);
	if (me)
		return me;
	c->made = true;
	/* 2: loaded; 1: a load was started (maybe cut short); 0: never seen. */
	snprintf(sql, sizeof(sql), "SELECT if(max(done) = 1, 2, count() > 0) FROM %s_files "
	                           "WHERE file_key = '%s'", c->table, f->key);
	enum floe_err e = ch_count(c, c->url, sql, &n, eb);
	if (e)
		return e;
	*done = n == 2;
	if (n != 1)
		return FLOE_OK;
	/* Rows of this file without its "done" row: a load cut short. */
	const char *urls[FLOE_CH_MAX_SHARDS];
	char names[FLOE_CH_MAX_SHARDS][64];
	size_t nt = row_tables(c, urls, names);
	for (size_t i = 0; i < nt; i++) {
		snprintf(sql, sizeof(sql), "SELECT count() FROM %s WHERE file_id = %" PRIu64, names[i],
		         f->id);
		if ((e = ch_count(c, urls[i], sql, &n, eb)))
			return e;
		if (n == 0)
			continue;
		floe_logf(c->log, FLOE_LOG_WARN, "'%s': removing %" PRIu64 " rows of a load cut short",
		          f->path, n);
		snprintf(sql, sizeof(sql), "ALTER TABLE %s DELETE WHERE file_id = %" PRIu64, names[i],
		         f->id);
		if ((e = ch_exec(c, urls[i], sql, eb)) || (e = wait_mutations(c, urls[i], names[i], eb)))
			return e;
	}
	return FLOE_OK;
}

/* The ledger row of f: "started" (done 0) before its rows, "done" after. */
static enum floe_err ledger_add(struct floe_ch *c, const struct floe_dbfile *f, uint64_t rows,
                                int done, struct floe_errbuf *eb)
{
	/* The path as a quoted string: backslash and quote escaped. */
	char path[1024 * 2 + 1];
	size_t k = 0;
	for (const char *s = f->path; *s && k + 2 < sizeof(path); s++) {
		if (*s == '\\' || *s == '\'')
			path[k++] = '\\';
		path[k++] = *s;
	}
	path[k] = '\0';
	char sql[sizeof(path) + 512];
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s_files (file_key, file_id, path, rows, done) VALUES ('%s', %" PRIu64
	         ", '%s', %" PRIu64 ", %d)", c->table, f->key, f->id, path, rows, done);
	return ch_exec(c, c->url, sql, eb);
}

static enum floe_err op_begin(void *t, const struct floe_dbfile *f, struct floe_errbuf *eb)
{
	struct floe_ch *c = t;
	c->used = 0;
	c->nrows = 0;
	c->file_id = f->id;
	/* Only a file with a "started" row is looked for in the rows after a
	 * failure: a scan of file_id for every new file would read the table. */
	return ledger_add(c, f, 0, 0, eb);
}

static enum floe_err insert_buf(struct floe_ch *c, struct floe_errbuf *eb)
{
	if (c->used == 0)
		return FLOE_OK;
	char q[FLOE_CH_NAMES_MAX + 128];
	snprintf(q, sizeof(q), "INSERT INTO %s%s%s%s FORMAT %s", c->table, c->names[0] ? " (" : "",
	         c->names, c->names[0] ? ")" : "", c->rowbinary ? "RowBinary" : "Native");
	enum floe_err e = ch_post(c, c->url, q, c->cluster[0] ? "insert_distributed_sync=1" : NULL,
	                          c->buf, c->used, eb);
	c->used = 0;
	c->names[0] = '\0';
	return e;
}

static inline bool key_lt(const struct sortkey *x, const struct sortkey *y)
{
	for (int i = 0; i < 5; i++)
		if (x->w[i] != y->w[i])
			return x->w[i] < y->w[i];
	return false;
}

static inline void key_swap(struct sortkey *x, struct sortkey *y)
{
	struct sortkey t = *x;
	*x = *y;
	*y = t;
}

static void key_sift(struct sortkey *a, size_t n, size_t i)
{
	for (;;) {
		size_t m = i, l = 2 * i + 1, r = l + 1;
		if (l < n && key_lt(&a[m], &a[l]))
			m = l;
		if (r < n && key_lt(&a[m], &a[r]))
			m = r;
		if (m == i)
			return;
		key_swap(&a[i], &a[m]);
		i = m;
	}
}

/* Introsort of distinct keys (each ends with its row's place): quicksort
 * on a median of three, heapsort past 2 log n levels, insertion sort of
 * short runs.  The comparisons are inline; qsort's callback was a fifth
 * of the loader's CPU. */
static void key_sort(struct sortkey *a, size_t n, unsigned depth)
{
	while (n > 16) {
		if (depth-- == 0) {
			for (size_t i = n / 2; i-- > 0;)
				key_sift(a, n, i);
			for (size_t e = n - 1; e > 0; e--) {
				key_swap(&a[0], &a[e]);
				key_sift(a, e, 0);
			}
			return;
		}
		struct sortkey *x = &a[0], *y = &a[n / 2], *z = &a[n - 1];
		struct sortkey piv = key_lt(x, y) ? (key_lt(y, z) ? *y : key_lt(x, z) ? *z : *x)
		                                  : (key_lt(x, z) ? *x : key_lt(y, z) ? *z : *y);
		/* Hoare's partition: the median of three is neither the least
		 * nor the greatest key, so both parts are non-empty. */
		size_t i = 0, j = n - 1;
		for (;;) {
			while (key_lt(&a[i], &piv))
				i++;
			while (key_lt(&piv, &a[j]))
				j--;
			if (i >= j)
				break;
			key_swap(&a[i], &a[j]);
			i++;
			j--;
		}
		size_t left = j + 1;
		if (left < n - left) {
			key_sort(a, left, depth);
			a += left;
			n -= left;
		} else {
			key_sort(a + left, n - left, depth);
			n = left;
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct sortkey t = a[i];
		size_t j = i;
		for (; j > 0 && key_lt(&t, &a[j - 1]); j--)
			a[j] = a[j - 1];
		a[j] = t;
	}
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t key_idx(const struct sortkey *k)
{
	return (uint32_t)k->w[4];
}

/* Native: the rows held, sorted by the table's key, as one INSERT of one
 * block. */
static enum floe_err insert_rows(struct floe_ch *c, struct floe_errbuf *eb)
{
	if (c->nrows == 0)
		return FLOE_OK;
	for (size_t i = 0; i < c->nrows; i++) {
		const struct floe_flow *f = &c->rows[i];
		int64_t sec = f->stime / 1000000000 - (f->stime % 1000000000 < 0);
		sec = sec < 0 ? 0 : sec > UINT32_MAX ? UINT32_MAX : sec;
		struct sortkey *k = &c->keys[i];
		k->w[0] = (uint64_t)(sec / 3600) << 32 | be32(f->saddr);
		k->w[1] = be64(f->saddr + 4);
		k->w[2] = (uint64_t)be32(f->saddr + 12) << 32 | be32(f->daddr);
		k->w[3] = be64(f->daddr + 4);
		k->w[4] = (uint64_t)be32(f->daddr + 12) << 32 | (uint32_t)i;
	}
	unsigned depth = 0;
	for (size_t m = c->nrows; m > 1; m >>= 1)
		depth += 2;
	key_sort(c->keys, c->nrows, depth);
	/* One Native block of all the rows, filled a tile of sorted rows at
	 * a time: the tile's records are first copied into their order
	 * (each read once, from wherever it is), and the tile's columns then
	 * read from the cache.  Encoding column by column through the
	 * permutation missed the cache once per value (2.5 s of floe's CPU
	 * per million rows), and one column of all the rows would stride
	 * through 115 MiB of records once per column.  One block rather than
	 * one per tile: the server would copy the tiles' blocks into one. */
	struct native nb;
	native_begin(&nb, c->cols, c->ncols, c->nrows, c->buf);
	for (size_t off = 0; off < c->nrows; off += NATIVE_TILE) {
		size_t k = c->nrows - off < NATIVE_TILE ? c->nrows - off : NATIVE_TILE;
		for (size_t i = 0; i < k; i++) {
			size_t at = off + i, ahead = at + 8 < c->nrows ? at + 8 : at;
			__builtin_prefetch(&c->rows[key_idx(&c->keys[ahead])]);
			c->tile[i] = c->rows[key_idx(&c->keys[at])];
		}
		native_rows(&nb, c->cols, c->ncols, c->tile, k, c->file_id);
	}
	c->used = native_end(&nb, c->cols, c->ncols, c->nrows, c->buf, c->names);
	c->nrows = 0;
	return insert_buf(c, eb);
}

static enum floe_err op_add(void *t, const struct floe_flow *recs, size_t n, struct floe_errbuf *eb)
{
	struct floe_ch *c = t;
	enum floe_err e;
	if (c->rowbinary) {
		for (size_t i = 0; i < n; i++) {
			if (c->used > INSERT_BUF - FLOE_CHROW_MAX && (e = insert_buf(c, eb)))
				return e;
			c->used += floe_chrow(c->cols, c->ncols, &recs[i], c->file_id, c->buf + c->used);
		}
		return FLOE_OK;
	}
	while (n) {
		size_t k = FLOE_CH_INSERT_ROWS - c->nrows;
		if (k > n)
			k = n;
		memcpy(c->rows + c->nrows, recs, k * sizeof(*recs));
		c->nrows += k;
		recs += k;
		n -= k;
		if (c->nrows == FLOE_CH_INSERT_ROWS && (e = insert_rows(c, eb)))
			return e;
	}
	return FLOE_OK;
}

static enum floe_err op_commit(void *t, const struct floe_dbfile *f, uint64_t rows,
                               struct floe_errbuf *eb)
{
	struct floe_ch *c = t;
	enum floe_err e = insert_rows(c, eb);
	if (!e)
		e = insert_buf(c, eb);
	return e ? e : ledger_add(c, f, rows, 1, eb);
}

static void op_abort(void *t)
{
	struct floe_ch *c = t;
	c->used = 0;  /* rows already in are removed when the file is loaded again */
	c->names[0] = '\0';
	c->nrows = 0;
}

static enum floe_err op_expire(void *t, int64_t keep, int64_t now, uint64_t *dropped,
                               struct floe_errbuf *eb)
{
	struct floe_ch *c = t;
	if (!c->made) {
		enum floe_err e = make_tables(c, eb);
		if (e)
			return e;
		c->made = true;
	}
	return floe_ch_expire(c, keep, now, dropped, eb);
}

static const struct floe_dbload_ops ch_ops = {
	op_loaded, op_begin, op_add, op_commit, op_abort, NULL, NULL, op_expire,
};

/* The connections of n jobs: c and n - 1 more with its settings. */
static enum floe_err ch_jobs(struct floe_ch *c, unsigned n, struct floe_errbuf *eb)
{
	if (n > FLOE_DBLOAD_MAX_JOBS)
		return floe_errbuf_set(eb, FLOE_INVALID, "at most %d jobs", FLOE_DBLOAD_MAX_JOBS);
	const char *shards[FLOE_CH_MAX_SHARDS];
	for (size_t i = 0; i < c->nshards; i++)
		shards[i] = c->shards[i];
	struct floe_ch_opts o = c->opts;
	o.url = c->url;
	o.user = c->auth ? c->user : NULL;
	o.password = c->auth ? c->password : NULL;
	o.table = c->table;
	o.cluster = c->cluster[0] ? c->cluster : NULL;
	o.shards = shards;
	o.lazy = true;
	while (c->njobs < n) {
		struct floe_ch *q = floe_ch_create(&o, eb);
		if (!q)
			return eb->code;
		c->jobs[c->njobs++] = q;
	}
	return FLOE_OK;
}

enum floe_err floe_ch_load(struct floe_ch *c, const struct floe_dbload_opts *lo,
                           struct floe_dbload_stats *st, struct floe_errbuf *eb)
{
	unsigned n = lo->jobs ? lo->jobs : 1;
	enum floe_err e = ch_jobs(c, n, eb);
	if (e)
		return e;
	return floe_dbload_run(lo, &ch_ops, (void *const *)c->jobs, n, st, eb);
}

struct floe_dbfollow *floe_ch_follow(struct floe_ch *c, const struct floe_dbload_opts *lo,
                                     struct floe_errbuf *eb)
{
	unsigned n = lo->jobs ? lo->jobs : 1;
	if (ch_jobs(c, n, eb) != FLOE_OK)
		return NULL;
	return floe_dbfollow_start(lo, &ch_ops, (void *const *)c->jobs, n, eb);
}

enum floe_err floe_ch_expire(struct floe_ch *c, int64_t keep, int64_t now, uint64_t *dropped,
                             struct floe_errbuf *eb)
{
	*dropped = 0;
	const char *urls[FLOE_CH_MAX_SHARDS];
	char names[FLOE_CH_MAX_SHARDS][64];
	size_t nt = row_tables(c, urls, names);
	int64_t limit = now - keep;
	for (size_t i = 0; i < nt; i++) {
		char sql[256];
		snprintf(sql, sizeof(sql), "SELECT DISTINCT partition FROM system.parts WHERE "
		                           "database = currentDatabase() AND table = '%s' AND active",
		         names[i]);
		enum floe_err e = ch_exec(c, urls[i], sql, eb);
		if (e)
			return e;
		/* The answer is overwritten by the DROPs: keep the days first. */
		int64_t days[512];
		size_t nd = 0;
		const char *p = c->resp.p ? c->resp.p : "", *end = p + c->resp.len;
		while (p < end && nd < sizeof(days) / sizeof(days[0])) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			int64_t day;
			if (floe_ch_parse_day((const uint8_t *)p, len, &day) &&
			    (day + 1) * FLOE_DB_NS_PER_DAY <= limit)
				days[nd++] = day;
			p += len + 1;
		}
		for (size_t k = 0; k < nd; k++) {
			char ds[11];
			floe_db_day_str(days[k], '-', ds);
			snprintf(sql, sizeof(sql), "ALTER TABLE %s DROP PARTITION '%s'", names[i], ds);
			if ((e = ch_exec(c, urls[i], sql, eb)))
				return e;
			floe_logf(c->log, FLOE_LOG_INFO, "dropped partition %s of %s", ds, names[i]);
			(*dropped)++;
		}
	}
	return FLOE_OK;
}
