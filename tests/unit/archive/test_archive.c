/*
 * test_archive.c - the archive writer (names, rotation by the records'
 * clock, .part renamed on close, a crash leaving a readable .part) and the
 * source's three skipping steps (file name, footer, block time and Bloom
 * filter), checked against what a full read returns.
 */
#include "archive/archive.h"
#include "archive/source.h"
#include "codec/codec.h"
#include "tap.h"
#include "util/addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S 1000000000LL
#define H (3600 * S)
#define T0 (1749772800LL * S)   /* 2025-06-13T00:00:00Z */

static char root[64];

static bool exists(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return access(p, F_OK) == 0;
}

static struct floe_flow rec(int64_t stime, int64_t ltime, uint8_t host)
{
	struct floe_flow f;
	memset(&f, 0, sizeof(f));
	uint8_t a[4] = {10, 0, 0, host}, b[4] = {192, 168, 0, 1};
	floe_addr_from_v4(f.saddr, a);
	floe_addr_from_v4(f.daddr, b);
	f.ipver = 4;
	f.etype = 0x0800;
	f.proto = 6;
	f.stime = stime;
	f.ltime = ltime;
	f.spkts = 1;
	return f;
}

static long count_file(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(p, NULL, &eb);
	if (!r)
		return -1;
	long n = 0;
	const struct floe_flow *recs;
	size_t k;
	while (floe_reader_next(r, &recs, &k) == FLOE_OK)
		n += (long)k;
	floe_reader_close(r);
	return n;
}

static void test_names(void)
{
	static const struct {
		int64_t t;
		unsigned seq;
		const char *want;
	} rows[] = {
		{T0, 0, "s1/2025/06/13/s1.20250613T000000Z.floe"},
		{T0 + 6 * H + 30 * 60 * S, 0, "s1/2025/06/13/s1.20250613T063000Z.floe"},
		{T0 + 5 * H, 2, "s1/2025/06/13/s1.20250613T050000Z-2.floe"},
		{0, 0, "s1/1970/01/01/s1.19700101T000000Z.floe"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[256];
		bool ok = floe_archive_path(buf, sizeof(buf), "s1", rows[i].t, rows[i].seq);
		TAP_CHECK(ok && strcmp(buf, rows[i].want) == 0, "path %s (got %s)", rows[i].want, buf);
		const char *base = strrchr(rows[i].want, '/') + 1;
		int64_t t;
		bool part;
		TAP_CHECK(floe_archive_parse_name(base, &t, &part) && t == rows[i].t && !part,
		          "parse %s", base);
	}
	char small[16];
	TAP_CHECK(!floe_archive_path(small, sizeof(small), "s1", T0, 0), "path: too small a buffer");
	static const struct {
		const char *name;
		bool ok, part;
		int64_t t;
	} names[] = {
		{"x.20250613T000000Z.floe.part", true, true, T0},
		{"a.b.20250613T010000Z-12.floe", true, false, T0 + H},
		{"20250613T000000Z.floe", false, false, 0},
		{"x.20250613T000000Z.floe.tmp", false, false, 0},
		{"x.20251313T000000Z.floe", false, false, 0},
		{"x.20250613T240000Z.floe", false, false, 0},
		{"x.2025061300000Z.floe", false, false, 0},
		{"x.20250613X000000Z.floe", false, false, 0},
		{"big.floe", false, false, 0},
		{".floe", false, false, 0},
		{"", false, false, 0},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int64_t t = 0;
		bool part = false;
		bool ok = floe_archive_parse_name(names[i].name, &t, &part);
		TAP_CHECK(ok == names[i].ok && (!ok || (t == names[i].t && part == names[i].part)),
		          "parse_name '%s' -> %d", names[i].name, ok);
	}
}

static struct floe_archive *open_ar(int64_t rotate, uint32_t block_records)
{
	struct floe_archive_opts o = {.dir = root, .instance = "s1", .rotate = rotate,
	                              .block_records = block_records};
	struct floe_errbuf eb = {0};
	struct floe_archive *a = floe_archive_create(&o, &eb);
	if (!a)
		TAP_DIAG("%s", eb.msg);
	return a;
}

static void test_options(void)
{
	static const struct {
		const char *inst;
		int64_t rotate;
		const char *err;
	} rows[] = {
		{"", 0, "bad instance name"},
		{"a/b", 0, "bad instance name"},
		{"..", 0, "bad instance name"},
		{"s1", 7 * S, "bad rotation"},
		{"s1", 2 * 86400 * S, "bad rotation"},
		{"s1", S / 2, "bad rotation"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct floe_archive_opts o = {.dir = root, .instance = rows[i].inst,
		                              .rotate = rows[i].rotate};
		struct floe_errbuf eb = {0};
		struct floe_archive *a = floe_archive_create(&o, &eb);
		TAP_CHECK(!a && eb.code == FLOE_INVALID && strstr(eb.msg, rows[i].err),
		          "option row %zu refused: %s", i, eb.msg);
		floe_archive_abandon(a);
	}
}

static void test_rotation(void)
{
	struct floe_archive *a = open_ar(H, 0);
	/* ltimes 00:10, 00:50, 01:05, late 00:59 (stays in 01), 03:20 */
	int64_t lt[] = {T0 + 10 * 60 * S, T0 + 50 * 60 * S, T0 + H + 5 * 60 * S,
	                T0 + 59 * 60 * S, T0 + 3 * H + 20 * 60 * S};
	bool ok = a != NULL;
	for (size_t i = 0; ok && i < 5; i++) {
		struct floe_flow f = rec(lt[i] - 30 * S, lt[i], 1);
		ok = floe_archive_add(a, &f) == FLOE_OK;
	}
	TAP_CHECK(ok, "rotation: records added");
	TAP_CHECK(exists("s1/2025/06/13/s1.20250613T000000Z.floe"), "rotation: 00 closed and renamed");
	TAP_CHECK(exists("s1/2025/06/13/s1.20250613T030000Z.floe.part"), "rotation: 03 open as .part");
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_archive_close(a, &eb) == FLOE_OK, "rotation: close %s", eb.msg);
	TAP_CHECK(!exists("s1/2025/06/13/s1.20250613T030000Z.floe.part") &&
	          exists("s1/2025/06/13/s1.20250613T030000Z.floe"), "rotation: 03 renamed on close");
	TAP_CHECK(!exists("s1/2025/06/13/s1.20250613T020000Z.floe"), "rotation: no file for 02");
	TAP_CHECK(count_file("s1/2025/06/13/s1.20250613T000000Z.floe") == 2, "rotation: 00 has 2");
	TAP_CHECK(count_file("s1/2025/06/13/s1.20250613T010000Z.floe") == 2,
	          "rotation: 01 has 2, the late record included");
	TAP_CHECK(count_file("s1/2025/06/13/s1.20250613T030000Z.floe") == 1, "rotation: 03 has 1");

	/* the same period again (a replay): a new name, nothing overwritten */
	a = open_ar(H, 0);
	struct floe_flow f = rec(T0, T0 + S, 2);
	TAP_CHECK(a && floe_archive_add(a, &f) == FLOE_OK && floe_archive_close(a, &eb) == FLOE_OK,
	          "replay written");
	TAP_CHECK(exists("s1/2025/06/13/s1.20250613T000000Z-1.floe") &&
	          count_file("s1/2025/06/13/s1.20250613T000000Z.floe") == 2, "replay: -1 beside 00");

	/* a crash: the .part is readable to its last complete block */
	a = open_ar(H, 2);
	ok = a != NULL;
	for (int i = 0; ok && i < 5; i++) {
		f = rec(T0 + 5 * H + i * S, T0 + 5 * H + i * S, 3);
		ok = floe_archive_add(a, &f) == FLOE_OK;
	}
	floe_archive_abandon(a);
	TAP_CHECK(ok && exists("s1/2025/06/13/s1.20250613T050000Z.floe.part") &&
	          !exists("s1/2025/06/13/s1.20250613T050000Z.floe"), "crash leaves the .part");
	TAP_CHECK(count_file("s1/2025/06/13/s1.20250613T050000Z.floe.part") == 4,
	          "crash: 2 complete blocks of 2 read");
}

/* Runs a source over dir with range/addrs; returns records that overlap
 * the range and carry addr (or any addr when NULL). */
static long query(const char *dir, const char *file, struct floe_timerange tr,
                  const uint8_t *addr, bool no_index, struct floe_source_stats *st)
{
	struct floe_source_opts o = {.range = tr, .addrs = (const uint8_t (*)[16])addr,
	                             .naddrs = addr ? 1 : 0, .no_index = no_index};
	struct floe_errbuf eb = {0};
	struct floe_source *s = floe_source_create(&o, &eb);
	if (!s || (dir && floe_source_add_dir(s, dir, &eb) != FLOE_OK) ||
	    (file && floe_source_add_file(s, file, &eb) != FLOE_OK)) {
		TAP_DIAG("%s", eb.msg);
		floe_source_destroy(s);
		return -1;
	}
	long n = 0;
	const struct floe_flow *recs;
	size_t k;
	enum floe_err e;
	while ((e = floe_source_next(s, &recs, &k)) == FLOE_OK)
		for (size_t i = 0; i < k; i++)
			if (floe_timerange_overlaps(&tr, recs[i].stime, recs[i].ltime) &&
			    (!addr || memcmp(recs[i].saddr, addr, 16) == 0 ||
			     memcmp(recs[i].daddr, addr, 16) == 0))
				n++;
	if (e != FLOE_EOF) {
		TAP_DIAG("source: %s", floe_source_error(s));
		n = -1;
	}
	floe_source_stats(s, st);
	floe_source_destroy(s);
	return n;
}

static void test_source(void)
{
	/* 48 hourly files of 50 records (blocks of 10); host 99 only in hour 30,
	 * records 20..29 (one block) */
	snprintf(root + strlen(root), sizeof(root) - strlen(root), "/src");
	mkdir(root, 0755);
	struct floe_archive *a = open_ar(H, 10);
	bool ok = a != NULL;
	for (int h = 0; ok && h < 48; h++)
		for (int i = 0; ok && i < 50; i++) {
			int64_t t = T0 + h * H + i * 60 * S;
			struct floe_flow f = rec(t, t + 10 * S, h == 30 && i >= 20 && i < 30 ? 99 : 1);
			ok = floe_archive_add(a, &f) == FLOE_OK;
		}
	struct floe_errbuf eb = {0};
	TAP_CHECK(ok && floe_archive_close(a, &eb) == FLOE_OK, "source: archive of 48 hours");

	uint8_t m[16], v4[4] = {10, 0, 0, 99};
	floe_addr_from_v4(m, v4);
	struct floe_source_stats st;
	struct floe_timerange all = FLOE_TIMERANGE_ALL;
	long n = query(root, NULL, all, NULL, false, &st);
	TAP_CHECK(n == 48 * 50 && st.files_read == 48 && st.blocks_read == 240,
	          "full read: %ld records, %llu files", n, (unsigned long long)st.files_read);

	struct floe_timerange h30 = {T0 + 30 * H, T0 + 31 * H};
	n = query(root, NULL, h30, m, false, &st);
	TAP_CHECK(n == 10, "host in hour 30: %ld records", n);
	TAP_CHECK(st.files_considered == 48 && st.files_skipped_name == 7 &&
	          st.files_skipped_footer == 40 && st.files_read == 1,
	          "files: considered %llu, by name %llu (hours 0..6), by footer %llu, read %llu",
	          (unsigned long long)st.files_considered, (unsigned long long)st.files_skipped_name,
	          (unsigned long long)st.files_skipped_footer, (unsigned long long)st.files_read);
	TAP_CHECK(st.blocks_considered == 5 && st.blocks_read == 1 && st.blocks_skipped == 4,
	          "blocks: considered %llu, read %llu (Bloom)",
	          (unsigned long long)st.blocks_considered, (unsigned long long)st.blocks_read);

	/* time alone prunes blocks: 30:00..30:05 is in the first block */
	struct floe_timerange m5 = {T0 + 30 * H, T0 + 30 * H + 5 * 60 * S};
	n = query(root, NULL, m5, NULL, false, &st);
	TAP_CHECK(n == 5 && st.blocks_read == 1 && st.files_read == 1,
	          "5 minutes: %ld records, %llu blocks", n, (unsigned long long)st.blocks_read);
	/* a range ending where a record starts excludes it; one starting at a
	 * record's ltime includes it */
	struct floe_timerange edge = {T0 + 30 * H + 10 * S, T0 + 30 * H + 60 * S};
	n = query(root, NULL, edge, NULL, false, &st);
	TAP_CHECK(n == 1, "edges: %ld record", n);

	/* --no-index: same answer, everything read */
	n = query(root, NULL, h30, m, true, &st);
	TAP_CHECK(n == 10 && st.files_read == 48 && st.blocks_read == 240 && st.blocks_skipped == 0,
	          "no index: %ld records, %llu blocks", n, (unsigned long long)st.blocks_read);

	/* -r of a file outside the range: footer, not name */
	char file[256];
	snprintf(file, sizeof(file), "%s/s1/2025/06/13/s1.20250613T000000Z.floe", root);
	n = query(NULL, file, h30, NULL, false, &st);
	TAP_CHECK(n == 0 && st.files_skipped_name == 0 && st.files_skipped_footer == 1,
	          "-r file outside the range skipped by footer");

	/* a .part without footer: blocks walked, time-pruned, records found */
	char part[300];
	snprintf(part, sizeof(part), "%s/s1/2025/06/14/s1.20250614T060000Z.floe", root);
	char cmd[1400];
	snprintf(cmd, sizeof(cmd), "head -c $(( $(stat -c %%s '%s') * 6 / 10 )) '%s' > '%s.part' && rm '%s'",
	         part, part, part, part);
	TAP_CHECK(system(cmd) == 0, "truncated copy as .part");
	struct floe_timerange h30all = {T0 + 30 * H, T0 + 31 * H};
	n = query(root, NULL, h30all, NULL, false, &st);
	long full = query(root, NULL, h30all, NULL, true, &st);
	TAP_CHECK(n > 0 && n == full && n < 50 && st.blocks_damaged == 1,
	          ".part read to its last complete block: %ld records (no index: %ld)", n, full);
	/* an empty .part (crash at creation) is skipped with a warning */
	snprintf(cmd, sizeof(cmd), ": > '%s/s1/2025/06/14/s1.20250614T230000Z.floe.part'", root);
	TAP_CHECK(system(cmd) == 0, "empty .part");
	n = query(root, NULL, all, NULL, false, &st);
	TAP_CHECK(n > 0 && st.files_failed == 1, "empty .part skipped: %llu failed",
	          (unsigned long long)st.files_failed);
	/* a missing directory is an error naming it */
	struct floe_source_opts so = {.range = all};
	struct floe_source *s = floe_source_create(&so, &eb);
	floe_errbuf_clear(&eb);
	TAP_CHECK(floe_source_add_dir(s, "/nonexistent/floe", &eb) == FLOE_IO &&
	          strstr(eb.msg, "/nonexistent/floe"), "missing dir: %s", eb.msg);
	floe_source_destroy(s);
}

/* Every record of a source, in order, folded into a hash; stats in st;
 * the end code in *end. */
static uint64_t digest(const char *dir, const char *const *files, struct floe_timerange tr,
                       const uint8_t *addr, unsigned threads, struct floe_source_stats *st,
                       enum floe_err *end, long *nrec)
{
	struct floe_source_opts o = {.range = tr, .addrs = (const uint8_t (*)[16])addr,
	                             .naddrs = addr ? 1 : 0, .threads = threads};
	struct floe_errbuf eb = {0};
	struct floe_source *s = floe_source_create(&o, &eb);
	uint64_t h = 1469598103934665603u;
	*nrec = 0;
	if (dir && floe_source_add_dir(s, dir, &eb) != FLOE_OK)
		TAP_DIAG("%s", eb.msg);
	for (size_t i = 0; files && files[i]; i++)
		if (floe_source_add_file(s, files[i], &eb) != FLOE_OK)
			TAP_DIAG("%s", eb.msg);
	const struct floe_flow *recs;
	size_t k;
	while ((*end = floe_source_next(s, &recs, &k)) == FLOE_OK) {
		for (size_t i = 0; i < k; i++) {
			const uint8_t *b = (const uint8_t *)&recs[i];
			for (size_t j = 0; j < sizeof(recs[i]); j++)
				h = (h ^ b[j]) * 1099511628211u;
		}
		*nrec += (long)k;
	}
	floe_source_stats(s, st);
	floe_source_destroy(s);
	return h;
}

/* Reading threads give the records of one thread, in the same order, and
 * the same counts; a fatal error comes after the records before it. */
static void test_threads(void)
{
	uint8_t m[16], v4[4] = {10, 0, 0, 99};
	floe_addr_from_v4(m, v4);
	struct floe_timerange all = FLOE_TIMERANGE_ALL, h30 = {T0 + 30 * H, T0 + 31 * H};
	static const unsigned nthreads[] = {1, 2, 3, 64};
	for (int q = 0; q < 3; q++) {
		struct floe_timerange tr = q == 1 ? h30 : all;
		const uint8_t *addr = q == 2 ? m : NULL;
		struct floe_source_stats st0, st;
		enum floe_err e0, e;
		long n0, n;
		uint64_t h0 = digest(root, NULL, tr, addr, 0, &st0, &e0, &n0);
		for (size_t t = 0; t < sizeof(nthreads) / sizeof(nthreads[0]); t++) {
			uint64_t h = digest(root, NULL, tr, addr, nthreads[t], &st, &e, &n);
			TAP_CHECK(h == h0 && n == n0 && e == e0 && e == FLOE_EOF &&
			              memcmp(&st, &st0, sizeof(st)) == 0,
			          "threads %u, query %d: same %ld records in the same order, same counts",
			          nthreads[t], q, n);
		}
	}
	/* a file named with -r that cannot be opened: the records of the files
	 * before it, then its error */
	char a[300], b[300];
	snprintf(a, sizeof(a), "%s/s1/2025/06/13/s1.20250613T000000Z.floe", root);
	snprintf(b, sizeof(b), "%s/s1/2025/06/13/s1.20250613T010000Z.floe", root);
	const char *files[] = {a, "/nonexistent/x.floe", b, NULL};
	struct floe_source_stats st0, st;
	enum floe_err e0, e;
	long n0, n;
	uint64_t h0 = digest(NULL, files, all, NULL, 0, &st0, &e0, &n0);
	uint64_t h = digest(NULL, files, all, NULL, 2, &st, &e, &n);
	TAP_CHECK(e0 == FLOE_IO && e == FLOE_IO && n0 == 50 && n == 50 && h == h0,
	          "threads: an unreadable file fails after the %ld records before it", n);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/floe-archive-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_names();
	test_options();
	test_rotation();
	test_source();
	test_threads();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%.40s'", root);
	if (strncmp(root, "/tmp/floe-archive-", 18) == 0 && system(cmd) != 0)
		TAP_DIAG("could not remove %s", root);
	return tap_done();
}
