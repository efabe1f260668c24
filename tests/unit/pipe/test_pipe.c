/*
 * test_pipe.c - the fed pipe reader (src/lib/codec/pipe.h) against the
 * file reader: the golden files of tests/data/codec and files written
 * here read the same fed whole or byte by byte; cut, damaged and foreign
 * input gives the documented answers.
 */
#include "codec/codec.h"
#include "codec/pipe.h"
#include "tap.h"
#include "testutil.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct recs {
	struct floe_flow *v;
	size_t n, cap;
	uint64_t blocks, damaged;
	enum floe_err last, end;
};

static void add(struct recs *r, const struct floe_flow *f, size_t n)
{
	if (r->n + n > r->cap) {
		r->cap = (r->n + n) * 2;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
	}
	memcpy(r->v + r->n, f, n * sizeof(*f));
	r->n += n;
}

static bool same(const struct recs *a, const struct recs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (memcmp(&a->v[i], &b->v[i], offsetof(struct floe_flow, dmac) + 6) != 0 ||
		    a->v[i].seq != b->v[i].seq)
			return false;
	return true;
}

/* Feeds data in pieces of piece bytes. */
static void by_pipe(const uint8_t *data, size_t len, size_t piece, struct recs *r)
{
	memset(r, 0, sizeof(*r));
	struct floe_errbuf eb = {0};
	struct floe_pipe_reader *p = floe_pipe_reader_create("test", NULL, &eb);
	size_t off = 0;
	enum floe_err e = FLOE_AGAIN;
	while (e == FLOE_AGAIN || e == FLOE_OK) {
		if (e == FLOE_AGAIN) {
			if (off == len)
				break;
			size_t room, k = len - off < piece ? len - off : piece;
			uint8_t *s = floe_pipe_reader_space(p, k, &room);
			memcpy(s, data + off, k);
			floe_pipe_reader_commit(p, k);
			off += k;
		}
		const struct floe_flow *f;
		size_t n;
		if ((e = floe_pipe_reader_next(p, &f, &n)) == FLOE_OK)
			add(r, f, n);
	}
	r->last = e;
	r->end = e == FLOE_AGAIN ? floe_pipe_reader_end(p) : e;
	struct floe_pipe_stats st;
	floe_pipe_reader_stats(p, &st);
	r->blocks = st.blocks;
	r->damaged = st.blocks_damaged;
	floe_pipe_reader_destroy(p);
}

static void by_file(const char *path, struct recs *r)
{
	memset(r, 0, sizeof(*r));
	struct floe_errbuf eb = {0};
	struct floe_reader *rd = floe_reader_open(path, NULL, &eb);
	const struct floe_flow *f;
	size_t n;
	while (rd && floe_reader_next(rd, &f, &n) == FLOE_OK)
		add(r, f, n);
	floe_reader_close(rd);
}

/* A file of n records in blocks of per records. */
static void write_file(const char *path, size_t n, uint32_t per)
{
	struct floe_errbuf eb = {0};
	struct floe_writer_opts wo = {.instance = "pipe", .block_records = per};
	struct floe_writer *w = floe_writer_open(path, &wo, &eb);
	for (size_t i = 0; i < n; i++) {
		struct floe_flow f = {0};
		f.stime = 1749794400000000000LL + (int64_t)i * 1000003;
		f.ltime = f.stime + (int64_t)(i % 17) * 1000;
		f.saddr[10] = f.saddr[11] = 0xff;
		f.saddr[15] = (uint8_t)i;
		f.daddr[15] = 9;
		f.proto = 6;
		f.ipver = 4;
		f.sport = (uint16_t)(1024 + i);
		f.dport = 443;
		f.spkts = i + 1;
		f.sbytes = 60 * (i + 1);
		f.seq = i + 1;
		(void)!floe_writer_add(w, &f);
	}
	TAP_CHECK(floe_writer_close(w, &eb) == FLOE_OK, "write %s", path);
}

static void whole_and_pieces(const char *path, const char *what)
{
	size_t len;
	uint8_t *data = (uint8_t *)test_slurp(path, &len);
	TAP_CHECK(data != NULL, "%s: read", what);
	if (!data)
		return;
	struct recs f, w, one, odd;
	by_file(path, &f);
	by_pipe(data, len, len, &w);
	by_pipe(data, len, 1, &one);
	by_pipe(data, len, 4093, &odd);
	TAP_CHECK(f.n > 0 && same(&f, &w) && w.last == FLOE_EOF && w.end == FLOE_EOF,
	          "%s: whole, as the file reader (%zu records)", what, f.n);
	TAP_CHECK(same(&f, &one) && one.blocks == w.blocks && one.last == FLOE_EOF,
	          "%s: byte by byte the same", what);
	TAP_CHECK(same(&f, &odd) && odd.last == FLOE_EOF, "%s: 4093 bytes at a time the same", what);
	/* cut anywhere: whole blocks only, TRUNCATED unless at a boundary */
	bool ok = true;
	for (size_t cut = 0; cut < len; cut += len / 97 + 1) {
		struct recs c;
		by_pipe(data, cut, 512, &c);
		ok = ok && c.n <= f.n && same(&(struct recs){.v = f.v, .n = c.n}, &c);
		ok = ok && (c.end == FLOE_OK || c.end == FLOE_TRUNCATED || c.end == FLOE_EOF);
		free(c.v);
	}
	TAP_CHECK(ok, "%s: cut anywhere, a prefix of whole blocks", what);
	free(f.v);
	free(w.v);
	free(one.v);
	free(odd.v);
	free(data);
}

int main(void)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/codec/v1-sample.floe", test_data_dir());
	whole_and_pieces(path, "v1-sample.floe (golden)");
	snprintf(path, sizeof(path), "%s/codec/v1-sample-af.floe", test_data_dir());
	whole_and_pieces(path, "v1-sample-af.floe (golden)");

	char tmp[] = "/tmp/floe-pipe-XXXXXX";
	int fd = mkstemp(tmp);
	close(fd);
	write_file(tmp, 5000, 300);
	whole_and_pieces(tmp, "5000 records in blocks of 300");

	size_t len;
	uint8_t *data = (uint8_t *)test_slurp(tmp, &len);
	struct recs r;

	/* after the footer: EOF, the rest dropped */
	uint8_t *more = malloc(len + 100);
	memcpy(more, data, len);
	memset(more + len, 'x', 100);
	by_pipe(more, len + 100, 1000, &r);
	TAP_CHECK(r.n == 5000 && r.last == FLOE_EOF, "bytes after the footer are dropped");
	free(r.v);
	free(more);

	/* a payload byte of block 2 flipped: that block skipped, the rest read */
	uint8_t *bad = malloc(len);
	memcpy(bad, data, len);
	/* the third block: its frame magic (no record holds these bytes) */
	uint64_t off2 = 0;
	unsigned seen = 0;
	for (size_t i = 0; i + 4 <= len; i++)
		if (memcmp(bad + i, "FLBK", 4) == 0 && ++seen == 3) {
			off2 = i;
			break;
		}
	bad[off2 + 200] ^= 0x55;
	by_pipe(bad, len, 777, &r);
	TAP_CHECK(r.damaged == 1 && r.n == 5000 - 300 && r.last == FLOE_EOF,
	          "a damaged block is skipped, the others read (%zu records, %llu damaged)", r.n,
	          (unsigned long long)r.damaged);
	free(r.v);

	/* foreign, newer, damaged header */
	by_pipe((const uint8_t *)"GIF89a....", 10, 10, &r);
	TAP_CHECK(r.n == 0 && r.last == FLOE_MALFORMED, "not a floe file: MALFORMED");
	memcpy(bad, data, len);
	bad[4] = 9;
	by_pipe(bad, len, len, &r);
	TAP_CHECK(r.n == 0 && r.last == FLOE_UNSUPPORTED, "a newer major version: UNSUPPORTED");
	memcpy(bad, data, len);
	bad[100] ^= 1;
	by_pipe(bad, len, len, &r);
	TAP_CHECK(r.n == 0 && r.last == FLOE_CHECKSUM, "a header failing its CRC: CHECKSUM");
	/* a frame header that does not parse: the stream cannot be followed */
	memcpy(bad, data, len);
	bad[off2] = 'X';
	by_pipe(bad, len, len, &r);
	TAP_CHECK(r.n == 600 && r.last == FLOE_MALFORMED, "a broken frame stops the stream after "
	          "the blocks before it (%zu)", r.n);
	free(r.v);
	by_pipe(data, 0, 1, &r);
	TAP_CHECK(r.n == 0 && r.end == FLOE_OK, "no input at all: an empty stream");
	free(bad);
	free(data);
	unlink(tmp);
	return tap_done();
}
