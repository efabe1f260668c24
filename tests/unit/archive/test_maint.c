/*
 * test_maint.c - archive maintenance (maint.h): listing, verify on clean
 * and deliberately damaged files (never changing them), the expiry rules
 * (age by name and by footer, size, order, .part files locked or left by
 * a crash, emptied directories, dry run), recovery of .part files (torn,
 * empty, complete, locked, name taken) into files that verify clean and
 * hold the records of the complete blocks, and the writer's recovery and
 * lock at start.
 */
#include "archive/archive.h"
#include "archive/maint.h"
#include "codec/codec.h"
#include "tap.h"
#include "testutil.h"
#include "util/addr.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define S 1000000000LL
#define H (3600 * S)
#define D (24 * H)
#define T0 (1749772800LL * S)   /* 2025-06-13T00:00:00Z */

static char top[64];
static char root[128];
static int nroot;

/* A fresh archive root for each case. */
static const char *new_root(void)
{
	snprintf(root, sizeof(root), "%s/a%d", top, nroot++);
	mkdir(root, 0755);
	return root;
}

static const char *at(const char *rel)
{
	static char p[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", root, rel);
	return p[k];
}

static bool exists(const char *rel)
{
	return access(at(rel), F_OK) == 0;
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
	f.sbytes = (uint64_t)host * 100;
	return f;
}

static struct floe_archive *open_ar(uint32_t block_records, bool recover)
{
	struct floe_archive_opts o = {.dir = root, .instance = "s1", .rotate = H,
	                              .block_records = block_records, .recover = recover};
	struct floe_errbuf eb = {0};
	struct floe_archive *a = floe_archive_create(&o, &eb);
	if (!a)
		TAP_DIAG("%s", eb.msg);
	return a;
}

/* Writes n records with ltime in the period starting at t (+10 min, one
 * second apart), closing the file unless crash. */
static bool write_period(int64_t t, int n, uint32_t block_records, bool crash)
{
	struct floe_archive *a = open_ar(block_records, false);
	bool ok = a != NULL;
	for (int i = 0; ok && i < n; i++) {
		struct floe_flow f = rec(t + 10 * 60 * S + i * S - 5 * S, t + 10 * 60 * S + i * S,
		                         (uint8_t)(i + 1));
		ok = floe_archive_add(a, &f) == FLOE_OK;
	}
	if (crash) {
		floe_archive_abandon(a);
		return ok;
	}
	struct floe_errbuf eb = {0};
	return floe_archive_close(a, &eb) == FLOE_OK && ok;
}

/* The records of a file, as a sum of sbytes and a count. */
static long records_of(const char *path, uint64_t *sum)
{
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(path, NULL, &eb);
	if (!r)
		return -1;
	long n = 0;
	*sum = 0;
	const struct floe_flow *recs;
	size_t k;
	while (floe_reader_next(r, &recs, &k) == FLOE_OK)
		for (size_t i = 0; i < k; i++, n++)
			*sum += recs[i].sbytes * 1000003u + (uint64_t)recs[i].ltime;
	floe_reader_close(r);
	return n;
}

#define F0 "s1/2025/06/13/s1.20250613T000000Z.floe"

/* ---- list and info ---- */

static void test_list(void)
{
	new_root();
	write_period(T0 + 2 * H, 3, 0, false);
	write_period(T0, 5, 2, false);
	write_period(T0 + D + 5 * H, 4, 2, true);
	test_spit(at("s1/notes.floe"), (const uint8_t *)"x", 1);
	test_spit(at("s1/2025/06/13/.hidden.floe"), (const uint8_t *)"x", 1);
	struct floe_archive_list l = {0};
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_archive_list(&l, root, &eb) == FLOE_OK && l.n == 4,
	          "list: 4 files, hidden ignored (%zu) %s", l.n, eb.msg);
	static const struct {
		const char *rel;
		bool named, part;
		int64_t period;
	} want[] = {
	    {"s1/2025/06/13/s1.20250613T000000Z.floe", true, false, T0},
	    {"s1/2025/06/13/s1.20250613T020000Z.floe", true, false, T0 + 2 * H},
	    {"s1/2025/06/14/s1.20250614T050000Z.floe.part", true, true, T0 + D + 5 * H},
	    {"s1/notes.floe", false, false, 0},
	};
	for (size_t i = 0; i < 4 && i < l.n; i++) {
		const struct floe_archive_file *f = &l.files[i];
		TAP_CHECK(strcmp(f->path, at(want[i].rel)) == 0 && f->named == want[i].named &&
		              f->part == want[i].part && (!f->named || f->period == want[i].period) &&
		              strcmp(f->instance, f->named ? "s1" : "") == 0 && f->bytes > 0,
		          "list row %zu: %s", i, f->path);
	}
	static const struct {
		size_t i;
		bool closed;
		uint64_t blocks, records;
		int64_t tmin, tmax;
	} info[] = {
	    {0, true, 3, 5, T0 + 595 * S, T0 + 604 * S},
	    {1, true, 1, 3, T0 + 2 * H + 595 * S, T0 + 2 * H + 602 * S},
	    {2, false, 2, 4, T0 + D + 5 * H + 595 * S, T0 + D + 5 * H + 603 * S},
	};
	for (size_t k = 0; k < 3 && l.n == 4; k++) {
		struct floe_archive_info in;
		enum floe_err e = floe_archive_file_info(l.files[info[k].i].path, NULL, &in, &eb);
		TAP_CHECK(e == FLOE_OK && in.closed == info[k].closed && in.blocks == info[k].blocks &&
		              in.records == info[k].records && in.tmin == info[k].tmin &&
		              in.tmax == info[k].tmax && strcmp(in.instance, "s1") == 0,
		          "info row %zu: closed %d, %llu blocks, %llu records", k, in.closed,
		          (unsigned long long)in.blocks, (unsigned long long)in.records);
	}
	floe_archive_list_release(&l);
}

/* ---- verify ---- */

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

enum { V_NONE, V_FLIP, V_CUT };
enum { AT_BLOCK1_PAYLOAD, AT_FOOTER_ENTRY, AT_TRAILER, AT_AF_PAGE, AT_BLOCK2_MID, AT_ZERO };

static void test_verify(void)
{
	new_root();
	write_period(T0, 5, 2, false);   /* blocks of 2, 2, 1 */
	size_t len = 0;
	uint8_t *file = test_slurp(at(F0), &len);
	uint64_t foff = rd64(file + len - 24);
	uint32_t nent = rd32(file + foff + 4);
	uint64_t b[4];
	for (uint32_t i = 0; i < nent && i < 3; i++)
		b[i] = rd64(file + foff + 24 + 48 * i);
	b[3] = foff;
	uint64_t af = foff + 24 + 48 * (uint64_t)nent;
	uint32_t pages = rd32(file + af + 4);
	static const struct {
		const char *name;
		const char *as;   /* file name */
		int op, where;
		bool clean;
		enum floe_verify_footer footer;
		uint64_t damaged, records;
		int first_block;  /* -1: no report */
		bool torn;
		uint32_t af;
	} rows[] = {
	    {"clean", "c.floe", V_NONE, 0, true, FLOE_VERIFY_FOOTER_OK, 0, 5, -1, false, 0},
	    {"payload byte of block 1", "c.floe", V_FLIP, AT_BLOCK1_PAYLOAD, false,
	     FLOE_VERIFY_FOOTER_OK, 1, 3, 1, false, 0},
	    {"footer entry", "c.floe", V_FLIP, AT_FOOTER_ENTRY, false, FLOE_VERIFY_FOOTER_DAMAGED, 0,
	     5, 3, false, 0},
	    {"trailer", "c.floe", V_FLIP, AT_TRAILER, false, FLOE_VERIFY_FOOTER_DAMAGED, 0, 5, -1,
	     false, 0},
	    {"address filter page", "c.floe", V_FLIP, AT_AF_PAGE, false, FLOE_VERIFY_FOOTER_OK, 0, 5,
	     -1, false, 1},
	    {"closed file cut in block 2", "c.floe", V_CUT, AT_BLOCK2_MID, false,
	     FLOE_VERIFY_FOOTER_MISSING, 0, 4, 2, true, 0},
	    {".part cut in block 2", "c.floe.part", V_CUT, AT_BLOCK2_MID, true,
	     FLOE_VERIFY_FOOTER_MISSING, 0, 4, 2, true, 0},
	    {".part with a damaged block", "c.floe.part", V_FLIP, AT_BLOCK1_PAYLOAD, false,
	     FLOE_VERIFY_FOOTER_OK, 1, 3, 1, false, 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t *c = malloc(len);
		memcpy(c, file, len);
		size_t clen = len;
		uint64_t off = 0;
		switch (rows[i].where) {
		case AT_BLOCK1_PAYLOAD: off = b[2] - 3; break;
		case AT_FOOTER_ENTRY: off = foff + 24 + 48 + 8; break;
		case AT_TRAILER: off = len - 24 + 13; break;
		case AT_AF_PAGE: off = af + 32 + 4 * (uint64_t)pages + 5; break;
		case AT_BLOCK2_MID: off = (b[2] + b[3]) / 2; break;
		}
		if (rows[i].op == V_FLIP)
			c[off] ^= 0x5a;
		else if (rows[i].op == V_CUT)
			clen = (size_t)off;
		test_spit(at(rows[i].as), c, clen);
		struct floe_verify_result v;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_archive_verify_file(at(rows[i].as), NULL, &v, &eb);
		size_t alen;
		uint8_t *after = test_slurp(at(rows[i].as), &alen);
		bool same = after && alen == clen && memcmp(after, c, clen) == 0;
		free(after);
		bool ok = e == FLOE_OK && v.open_err == FLOE_OK && v.clean == rows[i].clean &&
		          v.footer == rows[i].footer && v.blocks_damaged == rows[i].damaged &&
		          v.records == rows[i].records && v.torn == rows[i].torn &&
		          v.af_pages_damaged == rows[i].af;
		if (rows[i].first_block < 0)
			ok = ok && v.ndamage == 0;
		else
			ok = ok && v.ndamage >= 1 && v.damage[0].block == (uint64_t)rows[i].first_block &&
			     v.damage[0].offset == b[rows[i].first_block];
		TAP_CHECK(ok && same, "verify %s: clean %d footer %d damaged %llu records %llu torn %d "
		          "af %u reports %zu%s%s; file unchanged %d", rows[i].name, v.clean, v.footer,
		          (unsigned long long)v.blocks_damaged, (unsigned long long)v.records, v.torn,
		          v.af_pages_damaged, v.ndamage, v.ndamage ? ": " : "",
		          v.ndamage ? v.damage[0].what : "", same);
		unlink(at(rows[i].as));
		free(c);
	}
	/* not a floe file: a result, not an error */
	test_spit(at("junk.floe"), (const uint8_t *)"hello world", 11);
	struct floe_verify_result v;
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_archive_verify_file(at("junk.floe"), NULL, &v, &eb) == FLOE_OK &&
	              v.open_err == FLOE_MALFORMED && !v.clean && strstr(v.open_msg, "not a floe file"),
	          "verify: a file that cannot be opened is reported (%s)", v.open_msg);
	free(file);
}

/* ---- expire ---- */

struct removed_log {
	int n, by_age;
	char names[16][64];
};

static void on_removed(void *ud, const struct floe_archive_file *f, bool by_age)
{
	struct removed_log *r = ud;
	if (r->n < 16) {
		const char *base = strrchr(f->path, '/');
		snprintf(r->names[r->n], sizeof(r->names[0]), "%s", base + 1);
	}
	r->n++;
	r->by_age += by_age;
}

/* Five days, one closed file each (10 records, in the day's first hour,
 * ending by 00:10:09), a stale .part of day 0 at 05:00 and notes.floe. */
#define DAY_FILE(d) "s1.202506" #d "T000000Z.floe"
static uint64_t day_bytes[5];

static void build_days(void)
{
	new_root();
	for (int d = 0; d < 5; d++) {
		write_period(T0 + d * D, 10, 4, false);
		struct stat st;
		char rel[128];
		snprintf(rel, sizeof(rel), "s1/2025/06/%02d/s1.202506%02dT000000Z.floe", 13 + d, 13 + d);
		day_bytes[d] = stat(at(rel), &st) == 0 ? (uint64_t)st.st_size : 0;
	}
	write_period(T0 + 5 * H, 6, 4, true);
	test_spit(at("s1/notes.floe"), (const uint8_t *)"notes", 5);
}

static void test_expire(void)
{
	static const struct {
		const char *name;
		int64_t keep;
		int size_files;   /* max_bytes: the size of the newest n day files; 0: none */
		bool lock_part, dry;
		const char *gone; /* days removed, as digits "012", 'p' the .part */
		int by_age;
		bool day0_dir_gone;
	} rows[] = {
	    {"nothing asked", 0, 0, false, false, "", 0, false},
	    {"keep 3d: days 0 and 1 and the stale .part by name", 3 * D, 0, false, false, "0p1", 3,
	     true},
	    {"keep 2d - 1h: day 3 by its footer", 2 * D - H, 0, false, false, "0p123", 5, true},
	    {"keep 2d - 300s: day 3's footer says keep", 2 * D - 300 * S, 0, false, false, "0p12", 4,
	     true},
	    {"keep 10d: nothing is old", 10 * D, 0, false, false, "", 0, false},
	    {"size of 2 days: oldest first", 0, 2, false, false, "0p12", 0, true},
	    {"keep 4d then size of 3 days", 4 * D, 3, false, false, "0p1", 1, true},
	    {"locked .part is never removed", 3 * D, 0, true, false, "01", 2, false},
	    {"locked .part counts, is kept: all else goes", 0, 1, true, false, "01234", 0, false},
	    {"dry run removes nothing", 3 * D, 0, false, true, "", 3, false},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		build_days();
		const char *part = at("s1/2025/06/13/s1.20250613T050000Z.floe.part");
		struct stat pst;
		stat(part, &pst);
		int lfd = -1;
		if (rows[i].lock_part) {
			lfd = open(part, O_RDONLY);
			flock(lfd, LOCK_EX);
		}
		uint64_t max = 0;
		for (int d = 5 - rows[i].size_files; rows[i].size_files && d < 5; d++)
			max += day_bytes[d];
		if (rows[i].size_files)
			max += 5;   /* notes.floe is part of the archive, never removed */
		struct removed_log rl = {0};
		struct floe_expire_opts o = {.now = T0 + 5 * D, .keep = rows[i].keep, .max_bytes = max,
		                             .dry_run = rows[i].dry, .removed = on_removed, .ud = &rl};
		struct floe_expire_result res;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_archive_expire(root, &o, &res, &eb);
		if (lfd >= 0)
			close(lfd);
		bool ok = e == FLOE_OK && res.files_before == 7 && rl.by_age == rows[i].by_age;
		/* what is left on disk, what was reported, in order */
		size_t k = 0;
		char got[16] = "";
		for (int r = 0; r < rl.n && r < 15; r++)
			got[k++] = strstr(rl.names[r], ".part") ? 'p' : (char)('0' + (rl.names[r][10] - '3'));
		got[k] = '\0';
		bool want_reported = rows[i].dry ? rl.n == 3 : strcmp(got, rows[i].gone) == 0;
		for (int d = 0; d < 5; d++) {
			char rel[128];
			snprintf(rel, sizeof(rel), "s1/2025/06/%02d/s1.202506%02dT000000Z.floe", 13 + d, 13 + d);
			bool gone = strchr(rows[i].gone, '0' + d) != NULL;
			ok = ok && exists(rel) == !gone;
		}
		ok = ok && exists("s1/2025/06/13/s1.20250613T050000Z.floe.part") ==
		               !strchr(rows[i].gone, 'p');
		ok = ok && exists("s1/notes.floe") && exists("s1") &&
		     exists("s1/2025/06/13") == !rows[i].day0_dir_gone;
		ok = ok && res.files_busy == (rows[i].lock_part ? 1u : 0u);
		ok = ok && res.files_removed == (uint64_t)rl.n;
		TAP_CHECK(ok && want_reported, "expire, %s: removed '%s' (want '%s'), %llu busy, %llu dirs %s",
		          rows[i].name, got, rows[i].gone, (unsigned long long)res.files_busy,
		          (unsigned long long)res.dirs_removed, eb.msg);
	}
}

/* ---- recover ---- */

#define P5 "s1/2025/06/13/s1.20250613T050000Z.floe"

enum { R_ABANDON, R_CUT, R_EMPTY, R_HEADER, R_CLOSED_AS_PART, R_LOCKED, R_TAKEN, R_DAMAGED };

static void test_recover(void)
{
	static const struct {
		const char *name;
		int how;
		enum floe_recover_outcome out;
		long records;     /* in the closed file; -1: none */
		uint64_t blocks;
		bool part_left;
	} rows[] = {
	    {"abandoned writer: 3 blocks of 2", R_ABANDON, FLOE_RECOVER_CLOSED, 6, 3, false},
	    {"torn last block", R_CUT, FLOE_RECOVER_CLOSED, 4, 2, false},
	    {"empty (crash at creation)", R_EMPTY, FLOE_RECOVER_REMOVED, -1, 0, false},
	    {"header only", R_HEADER, FLOE_RECOVER_REMOVED, -1, 0, false},
	    {"footer written, not renamed", R_CLOSED_AS_PART, FLOE_RECOVER_RENAMED, 7, 4, false},
	    {"a writer holds it", R_LOCKED, FLOE_RECOVER_BUSY, -1, 0, true},
	    {"closed name taken", R_TAKEN, FLOE_RECOVER_FAILED, 7, 0, true},
	    {"damaged middle block dropped", R_DAMAGED, FLOE_RECOVER_CLOSED, 4, 2, false},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		new_root();
		const char *part = at(P5 ".part"), *fin = at(P5);
		if (rows[i].how == R_CLOSED_AS_PART || rows[i].how == R_TAKEN) {
			write_period(T0 + 5 * H, 7, 2, false);
			if (rows[i].how == R_CLOSED_AS_PART)
				rename(fin, part);
			else
				write_period(T0 + 5 * H, 7, 2, true);   /* gets "-1" */
		} else {
			write_period(T0 + 5 * H, 7, 2, true);    /* 3 blocks of 2, the 7th lost */
		}
		if (rows[i].how == R_TAKEN) {
			/* the crash's .part got "-1"; make it collide with the closed name */
			rename(at("s1/2025/06/13/s1.20250613T050000Z-1.floe.part"), part);
		}
		size_t len = 0;
		uint8_t *data = test_slurp(part, &len);
		uint64_t sum_before = 0;
		long before = -1;
		if (rows[i].how == R_CUT) {
			test_spit(part, data, len - 7);
		} else if (rows[i].how == R_EMPTY) {
			test_spit(part, data, 0);
		} else if (rows[i].how == R_HEADER) {
			test_spit(part, data, 160);
		} else if (rows[i].how == R_DAMAGED) {
			/* flip a byte near the end of block 1 (blocks are ~equal) */
			data[160 + (len - 160) * 2 / 3 - 4] ^= 0x5a;
			test_spit(part, data, len);
		}
		free(data);
		if (rows[i].how != R_EMPTY && rows[i].how != R_HEADER)
			before = records_of(part, &sum_before);
		int lfd = -1;
		if (rows[i].how == R_LOCKED) {
			lfd = open(part, O_RDONLY);
			flock(lfd, LOCK_EX);
		}
		struct floe_recover_report rep;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_archive_recover_file(part, NULL, &rep, &eb);
		if (lfd >= 0)
			close(lfd);
		bool ok = rep.outcome == rows[i].out &&
		          (e == FLOE_OK) == (rows[i].out != FLOE_RECOVER_FAILED) &&
		          exists(P5 ".part") == rows[i].part_left;
		uint64_t sum_after = 0;
		long after = -1;
		bool clean = true;
		if (rows[i].out == FLOE_RECOVER_CLOSED || rows[i].out == FLOE_RECOVER_RENAMED) {
			after = records_of(fin, &sum_after);
			struct floe_verify_result v;
			clean = floe_archive_verify_file(fin, NULL, &v, &eb) == FLOE_OK && v.clean &&
			        v.blocks == rows[i].blocks;
			ok = ok && after == rows[i].records && after == before && sum_after == sum_before &&
			     rep.records == (uint64_t)after && strcmp(rep.final, fin) == 0;
		}
		bool no_tmp = !exists("s1/2025/06/13/.s1.20250613T050000Z.floe.recover");
		TAP_CHECK(ok && clean && no_tmp,
		          "recover, %s: outcome %d, %ld records (.part read %ld), %llu blocks, dropped "
		          "%llu bytes, verifies %d %s", rows[i].name, rep.outcome, after, before,
		          (unsigned long long)rep.blocks, (unsigned long long)rep.bytes_dropped, clean,
		          rep.msg);
	}

	/* a directory of them, and the writer's own recovery at start */
	new_root();
	write_period(T0 + 5 * H, 5, 2, true);
	write_period(T0 + 7 * H, 5, 2, true);
	struct floe_errbuf eb = {0};
	int reports = 0;
	TAP_CHECK(floe_archive_recover(root, NULL, NULL, NULL, &eb) == FLOE_OK &&
	              exists(P5) && exists("s1/2025/06/13/s1.20250613T070000Z.floe") &&
	              !exists(P5 ".part"),
	          "recover: every .part of an archive %s", eb.msg);
	(void)reports;
	new_root();
	write_period(T0 + 5 * H, 5, 2, true);
	struct floe_archive *a = open_ar(2, true);
	TAP_CHECK(a && exists(P5) && !exists(P5 ".part"),
	          "writer started with recover closes the stale .part of its instance");
	/* while it writes, its .part is locked: recovery and expiry leave it */
	struct floe_flow f = rec(T0 + 9 * H, T0 + 9 * H + S, 1);
	bool added = a && floe_archive_add(a, &f) == FLOE_OK;
	const char *p9 = at("s1/2025/06/13/s1.20250613T090000Z.floe.part");
	struct floe_recover_report rep;
	enum floe_err e = floe_archive_recover_file(p9, NULL, &rep, &eb);
	struct floe_expire_opts o = {.now = T0 + 100 * D, .keep = D};
	struct floe_expire_result res;
	enum floe_err e2 = floe_archive_expire(root, &o, &res, &eb);
	TAP_CHECK(added && e == FLOE_OK && rep.outcome == FLOE_RECOVER_BUSY && e2 == FLOE_OK &&
	              res.files_busy == 1 && res.files_removed == 1 && access(p9, F_OK) == 0,
	          "a written .part is busy for recover and expire (%llu removed, %llu busy)",
	          (unsigned long long)res.files_removed, (unsigned long long)res.files_busy);
	TAP_CHECK(a && floe_archive_close(a, &eb) == FLOE_OK &&
	              exists("s1/2025/06/13/s1.20250613T090000Z.floe"),
	          "the writer still closes its file %s", eb.msg);
}

/* The writer's own expiry (expire_keep, expire_max_bytes): at create and
 * after each rotation, by the wall clock (these records are from 2025). */
static void test_writer_expiry(void)
{
	static const struct {
		const char *name;
		int64_t keep;
		uint64_t max;
		int left;          /* files left after 3 periods and close */
	} rows[] = {
	    {"no limits", 0, 0, 3},
	    {"keep 1d: each closed file of 2025 goes at the next rotation", D, 0, 1},
	    {"keep a century", 36500 * D, 0, 3},
	    {"max 1 byte: each closed file goes", 0, 1, 1},
	    {"max 1 GiB", 0, 1u << 30, 3},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		new_root();
		/* a stale file from before the writer starts */
		write_period(T0, 3, 0, false);
		struct floe_archive_opts o = {.dir = root, .instance = "s1", .rotate = H,
		                              .expire_keep = rows[i].keep,
		                              .expire_max_bytes = rows[i].max};
		struct floe_errbuf eb = {0};
		struct floe_archive *a = floe_archive_create(&o, &eb);
		bool ok = a != NULL;
		for (int p = 1; ok && p <= 3; p++) {
			struct floe_flow f = rec(T0 + p * H, T0 + p * H + S, 1);
			ok = floe_archive_add(a, &f) == FLOE_OK;
		}
		ok = ok && floe_archive_close(a, &eb) == FLOE_OK;
		struct floe_archive_list l = {0};
		ok = ok && floe_archive_list(&l, root, &eb) == FLOE_OK;
		int want = rows[i].left == 3 ? 4 : rows[i].left;   /* + the stale file */
		TAP_CHECK(ok && (int)l.n == want &&
		              strstr(l.files[l.n - 1].path, "s1.20250613T030000Z.floe"),
		          "writer expiry, %s: %zu files left %s", rows[i].name, l.n, eb.msg);
		floe_archive_list_release(&l);
	}
}

int main(void)
{
	snprintf(top, sizeof(top), "/tmp/floe-maint-XXXXXX");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	test_list();
	test_verify();
	test_expire();
	test_recover();
	test_writer_expiry();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%.40s'", top);
	if (strncmp(top, "/tmp/floe-maint-", 16) == 0 && system(cmd) != 0)
		TAP_DIAG("could not remove %s", top);
	return tap_done();
}
