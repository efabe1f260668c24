/*
 * test_spool.c - the stream server's disk spool (spool.h, docs/stream.md
 * "Spool"): segment header and entry against golden bytes, a table of
 * malformed ones, append and read back in order, a reopened spool keeps
 * its run id and last seq per sensor, a torn tail is cut at the last
 * complete entry, and the bound removes the oldest segments, counted.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/spool.h"
#include "tap.h"

static const uint8_t golden_hdr[FLOE_SPOOL_HDR] = {
	'F', 'L', 'S', 'P', 1, 0, 0, 0,                   /* magic, version 1, 0 */
	0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,   /* run id */
	0x05, 0, 0, 0, 0, 0, 0, 0,                        /* index 5 */
	0x66, 0x81, 0x7f, 0x73, 0, 0, 0, 0,               /* CRC32C of bytes 0..24, 0 */
};

/* an entry: block "ABCD", 3 records, one range (sensor 7, seq 40..42) */
static const uint8_t golden_ent[] = {
	4, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0,               /* block 4 bytes, 1 range, 3 records */
	0x01, 0x9e, 0xde, 0x13,                            /* CRC32C */
	7, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0,
	'A', 'B', 'C', 'D',
};

static void test_golden(void)
{
	uint8_t b[FLOE_SPOOL_HDR];
	struct floe_spool_seghdr h = {0x0102030405060708ull, 5};
	floe_spool_seghdr_encode(&h, b);
	TAP_CHECK(memcmp(b, golden_hdr, sizeof(b)) == 0, "segment header: golden bytes");
	struct floe_spool_seghdr d = {0};
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_spool_seghdr_decode(golden_hdr, sizeof(golden_hdr), &d, &eb) == FLOE_OK &&
	          d.run == h.run && d.index == 5, "segment header decodes: %s", eb.msg);

	struct floe_stream_seen r = {7, 40, 42};
	uint8_t e[sizeof(golden_ent)];
	size_t hl = floe_spool_entry_head(e, &r, 1, (const uint8_t *)"ABCD", 4, 3);
	memcpy(e + hl, "ABCD", 4);
	TAP_CHECK(hl + 4 == sizeof(golden_ent) &&
	          floe_spool_entry_size(1, 4) == sizeof(golden_ent) &&
	          memcmp(e, golden_ent, sizeof(e)) == 0, "entry: golden bytes");
	struct floe_spool_entry en;
	size_t need;
	TAP_CHECK(floe_spool_entry_decode(golden_ent, sizeof(golden_ent), &en, &need, &eb) ==
	                  FLOE_OK && en.nrec == 3 && en.nranges == 1 && en.block_len == 4 &&
	                  memcmp(en.block, "ABCD", 4) == 0 && en.len == sizeof(golden_ent) &&
	                  floe_stream_seen_entry(en.ranges, 0).last == 42,
	          "entry decodes: %s", eb.msg);
	for (size_t cut = 0; cut < sizeof(golden_ent); cut++) {
		enum floe_err x = floe_spool_entry_decode(golden_ent, cut, &en, &need, &eb);
		if (x != FLOE_TRUNCATED || need != (cut < 16 ? 16 : sizeof(golden_ent))) {
			TAP_CHECK(0, "entry cut at %zu: TRUNCATED, need %zu", cut, need);
			return;
		}
	}
	TAP_CHECK(1, "an entry cut anywhere is TRUNCATED with the bytes it needs");
}

struct bad {
	const char *name;
	size_t at;          /* byte to change */
	uint8_t v;
	bool hdr;           /* the segment header, else the entry */
	enum floe_err want;
};

static const struct bad bads[] = {
	{"header: magic", 0, 'X', true, FLOE_MALFORMED},
	{"header: version 2", 4, 2, true, FLOE_CHECKSUM},
	{"header: run id bit", 9, 0xff, true, FLOE_CHECKSUM},
	{"header: checksum", 24, 0, true, FLOE_CHECKSUM},
	{"header: reserved", 29, 1, true, FLOE_MALFORMED},
	{"entry: block length 0", 0, 0, false, FLOE_MALFORMED},
	{"entry: block past 64 MiB", 3, 0x10, false, FLOE_MALFORMED},
	{"entry: 1025 ranges", 5, 4, false, FLOE_MALFORMED},
	{"entry: checksum", 12, 0, false, FLOE_CHECKSUM},
	{"entry: a block byte", 40, 'X', false, FLOE_CHECKSUM},
	{"entry: a range byte", 24, 50, false, FLOE_CHECKSUM},
};

static void test_malformed(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *t = &bads[i];
		uint8_t b[64];
		size_t len = t->hdr ? sizeof(golden_hdr) : sizeof(golden_ent);
		memcpy(b, t->hdr ? golden_hdr : golden_ent, len);
		b[t->at] = t->v;
		struct floe_errbuf eb = {0};
		enum floe_err x;
		if (t->hdr) {
			struct floe_spool_seghdr h;
			x = floe_spool_seghdr_decode(b, len, &h, &eb);
		} else {
			struct floe_spool_entry e;
			size_t need;
			x = floe_spool_entry_decode(b, len, &e, &need, &eb);
		}
		TAP_CHECK(x == t->want, "%s: %s (%s)", t->name, floe_strerror(x), eb.msg);
	}
	/* a range with first > last, checksum made right */
	struct floe_stream_seen r = {7, 43, 42};
	uint8_t e[sizeof(golden_ent)];
	size_t hl = floe_spool_entry_head(e, &r, 1, (const uint8_t *)"ABCD", 4, 3);
	memcpy(e + hl, "ABCD", 4);
	struct floe_spool_entry en;
	size_t need;
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_spool_entry_decode(e, sizeof(e), &en, &need, &eb) == FLOE_MALFORMED,
	          "entry: range first > last is MALFORMED (%s)", eb.msg);
}

static char dir[64];

static struct floe_spool *open_spool(uint64_t max, uint64_t run)
{
	struct floe_errbuf eb = {0};
	struct floe_spool_opts o = {.dir = dir, .max_bytes = max, .run = run};
	struct floe_spool *sp = floe_spool_open(&o, &eb);
	if (!sp)
		TAP_DIAG("open: %s", eb.msg);
	return sp;
}

/* Appends block i: 100 records of sensor 3, seq 100 i + 1 .. 100 i + 100,
 * the block's bytes a pattern of i. */
static bool append(struct floe_spool *sp, unsigned i, size_t len)
{
	uint8_t blk[4096];
	memset(blk, (int)(i & 0xff), len);
	memcpy(blk, &i, sizeof(i));
	struct floe_stream_seen r = {3, 100ull * i + 1, 100ull * i + 100};
	struct floe_errbuf eb = {0};
	return floe_spool_append(sp, blk, len, 100, &r, 1, &eb) == FLOE_OK;
}

/* Reads every entry: their block numbers in out; returns how many, or -1. */
static int read_all(struct floe_spool_reader *rd, unsigned *out, int cap)
{
	int n = 0;
	for (;;) {
		struct floe_spool_entry e;
		struct floe_errbuf eb = {0};
		enum floe_err x = floe_spool_reader_next(rd, &e, &eb);
		if (x == FLOE_EOF)
			return n;
		if (x != FLOE_OK || n == cap || e.block_len < sizeof(unsigned))
			return -1;
		memcpy(&out[n++], e.block, sizeof(unsigned));
	}
}

static bool in_order(const unsigned *v, int n, unsigned first)
{
	for (int i = 0; i < n; i++)
		if (v[i] != first + (unsigned)i)
			return false;
	return true;
}

static void test_spool(void)
{
	snprintf(dir, sizeof(dir), "/tmp/floe-spool-XXXXXX");
	if (!mkdtemp(dir)) {
		TAP_CHECK(0, "mkdtemp");
		return;
	}
	/* append, read back, read on after more appends */
	struct floe_spool *sp = open_spool(1 << 20, 77);
	TAP_CHECK(sp && floe_spool_run(sp) == 77, "a new spool takes the run id given");
	if (!sp)
		return;
	bool ok = true;
	for (unsigned i = 0; i < 10; i++)
		ok &= append(sp, i, 1000);
	struct floe_spool_reader *rd = floe_spool_reader_create(sp);
	unsigned got[4096];
	int n = read_all(rd, got, 4096);
	TAP_CHECK(ok && n == 10 && in_order(got, n, 0), "10 blocks read back in order (%d)", n);
	for (unsigned i = 10; i < 15; i++)
		ok &= append(sp, i, 1000);
	n = read_all(rd, got, 4096);
	TAP_CHECK(ok && n == 5 && in_order(got, n, 10), "the reader goes on with what follows");
	floe_spool_reader_destroy(rd);
	floe_spool_close(sp);

	/* reopened: the same run, the last seq, everything readable */
	sp = open_spool(1 << 20, 99);
	struct floe_stream_resume last[4];
	size_t nl = sp ? floe_spool_last(sp, last, 4) : 0;
	TAP_CHECK(sp && floe_spool_run(sp) == 77 && nl == 1 && last[0].sensor == 3 &&
	          last[0].seq == 1500, "reopened: run 77 kept, sensor 3 at seq 1500");
	if (!sp)
		return;
	ok = append(sp, 15, 1000);
	rd = floe_spool_reader_create(sp);
	n = read_all(rd, got, 4096);
	TAP_CHECK(ok && n == 16 && in_order(got, n, 0), "old and new segments read in order");
	floe_spool_reader_destroy(rd);
	floe_spool_close(sp);
	uint64_t run = 0;
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_spool_peek(dir, last, 4, &nl, &run, &eb) == FLOE_OK && run == 77 &&
	          nl == 1 && last[0].seq == 1600, "peek: run and last seq without opening");

	/* a torn tail: the newest segment loses the last 10 bytes */
	char path[128];
	snprintf(path, sizeof(path), "%s/%016x.spool", dir, 2);
	struct stat sb;
	if (stat(path, &sb) != 0 || truncate(path, sb.st_size - 10) != 0) {
		TAP_CHECK(0, "cannot cut '%s'", path);
		return;
	}
	sp = open_spool(1 << 20, 99);
	struct floe_spool_stats st = {0};
	if (sp)
		floe_spool_stats(sp, &st);
	nl = sp ? floe_spool_last(sp, last, 4) : 0;
	TAP_CHECK(sp && st.cut_bytes == 1000 + 40 - 10 && nl == 1 && last[0].seq == 1500,
	          "a torn tail is cut at its last complete block (%llu bytes)",
	          (unsigned long long)st.cut_bytes);
	if (!sp)
		return;
	rd = floe_spool_reader_create(sp);
	n = read_all(rd, got, 4096);
	TAP_CHECK(n == 15 && in_order(got, n, 0), "after the cut: blocks 0..14 (%d)", n);
	floe_spool_reader_destroy(rd);
	floe_spool_close(sp);

	/* garbage after a complete block: cut too */
	snprintf(path, sizeof(path), "%s/%016x.spool", dir, 3);
	int fd = open(path, O_WRONLY | O_APPEND);
	ok = fd >= 0 && write(fd, "garbage!garbage!garbage!", 24) == 24;
	if (fd >= 0)
		close(fd);
	sp = open_spool(1 << 20, 99);
	if (sp)
		floe_spool_stats(sp, &st);
	TAP_CHECK(ok && sp && st.cut_bytes == 24 && st.found_records == 1500,
	          "bytes that are no entry are cut (%llu)", (unsigned long long)st.cut_bytes);
	floe_spool_close(sp);

	/* the bound: 64 KiB, segments of 64 KiB: the oldest are removed, and
	 * what is left plus what was removed is what was written */
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.spool", dir);
	if (system(cmd) != 0)
		TAP_DIAG("rm failed");
	sp = open_spool(64 << 10, 5);
	if (!sp)
		return;
	rd = floe_spool_reader_create(sp);
	ok = append(sp, 0, 4000) && read_all(rd, got, 4096) == 1;
	for (unsigned i = 1; i < 20; i++)
		ok &= append(sp, i, 4000);
	n = read_all(rd, got, 4096);   /* its segment was removed, but is open: all of it */
	TAP_CHECK(ok && n == 19 && in_order(got, n, 1), "a reader keeps its segment (%d)", n);
	for (unsigned i = 20; i < 200; i++)
		ok &= append(sp, i, 4000);
	floe_spool_stats(sp, &st);
	struct floe_spool_reader *r2 = floe_spool_reader_create(sp);
	n = read_all(r2, got, 4096);
	TAP_CHECK(ok && st.dropped_blocks > 0 && n > 0 &&
	          st.dropped_records == 100ull * (200 - (unsigned)n) &&
	          in_order(got, n, 200 - (unsigned)n) && st.bytes <= (64u << 10) + 4100 + 32,
	          "past the bound the oldest are removed and counted (%llu records, %d blocks "
	          "left, %llu bytes)", (unsigned long long)st.dropped_records, n,
	          (unsigned long long)st.bytes);
	/* the first reader: its segment was removed under it, then it skips
	 * to the oldest left */
	int n1 = read_all(rd, got, 4096);
	bool jumped = false;
	for (int i = 1; i < n1; i++)
		jumped |= got[i] != got[i - 1] + 1;
	TAP_CHECK(n1 > 0 && got[0] == 20 && got[n1 - 1] == 199 && jumped,
	          "a reader behind the bound reads its open segment, then skips what was "
	          "removed (%d blocks)", n1);
	floe_spool_reader_destroy(rd);
	floe_spool_reader_destroy(r2);
	floe_spool_close(sp);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		TAP_DIAG("rm failed");
}

int main(void)
{
	test_golden();
	test_malformed();
	test_spool();
	return tap_done();
}
