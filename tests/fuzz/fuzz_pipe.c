/*
 * fuzz_pipe.c - fuzz target for the fed pipe reader (src/lib/codec/pipe.c).
 *
 * The input is a byte stream as it would arrive on a pipe.  Oracle: how
 * the bytes are cut into reads does not change what comes out.  The
 * stream is fed whole, then in pieces of 1..64 bytes (the first byte of
 * the input says how big); both runs must give the same blocks with the
 * same records, then the same final answer (error code, EOF, end of
 * input).
 */
#include "codec/pipe.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	uint64_t records, blocks;
	uint64_t hash;            /* over the records' fields */
	enum floe_err last;       /* the final answer of next() */
	enum floe_err end;
};

static void mix(struct run *r, const struct floe_flow *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = (const uint8_t *)&f[i];
		/* the fields up to dmac have no padding; seq after it */
		size_t head = offsetof(struct floe_flow, dmac) + 6;
		for (size_t k = 0; k < head; k++)
			r->hash = (r->hash ^ p[k]) * 1099511628211ull;
		r->hash = (r->hash ^ f[i].seq) * 1099511628211ull;
	}
}

static void feed(const uint8_t *data, size_t size, size_t piece, struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->hash = 14695981039346656037ull;
	struct floe_errbuf eb = {0};
	struct floe_pipe_reader *p = floe_pipe_reader_create("fuzz", NULL, &eb);
	if (!p)
		abort();
	size_t off = 0;
	enum floe_err e = FLOE_AGAIN;
	while (e == FLOE_AGAIN || e == FLOE_OK) {
		if (e == FLOE_AGAIN) {
			if (off == size)
				break;
			size_t room;
			uint8_t *s = floe_pipe_reader_space(p, piece, &room);
			if (!s)
				abort();
			size_t k = size - off < piece ? size - off : piece;
			if (k > room)
				k = room;
			memcpy(s, data + off, k);
			floe_pipe_reader_commit(p, k);
			off += k;
		}
		const struct floe_flow *recs;
		size_t n;
		e = floe_pipe_reader_next(p, &recs, &n);
		if (e == FLOE_OK) {
			r->blocks++;
			r->records += n;
			mix(r, recs, n);
		}
	}
	r->last = e;
	r->end = e == FLOE_AGAIN ? floe_pipe_reader_end(p) : e;
	if (r->end != FLOE_OK && r->end != FLOE_EOF && !floe_pipe_reader_error(p)[0])
		abort();   /* an error always says why */
	floe_pipe_reader_destroy(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > (1u << 20))
		return 0;
	struct run whole, pieces;
	feed(data, size, size, &whole);
	feed(data, size, (size_t)(data[0] % 64) + 1, &pieces);
	if (whole.records != pieces.records || whole.blocks != pieces.blocks ||
	    whole.hash != pieces.hash || whole.last != pieces.last || whole.end != pieces.end)
		abort();
	return 0;
}
