/*
 * test_dbexport.c - the row encoders of the database exporters, byte for
 * byte: PostgreSQL's binary COPY (export/pg.h; the PostgreSQL manual,
 * "COPY", "Binary Format", and the send functions of each type: int2/4/8
 * big-endian, timestamptz as microseconds since 2000-01-01, inet as
 * family, bits, is_cidr, length, address) and ClickHouse's RowBinary
 * (export/clickhouse.h: little-endian integers, DateTime as UInt32
 * seconds, FixedString raw, String with a LEB128 length) and its Native
 * blocks (column count, row count, then per column name, type, values).  The expected
 * bytes of each column are written out from those rules in the tables
 * below, not from the encoders.  Also: the column list, the day helpers
 * and the parsers of ClickHouse's answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/clickhouse.h"
#include "export/dbload.h"
#include "export/pg.h"
#include "tap.h"

struct golden {
	const char *col;
	const char *hex;
};

static const struct golden pg_golden[] = {
	{"stime", "0000000800012b82ab85c240"},
	{"stime_ns", "000000020315"},
	{"ltime", "0000000800012b82abdf3d46"},
	{"ltime_ns", "000000020141"},
	{"proto", "000000020006"},
	{"saddr", "00000008022000040a010203"},
	{"sport", "000000040000c000"},
	{"daddr", "000000140380001020010db8000000000000000000000001"},
	{"dport", "00000004000001bb"},
	{"spkts", "00000008000000000000000a"},
	{"dpkts", "000000080000000000000008"},
	{"sbytes", "0000000800000000000005dc"},
	{"dbytes", "000000080000000000002328"},
	{"sappbytes", "0000000800000000000002bc"},
	{"dappbytes", "000000080000000000001f40"},
	{"state", "00000003434f4e"},
	{"trans", "000000080000000000000001"},
	{"flgs", "0000000152"},
	{"smac", "00000006001122334455"},
	{"dmac", "0000000666778899aabb"},
	{"vlan", "0000000400000064"},
	{"etype", "0000000400000800"},
	{"ipver", "000000020004"},
	{"stcpflags", "0000000446535041"},
	{"dtcpflags", "000000025341"},
	{"sttl", "00000002003c"},
	{"dttl", "00000002003d"},
	{"sttlmax", "000000020040"},
	{"dttlmax", "000000020041"},
	{"stos", "000000020000"},
	{"dtos", "000000020020"},
	{"sretrans", "000000080000000000000002"},
	{"dretrans", "000000080000000000000000"},
	{"sooo", "000000080000000000000001"},
	{"dooo", "000000080000000000000000"},
	{"sid", "000000080000000000000007"},
	{"inif", "000000080000000000000000"},
	{"outif", "000000080000000000000000"},
	{"exporter", "000000140380001000000000000000000000000000000000"},
	{"nexthop", "0000000802200004c0000201"},
	{"sas", "00000008000000000000fc00"},
	{"das", "000000080000000000000000"},
	{"sampling", "000000080000000000000000"},
	{"seq", "000000080000000000000000"},
	{"synack_ns", "00000008000000000016e360"},
	{"ackdat_ns", "00000008000000000003d090"},
};
static const struct golden ch_golden[] = {
	{"stime", "00370e4c"},
	{"stime_ns", "15cd5b07"},
	{"ltime", "05370e4c"},
	{"ltime_ns", "b168de3a"},
	{"proto", "06"},
	{"saddr", "00000000000000000000ffff0a010203"},
	{"saddr_v4", "0302010a"},
	{"sport", "00c0"},
	{"daddr", "20010db8000000000000000000000001"},
	{"daddr_v4", "00000000"},
	{"dport", "bb01"},
	{"spkts", "0a00000000000000"},
	{"dpkts", "0800000000000000"},
	{"sbytes", "dc05000000000000"},
	{"dbytes", "2823000000000000"},
	{"sappbytes", "bc02000000000000"},
	{"dappbytes", "401f000000000000"},
	{"state", "03434f4e"},
	{"trans", "01000000"},
	{"flgs", "0152"},
	{"smac", "001122334455"},
	{"dmac", "66778899aabb"},
	{"vlan", "6400"},
	{"etype", "0008"},
	{"ipver", "04"},
	{"stcpflags", "0446535041"},
	{"dtcpflags", "025341"},
	{"sttl", "3c"},
	{"dttl", "3d"},
	{"sttlmax", "40"},
	{"dttlmax", "41"},
	{"stos", "00"},
	{"dtos", "20"},
	{"sretrans", "02000000"},
	{"dretrans", "00000000"},
	{"sooo", "01000000"},
	{"dooo", "00000000"},
	{"sid", "07000000"},
	{"inif", "00000000"},
	{"outif", "00000000"},
	{"exporter", "00000000000000000000000000000000"},
	{"exporter_v4", "00000000"},
	{"nexthop", "00000000000000000000ffffc0000201"},
	{"nexthop_v4", "010200c0"},
	{"sas", "00fc0000"},
	{"das", "00000000"},
	{"sampling", "00000000"},
	{"seq", "0000000000000000"},
	{"synack_ns", "60e3160000000000"},
	{"ackdat_ns", "90d0030000000000"},
	{"file_id", "8877665544332211"},
};

static struct floe_flow sample(void)
{
	struct floe_flow f;
	memset(&f, 0, sizeof(f));
	f.stime = 1276000000123456789LL;   /* 2010-06-08T12:26:40.123456789Z */
	f.ltime = 1276000005987654321LL;
	f.proto = 6;
	static const uint8_t v4[4] = {10, 1, 2, 3}, nh[4] = {192, 0, 2, 1};
	floe_addr_from_v4(f.saddr, v4);
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	memcpy(f.daddr, v6, 16);
	floe_addr_from_v4(f.nexthop, nh);
	f.sport = 49152;
	f.dport = 443;
	f.spkts = 10;
	f.dpkts = 8;
	f.sbytes = 1500;
	f.dbytes = 9000;
	f.sappbytes = 700;
	f.dappbytes = 8000;
	f.state = FLOE_ST_CON;
	f.trans = 1;
	f.flags = FLOE_F_RETRANS;
	static const uint8_t sm[6] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
	static const uint8_t dm[6] = {0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
	memcpy(f.smac, sm, 6);
	memcpy(f.dmac, dm, 6);
	f.vlan = 100;
	f.etype = FLOE_ETH_IPV4;
	f.ipver = 4;
	f.stcpflags = 0x1b;  /* F S P A */
	f.dtcpflags = 0x12;  /* S A */
	f.sttlmin = 60;
	f.dttlmin = 61;
	f.sttlmax = 64;
	f.dttlmax = 65;
	f.dtos = 0x20;
	f.sretrans = 2;
	f.sooo = 1;
	f.sensor = 7;
	f.sas = 64512;
	f.synack = 1500000;
	f.ackdat = 250000;
	return f;
}

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	for (; s[0] && s[1]; s += 2) {
		unsigned v;
		sscanf(s, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* Compares the encoded row with the golden columns one by one, so a
 * mismatch names its column. */
static void check_row(const char *what, const struct golden *g, size_t ng,
                      const struct floe_dbcol *cols, size_t ncols, const uint8_t *row, size_t len,
                      size_t skip)
{
	TAP_CHECK(ncols == ng, "%s: %zu columns, golden %zu", what, ncols, ng);
	size_t off = skip;
	uint8_t want[64];
	for (size_t i = 0; i < ng && i < ncols; i++) {
		size_t n = unhex(g[i].hex, want);
		bool same = strcmp(cols[i].name, g[i].col) == 0 && off + n <= len &&
		            memcmp(row + off, want, n) == 0;
		TAP_CHECK(same, "%s: column %zu %s (golden %s) = %s", what, i, cols[i].name, g[i].col,
		          g[i].hex);
		off += n;
	}
	TAP_CHECK(off == len, "%s: row length %zu, golden %zu", what, len, off);
}

static void test_pgcopy(void)
{
	uint8_t h[FLOE_PGCOPY_HEADER_LEN], t[FLOE_PGCOPY_TRAILER_LEN];
	floe_pgcopy_header(h);
	floe_pgcopy_trailer(t);
	static const uint8_t hwant[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0,
	                                0, 0, 0, 0, 0, 0, 0, 0};
	TAP_CHECK(memcmp(h, hwant, sizeof(hwant)) == 0, "binary COPY header");
	TAP_CHECK(t[0] == 0xff && t[1] == 0xff, "binary COPY trailer (-1)");

	struct floe_dbcol cols[FLOE_DBCOL_MAX];
	size_t n = floe_dbcols(cols, false);
	struct floe_flow f = sample();
	uint8_t row[FLOE_PGCOPY_ROW_MAX];
	size_t len = floe_pgcopy_row(cols, n, &f, row);
	TAP_CHECK(len >= 2 && row[0] == 0 && row[1] == n, "tuple starts with its field count %zu", n);
	check_row("pgcopy", pg_golden, sizeof(pg_golden) / sizeof(pg_golden[0]), cols, n, row, len, 2);

	/* Before 2000 and before 1970: microseconds round down, the ns part
	 * stays in 0..999. */
	struct floe_flow g = f;
	g.stime = -1;  /* 1969-12-31T23:59:59.999999999Z */
	len = floe_pgcopy_row(cols, n, &g, row);
	static const uint8_t st[] = {0, 0, 0, 8, 0xff, 0xfc, 0xa2, 0xfe, 0xc4, 0xc8, 0x1f, 0xff,
	                             0, 0, 0, 2, 0x03, 0xe7};
	TAP_CHECK(memcmp(row + 2, st, sizeof(st)) == 0, "pgcopy: stime -1 ns = -946684800000001 us + 999 ns");
}

static void test_rowbinary(void)
{
	struct floe_dbcol cols[FLOE_DBCOL_MAX];
	size_t n = floe_dbcols(cols, true);
	struct floe_flow f = sample();
	uint8_t row[FLOE_CHROW_MAX];
	size_t len = floe_chrow(cols, n, &f, 0x1122334455667788ull, row);
	/* file_id is the encoder's last column, not the catalog's. */
	struct floe_dbcol all[FLOE_DBCOL_MAX + 1];
	memcpy(all, cols, n * sizeof(*cols));
	all[n] = (struct floe_dbcol){.name = "file_id"};
	check_row("rowbinary", ch_golden, sizeof(ch_golden) / sizeof(ch_golden[0]), all, n + 1, row,
	          len, 0);

	/* DateTime holds 1970..2106: earlier times are 0. */
	struct floe_flow g = f;
	g.stime = -1500000000LL;
	len = floe_chrow(cols, n, &g, 0, row);
	static const uint8_t st[] = {0, 0, 0, 0, 0x00, 0x65, 0xcd, 0x1d};  /* 0 s, 500000000 ns */
	TAP_CHECK(memcmp(row, st, sizeof(st)) == 0, "rowbinary: a time before 1970 is 0 + its ns");
}

/* ClickHouse types of the columns, in order (clickhouse.h). */
static const char *const ch_types[] = {
	"DateTime", "UInt32", "DateTime", "UInt32", "UInt8", "FixedString(16)", "UInt32", "UInt16",
	"FixedString(16)", "UInt32", "UInt16", "UInt64", "UInt64", "UInt64", "UInt64", "UInt64",
	"UInt64", "String", "UInt32", "String", "FixedString(6)", "FixedString(6)", "UInt16",
	"UInt16", "UInt8", "String", "String", "UInt8", "UInt8", "UInt8", "UInt8", "UInt8", "UInt8",
	"UInt32", "UInt32", "UInt32", "UInt32", "UInt32", "UInt32", "UInt32", "FixedString(16)",
	"UInt32", "FixedString(16)", "UInt32", "UInt32", "UInt32", "UInt32", "UInt64", "Int64",
	"Int64", "UInt64",
};

static size_t put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return n + 1;
}

/* A Native block of two rows: the second differs in sport (53) and state
 * (RST).  Expected: 51 columns, 2 rows, then per column its name, its
 * type and the two values from the RowBinary golden table. */
static void test_native(void)
{
	struct floe_dbcol cols[FLOE_DBCOL_MAX];
	size_t n = floe_dbcols(cols, true);
	struct floe_flow recs[2] = {sample(), sample()};
	recs[1].sport = 53;
	recs[1].state = FLOE_ST_RST;
	static uint8_t got[FLOE_CHNATIVE_MAX(2)], want[FLOE_CHNATIVE_MAX(2)];
	size_t len = floe_chnative(cols, n, recs, 2, 0x1122334455667788ull, got);
	size_t ng = sizeof(ch_golden) / sizeof(ch_golden[0]);
	TAP_CHECK(ng == sizeof(ch_types) / sizeof(ch_types[0]), "a type for each golden column");
	size_t w = 0;
	want[w++] = (uint8_t)ng;
	want[w++] = 2;
	for (size_t i = 0; i < ng; i++) {
		w += put_str(want + w, ch_golden[i].col);
		w += put_str(want + w, ch_types[i]);
		w += unhex(ch_golden[i].hex, want + w);
		if (strcmp(ch_golden[i].col, "sport") == 0)
			w += unhex("3500", want + w);
		else if (strcmp(ch_golden[i].col, "state") == 0)
			w += unhex("03525354", want + w);
		else
			w += unhex(ch_golden[i].hex, want + w);
	}
	TAP_CHECK(len == w && memcmp(got, want, w) == 0, "native block: %zu bytes, golden %zu", len,
	          w);
	for (size_t i = 0; i < len && i < w; i++)
		if (got[i] != want[i]) {
			TAP_DIAG("first difference at byte %zu: %02x, golden %02x", i, got[i], want[i]);
			break;
		}

	/* The bound on a row's values holds for the widest row. */
	struct floe_flow g = sample();
	g.flags = 0xffff;
	g.stcpflags = g.dtcpflags = 0xff;
	g.state = FLOE_ST_NRED;
	uint8_t row[FLOE_CHROW_MAX];
	len = floe_chrow(cols, n, &g, 1, row);
	TAP_CHECK(len <= FLOE_CHROW_VALUES_MAX, "widest row %zu bytes <= %d", len,
	          FLOE_CHROW_VALUES_MAX);
}

/* Bytes one value of a ClickHouse type takes at p. */
static size_t ch_value_len(const char *type, const uint8_t *p)
{
	if (strcmp(type, "String") == 0)
		return 1 + (size_t)p[0];
	if (strcmp(type, "FixedString(16)") == 0)
		return 16;
	if (strcmp(type, "FixedString(6)") == 0)
		return 6;
	if (strcmp(type, "UInt8") == 0)
		return 1;
	if (strcmp(type, "UInt16") == 0)
		return 2;
	if (strcmp(type, "UInt32") == 0 || strcmp(type, "DateTime") == 0)
		return 4;
	return 8;
}

/* A Native block of many varied rows holds, column by column, exactly
 * the values RowBinary encodes for each row (the column encoder keeps a
 * text value from row to row while its member does not change). */
static void test_native_rows(void)
{
	struct floe_dbcol cols[FLOE_DBCOL_MAX];
	size_t n = floe_dbcols(cols, true);
	size_t nt = sizeof(ch_types) / sizeof(ch_types[0]);
	TAP_CHECK(n + 1 == nt, "%zu columns and file_id, %zu types", n, nt);
	TAP_CHECK(floe_chnative_rowmax(cols, n) <= FLOE_CHROW_VALUES_MAX,
	          "widest Native row %zu bytes <= %d", floe_chnative_rowmax(cols, n),
	          FLOE_CHROW_VALUES_MAX);
	enum { R = 300 };
	static struct floe_flow recs[R];
	uint64_t x = 88172645463325252ull;
	for (size_t k = 0; k < R; k++) {
		recs[k] = sample();
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* runs of equal values, then changes */
		recs[k].flags = (uint16_t)(k / 7 % 3 ? x & 0x1fff : 0);
		recs[k].stcpflags = (uint8_t)(k / 5 % 2 ? x >> 16 : 0x12);
		recs[k].dtcpflags = (uint8_t)(x >> 24);
		recs[k].state = (uint8_t)(k / 11 % FLOE_ST__COUNT);
		recs[k].sport = (uint16_t)(x >> 32);
		recs[k].stime += (int64_t)(x % 7000000000ull);
		recs[k].saddr[15] = (uint8_t)(x >> 40);
		recs[k].synack = (int64_t)(x >> 44) - 500000;
	}
	static uint8_t got[FLOE_CHNATIVE_MAX(R)], want[FLOE_CHNATIVE_MAX(R)];
	static uint8_t rows[R][FLOE_CHROW_MAX];
	size_t at[R] = {0};
	size_t len = floe_chnative(cols, n, recs, R, 42, got);
	for (size_t k = 0; k < R; k++)
		floe_chrow(cols, n, &recs[k], 42, rows[k]);
	size_t w = 0;
	want[w++] = (uint8_t)nt;
	want[w++] = (uint8_t)(R & 0x7f) | 0x80;
	want[w++] = (uint8_t)(R >> 7);
	for (size_t i = 0; i < nt; i++) {
		w += put_str(want + w, i < n ? cols[i].name : "file_id");
		w += put_str(want + w, ch_types[i]);
		for (size_t k = 0; k < R; k++) {
			size_t vl = ch_value_len(ch_types[i], rows[k] + at[k]);
			memcpy(want + w, rows[k] + at[k], vl);
			w += vl;
			at[k] += vl;
		}
	}
	TAP_CHECK(len == w && memcmp(got, want, w) == 0,
	          "native block of %d varied rows: %zu bytes, rowbinary's values %zu", R, len, w);
}

static void test_days(void)
{
	static const struct { int64_t day; const char *s; } cases[] = {
		{0, "19700101"}, {-1, "19691231"}, {11016, "20000229"}, {14768, "20100608"},
		{20416, "20251124"}, {2932896, "99991231"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char s[11];
		int64_t d = -99;
		floe_db_day_str(cases[i].day, 0, s);
		TAP_CHECK(strcmp(s, cases[i].s) == 0, "day %lld is %s (got %s)",
		          (long long)cases[i].day, cases[i].s, s);
		TAP_CHECK(floe_db_day_parse(cases[i].s, &d) && d == cases[i].day, "%s parses to %lld",
		          cases[i].s, (long long)cases[i].day);
	}
	char s[11];
	floe_db_day_str(14768, '-', s);
	TAP_CHECK(strcmp(s, "2010-06-08") == 0, "day with dashes");
	int64_t d;
	TAP_CHECK(!floe_db_day_parse("2010061", &d) && !floe_db_day_parse("20101308", &d) &&
	          !floe_db_day_parse("20100230", &d) && !floe_db_day_parse("20100431", &d) &&
	          !floe_db_day_parse("2010060x", &d) && !floe_db_day_parse("201006081", &d),
	          "bad days are refused");
	TAP_CHECK(floe_db_day(-1) == -1 && floe_db_day(0) == 0 &&
	          floe_db_day(FLOE_DB_NS_PER_DAY) == 1, "floe_db_day rounds down");
	TAP_CHECK(floe_db_table_ok("flows") && floe_db_table_ok("_x9") && !floe_db_table_ok("9x") &&
	          !floe_db_table_ok("a-b") && !floe_db_table_ok("a;drop") && !floe_db_table_ok(""),
	          "table names");
}

static void test_answers(void)
{
	static const struct { const char *in; int ok; uint64_t v; } counts[] = {
		{"0\n", 1, 0}, {"123\n", 1, 123}, {"18446744073709551615\n", 1, UINT64_MAX},
		{"18446744073709551616\n", 0, 0}, {"", 0, 0}, {"\n", 0, 0}, {"12a\n", 0, 0},
		{"-1\n", 0, 0}, {"1\n2\n", 0, 0}, {"123", 1, 123},
	};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		uint64_t v = 77;
		enum floe_err e = floe_ch_parse_count((const uint8_t *)counts[i].in,
		                                      strlen(counts[i].in), &v);
		TAP_CHECK(counts[i].ok ? (e == FLOE_OK && v == counts[i].v) : e == FLOE_MALFORMED,
		          "count answer %zu", i);
	}
	static const char err[] = "Code: 193, e.displayText() = DB::Exception: Wrong password for "
	                          "user default, e.what() = DB::Exception\n\nmore";
	char m[200];
	floe_ch_error_line((const uint8_t *)err, sizeof(err) - 1, m, sizeof(m));
	TAP_CHECK(strcmp(m, "Code: 193, e.displayText() = DB::Exception: Wrong password for user "
	                    "default") == 0, "error line: %s", m);
	static const uint8_t bin[] = {'a', 0, 0x1b, 'b', 0xff};
	floe_ch_error_line(bin, sizeof(bin), m, 4);
	TAP_CHECK(strcmp(m, "a??") == 0, "error line: unprintable bytes, cut to the buffer");
	int64_t d;
	TAP_CHECK(floe_ch_parse_day((const uint8_t *)"2010-06-08", 10, &d) && d == 14768,
	          "partition day");
	TAP_CHECK(!floe_ch_parse_day((const uint8_t *)"20100608", 8, &d) &&
	          !floe_ch_parse_day((const uint8_t *)"2010-06-0x", 10, &d), "not a partition day");
}

static void test_schema(void)
{
	char buf[8192];
	size_t need = floe_pg_schema("t1", NULL, 0);
	size_t got = floe_pg_schema("t1", buf, sizeof(buf));
	TAP_CHECK(need == got && need == strlen(buf), "pg schema length %zu", need);
	TAP_CHECK(strstr(buf, "CREATE TABLE IF NOT EXISTS t1 (\n\tstime timestamptz,\n"
	                      "\tstime_ns smallint,\n") != NULL, "pg schema starts with stime");
	TAP_CHECK(strstr(buf, ") PARTITION BY RANGE (stime);") && strstr(buf, "t1_files ("),
	          "pg schema: partitioned, ledger");
	floe_pg_schema("t1", buf, 10);
	TAP_CHECK(strlen(buf) == 9, "pg schema cut to the buffer");
	need = floe_ch_schema("t2", "c", NULL, 0);
	got = floe_ch_schema("t2", "c", buf, sizeof(buf));
	TAP_CHECK(need == got && need == strlen(buf), "clickhouse schema length %zu", need);
	TAP_CHECK(strstr(buf, "CREATE TABLE IF NOT EXISTS t2_local (") &&
	          strstr(buf, "ENGINE = Distributed(c, currentDatabase(), t2_local, cityHash64(saddr))"),
	          "clickhouse schema with a cluster");
}

int main(void)
{
	test_pgcopy();
	test_rowbinary();
	test_native();
	test_native_rows();
	test_days();
	test_answers();
	test_schema();
	return tap_done();
}
