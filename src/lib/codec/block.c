/*
 * block.c - one block: the column table, column encodings, the summary
 * (Bloom filter, port ranges, protocol bitmap) and the frame around them.
 * docs/format.md is the spec; this file must stay byte-for-byte with it.
 *
 * Every byte of a block is read through a checked cursor (util/cursor.h);
 * a column's slice is taken through the cursor and its decoder never reads
 * outside that slice.
 */
#include "codec_int.h"

#include <stddef.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/mem.h"

/* ---- the column table (format.md "Column table") ---- */

enum col_kind { KIND_U, KIND_I, KIND_BYTES };

struct col_desc {
	uint16_t id;
	uint16_t off;     /* in struct floe_flow */
	uint8_t width;    /* on disk, bytes; equal to the field's size */
	uint8_t kind;
	uint8_t enc;      /* what the writer uses by default */
};

/* The pinned width must equal the field's size: a mismatch does not
 * compile (negative array size). */
#define COL(id, field, width, kind, enc)                                                     \
	{id, (uint16_t)offsetof(struct floe_flow, field),                                   \
	 (uint8_t)((width) + 0 * sizeof(char[sizeof(((struct floe_flow *)0)->field) == (width) ? 1 : -1])), \
	 kind, enc}

static const struct col_desc col_table[] = {
	COL(1, stime, 8, KIND_I, FLOE_ENC_DELTA),
	COL(2, ltime, 8, KIND_I, FLOE_ENC_DELTA_STIME),
	COL(3, saddr, 16, KIND_BYTES, FLOE_ENC_ADDR),
	COL(4, daddr, 16, KIND_BYTES, FLOE_ENC_ADDR),
	COL(5, spkts, 8, KIND_U, FLOE_ENC_VARINT),
	COL(6, dpkts, 8, KIND_U, FLOE_ENC_VARINT),
	COL(7, sbytes, 8, KIND_U, FLOE_ENC_VARINT),
	COL(8, dbytes, 8, KIND_U, FLOE_ENC_VARINT),
	COL(9, sappbytes, 8, KIND_U, FLOE_ENC_VARINT),
	COL(10, dappbytes, 8, KIND_U, FLOE_ENC_VARINT),
	COL(11, synack, 8, KIND_I, FLOE_ENC_ZIGZAG),
	COL(12, ackdat, 8, KIND_I, FLOE_ENC_ZIGZAG),
	COL(13, sretrans, 4, KIND_U, FLOE_ENC_VARINT),
	COL(14, dretrans, 4, KIND_U, FLOE_ENC_VARINT),
	COL(15, sooo, 4, KIND_U, FLOE_ENC_VARINT),
	COL(16, dooo, 4, KIND_U, FLOE_ENC_VARINT),
	COL(17, trans, 4, KIND_U, FLOE_ENC_VARINT),
	COL(18, sensor, 4, KIND_U, FLOE_ENC_VARINT),
	COL(19, inif, 4, KIND_U, FLOE_ENC_VARINT),
	COL(20, outif, 4, KIND_U, FLOE_ENC_VARINT),
	COL(21, sas, 4, KIND_U, FLOE_ENC_VARINT),
	COL(22, das, 4, KIND_U, FLOE_ENC_VARINT),
	COL(23, sampling, 4, KIND_U, FLOE_ENC_VARINT),
	COL(24, sport, 2, KIND_U, FLOE_ENC_FIXED),
	COL(25, dport, 2, KIND_U, FLOE_ENC_FIXED),
	COL(26, etype, 2, KIND_U, FLOE_ENC_FIXED),
	COL(27, vlan, 2, KIND_U, FLOE_ENC_FIXED),
	COL(28, flags, 2, KIND_U, FLOE_ENC_FIXED),
	COL(29, proto, 1, KIND_U, FLOE_ENC_FIXED),
	COL(30, ipver, 1, KIND_U, FLOE_ENC_FIXED),
	COL(31, state, 1, KIND_U, FLOE_ENC_FIXED),
	COL(32, stcpflags, 1, KIND_U, FLOE_ENC_FIXED),
	COL(33, dtcpflags, 1, KIND_U, FLOE_ENC_FIXED),
	COL(34, sttlmin, 1, KIND_U, FLOE_ENC_FIXED),
	COL(35, sttlmax, 1, KIND_U, FLOE_ENC_FIXED),
	COL(36, dttlmin, 1, KIND_U, FLOE_ENC_FIXED),
	COL(37, dttlmax, 1, KIND_U, FLOE_ENC_FIXED),
	COL(38, stos, 1, KIND_U, FLOE_ENC_FIXED),
	COL(39, dtos, 1, KIND_U, FLOE_ENC_FIXED),
	COL(40, smac, 6, KIND_BYTES, FLOE_ENC_FIXED),
	COL(41, dmac, 6, KIND_BYTES, FLOE_ENC_FIXED),
	COL(42, exporter, 16, KIND_BYTES, FLOE_ENC_ADDR),
	COL(43, nexthop, 16, KIND_BYTES, FLOE_ENC_ADDR),
	COL(44, seq, 8, KIND_U, FLOE_ENC_DELTA),
};
#define NCOLS (sizeof(col_table) / sizeof(col_table[0]))
_Static_assert(NCOLS == FLOE_COL_MAX, "column ids are 1..FLOE_COL_MAX, dense");

/* Column directory entry: u16 id, u8 encoding, u8 reserved, u32 length. */
#define DIR_HDR 4
#define DIR_ENT 8

static const struct col_desc *col_by_id(unsigned id)
{
	/* ids are dense and in order: col_table[id - 1] */
	return id >= 1 && id <= NCOLS ? &col_table[id - 1] : NULL;
}

static bool enc_allowed(const struct col_desc *c, unsigned enc)
{
	switch (enc) {
	case FLOE_ENC_FIXED:
	case FLOE_ENC_CONST:
		return true;
	case FLOE_ENC_VARINT:
	case FLOE_ENC_ZIGZAG:
	case FLOE_ENC_DELTA:
		return c->kind != KIND_BYTES;
	case FLOE_ENC_DELTA_STIME:
		return c->id == 2;
	case FLOE_ENC_ADDR:
		return c->kind == KIND_BYTES && c->width == 16;
	}
	return false;
}

/* ---- small helpers ---- */

static inline uint64_t zz_enc(uint64_t v)
{
	return (v << 1) ^ (uint64_t)-(int64_t)(v >> 63);
}

static inline uint64_t zz_dec(uint64_t v)
{
	return (v >> 1) ^ (uint64_t)-(int64_t)(v & 1);
}

static inline uint8_t *put_varint(uint8_t *o, uint64_t v)
{
	while (v >= 0x80) {
		*o++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t)v;
	return o;
}

/* LEB128 through the cursor: at most 10 bytes, the tenth may carry only
 * the top bit.  Marks the cursor bad on a short or overlong varint. */
static inline uint64_t cur_varint(struct floe_cursor *c)
{
	if (floe_cur_left(c) >= 10) {
		/* fast path: all 10 bytes a varint may span are in bounds */
		const uint8_t *q = c->p + c->off;
		uint64_t v = q[0];
		if (v < 0x80) {
			c->off += 1;
			return v;
		}
		v &= 0x7f;
		for (unsigned i = 1; i < 10; i++) {
			uint64_t b = q[i];
			v |= (b & 0x7f) << (7 * i);
			if (b < 0x80) {
				if (i == 9 && b > 1)
					break;
				c->off += i + 1;
				return v;
			}
		}
		c->bad = true;
		return 0;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < 10; i++) {
		uint64_t b = floe_cur_u8(c);
		if (c->bad)
			return 0;
		v |= (b & 0x7f) << (7 * i);
		if (b < 0x80) {
			if (i == 9 && b > 1)
				break;
			return v;
		}
	}
	c->bad = true;
	return 0;
}

/* Portable popcount (the baseline x86-64 has no popcnt instruction, and
 * the compiler's fallback is a call). */
static inline size_t popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (size_t)((x * 0x0101010101010101ull) >> 56);
}

static uint64_t get_le(const uint8_t *p, unsigned w)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < w; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned w)
{
	for (unsigned i = 0; i < w; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}


/* Records per decoding tile (see col_tile). */
#define TILE 512

/* ---- Bloom filter (format.md "Bloom filter") ---- */

static inline uint64_t mix64(uint64_t x)
{
	/* the splitmix64 finalizer (Steele, Lea, Flood 2014) */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9u;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebu;
	x ^= x >> 31;
	return x;
}

uint64_t floe_bloom_hash(const uint8_t addr[16])
{
	return mix64(mix64(get_le(addr, 8) ^ 0x9e3779b97f4a7c15u) ^ get_le(addr + 8, 8));
}

static inline uint64_t bloom_pos(uint64_t h, unsigned i, uint64_t m)
{
	uint64_t h1 = (uint32_t)h, h2 = (h >> 32) | 1;
	return (h1 + i * h2) % m;
}

bool floe_block_may_contain(const struct floe_block_summary *s, const uint8_t addr[16])
{
	if (!s->bloom || s->bloom_bits == 0 || s->bloom_k == 0)
		return true;
	uint64_t h = floe_bloom_hash(addr);
	for (unsigned i = 0; i < s->bloom_k; i++) {
		uint64_t b = bloom_pos(h, i, s->bloom_bits);
		if (!(s->bloom[b >> 3] & (1u << (b & 7))))
			return false;
	}
	return true;
}

/* ---- address filter (format.md "Address filter") ---- */

uint32_t floe_af_key(const uint8_t addr[16])
{
	uint64_t h = floe_bloom_hash(addr);
	return (uint32_t)h ^ (uint32_t)(h >> 32);
}

uint32_t floe_af_page(uint32_t key, uint32_t pages)
{
	return (uint32_t)(mix64(mix64(key)) % pages);
}

void floe_af_set(uint8_t *page, uint32_t page_bytes, unsigned k, uint32_t key)
{
	uint64_t g = mix64(key);
	for (unsigned i = 0; i < k; i++) {
		uint64_t b = bloom_pos(g, i, 8ull * page_bytes);
		page[b >> 3] |= (uint8_t)(1u << (b & 7));
	}
}

bool floe_af_test(const uint8_t *page, uint32_t page_bytes, unsigned k, uint32_t key)
{
	uint64_t g = mix64(key);
	for (unsigned i = 0; i < k; i++) {
		uint64_t b = bloom_pos(g, i, 8ull * page_bytes);
		if (!(page[b >> 3] & (1u << (b & 7))))
			return false;
	}
	return true;
}

/* ---- encoding ---- */

enum floe_err floe_enc_init(struct floe_enc *e, int level)
{
	memset(e, 0, sizeof(*e));
	e->level = level ? level : 1;
	e->codec = FLOE_CODEC_ZSTD;
	e->zc = ZSTD_createCCtx();
	if (!e->zc)
		return FLOE_NOMEM;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(e->zc, ZSTD_c_compressionLevel, e->level))) {
		ZSTD_freeCCtx(e->zc);
		e->zc = NULL;
		return FLOE_INVALID;
	}
	return FLOE_OK;
}

void floe_enc_release(struct floe_enc *e)
{
	ZSTD_freeCCtx(e->zc);
	floe_free(NULL, e->raw, e->raw_cap);
	floe_free(NULL, e->frame, e->frame_cap);
	floe_free(NULL, e->tmp, e->tmp_cap * sizeof(uint64_t));
	floe_free(NULL, e->hset, e->hset_cap * sizeof(uint64_t));
	floe_free(NULL, e->hlist, e->hlist_cap * sizeof(uint64_t));
	floe_free(NULL, e->cols, e->cols_cap);
	memset(e, 0, sizeof(*e));
}

/* Writes one integer column's data at o; returns its end. */
static uint8_t *enc_ints(uint8_t *o, const uint64_t *v, const uint64_t *stime, size_t n,
                         unsigned width, unsigned enc)
{
	uint64_t prev = 0;
	switch (enc) {
	case FLOE_ENC_FIXED:
		for (unsigned b = 0; b < width; b++)
			for (size_t i = 0; i < n; i++)
				*o++ = (uint8_t)(v[i] >> (8 * b));
		break;
	case FLOE_ENC_VARINT:
		for (size_t i = 0; i < n; i++)
			o = put_varint(o, v[i]);
		break;
	case FLOE_ENC_ZIGZAG:
		for (size_t i = 0; i < n; i++)
			o = put_varint(o, zz_enc(v[i]));
		break;
	case FLOE_ENC_DELTA:
		for (size_t i = 0; i < n; i++) {
			o = put_varint(o, zz_enc(v[i] - prev));
			prev = v[i];
		}
		break;
	case FLOE_ENC_DELTA_STIME:
		for (size_t i = 0; i < n; i++)
			o = put_varint(o, zz_enc(v[i] - stime[i]));
		break;
	case FLOE_ENC_CONST:
		put_le(o, v[0], width);
		o += width;
		break;
	}
	return o;
}

/* col: the column's n values of c->width bytes each, contiguous. */
static uint8_t *enc_bytes(uint8_t *o, const uint8_t *col, size_t n, const struct col_desc *c,
                          unsigned enc)
{
	const size_t w = c->width;
	if (enc == FLOE_ENC_CONST) {
		memcpy(o, col, w);
		return o + w;
	}
	if (enc == FLOE_ENC_FIXED) {
		for (unsigned b = 0; b < w; b++)
			for (size_t i = 0; i < n; i++)
				*o++ = col[i * w + b];
		return o;
	}
	/* FLOE_ENC_ADDR: bitmap, then v4 addresses in 4 planes, then v6
	 * addresses in 16 planes */
	size_t bm = (n + 7) / 8, n4 = 0;
	memset(o, 0, bm);
	for (size_t i = 0; i < n; i++)
		if (floe_addr_is_v4(col + i * 16)) {
			o[i >> 3] |= (uint8_t)(1u << (i & 7));
			n4++;
		}
	uint8_t *p4 = o + bm, *p6 = p4 + 4 * n4;
	size_t n6 = n - n4, i4 = 0, i6 = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *a = col + i * 16;
		if (o[i >> 3] & (1u << (i & 7))) {
			for (unsigned b = 0; b < 4; b++)
				p4[b * n4 + i4] = a[12 + b];
			i4++;
		} else {
			for (unsigned b = 0; b < 16; b++)
				p6[b * n6 + i6] = a[b];
			i6++;
		}
	}
	return p6 + 16 * n6;
}

/* x mod m for x < 2^32 without a division, inv = 2^64 / m: the quotient
 * estimate below is exact or one less. */
static inline uint64_t mod_small(uint64_t x, uint64_t m, uint64_t inv)
{
	uint64_t r = x - (uint64_t)(((unsigned __int128)x * inv) >> 64) * m;
	return r >= m ? r - m : r;
}

/* Builds the summary into o (room for BS_LEN + bloom); returns its length. */
static enum floe_err build_summary(struct floe_enc *e, const uint8_t *const *col, size_t n,
                                   uint8_t **out, size_t *len)
{
	uint16_t spmin = UINT16_MAX, spmax = 0, dpmin = UINT16_MAX, dpmax = 0;
	uint8_t proto[32] = {0};
	const uint8_t *sp = col[24 - 1], *dp = col[25 - 1], *pr = col[29 - 1];
	for (size_t i = 0; i < n; i++) {
		uint16_t s, d;
		memcpy(&s, sp + 2 * i, 2);
		memcpy(&d, dp + 2 * i, 2);
		spmin = s < spmin ? s : spmin;
		spmax = s > spmax ? s : spmax;
		dpmin = d < dpmin ? d : dpmin;
		dpmax = d > dpmax ? d : dpmax;
		proto[pr[i] >> 3] |= (uint8_t)(1u << (pr[i] & 7));
	}
	/* distinct address hashes: open addressing, 0 marks a free slot (an
	 * address hashing to 0 is kept aside); the distinct ones are also
	 * listed in e->hlist, in the order first seen.  The hashes are made
	 * a tile ahead so each probe's slot can be prefetched. */
	size_t cap = 1;
	while (cap < 4 * n)
		cap <<= 1;
	if (!floe_grow(NULL, (void **)&e->hset, &e->hset_cap, cap, sizeof(uint64_t), 4096) ||
	    !floe_grow(NULL, (void **)&e->hlist, &e->hlist_cap, 2 * n + 1, sizeof(uint64_t), 4096))
		return FLOE_NOMEM;
	memset(e->hset, 0, cap * sizeof(uint64_t));
	size_t distinct = 0;
	bool zero = false;
	enum { AHEAD = 64 };
	uint64_t hs[AHEAD];
	for (size_t i0 = 0; i0 < 2 * n; i0 += AHEAD) {
		size_t k = 2 * n - i0 < AHEAD ? 2 * n - i0 : AHEAD;
		for (size_t j = 0; j < k; j++) {
			size_t i = i0 + j;
			const uint8_t *a = (i & 1 ? col[4 - 1] : col[3 - 1]) + 16 * (i >> 1);
			uint64_t h = floe_bloom_hash(a);
			hs[j] = h;
			__builtin_prefetch(&e->hset[(size_t)(h ^ (h >> 29)) & (cap - 1)], 1);
		}
		for (size_t j = 0; j < k; j++) {
			uint64_t h = hs[j];
			if (h == 0) {
				zero = true;
				continue;
			}
			size_t s = (size_t)(h ^ (h >> 29)) & (cap - 1);
			while (e->hset[s] && e->hset[s] != h)
				s = (s + 1) & (cap - 1);
			if (!e->hset[s]) {
				e->hset[s] = h;
				e->hlist[distinct++] = h;
			}
		}
	}
	if (zero)
		e->hlist[distinct++] = 0;
	e->nhlist = distinct;
	uint64_t m = (distinct * FLOE_BLOOM_BITS_PER_ADDR + 63) / 64 * 64;
	if (m < 64)
		m = 64;
	size_t slen = BS_LEN + (size_t)(m / 8);
	uint8_t *o = *out;
	memset(o, 0, slen);
	floe_put_le16(o + BS_SPORT_MIN, spmin);
	floe_put_le16(o + BS_SPORT_MAX, spmax);
	floe_put_le16(o + BS_DPORT_MIN, dpmin);
	floe_put_le16(o + BS_DPORT_MAX, dpmax);
	memcpy(o + BS_PROTO, proto, 32);
	floe_put_le32(o + BS_BLOOM_BITS, (uint32_t)m);
	o[BS_BLOOM_K] = FLOE_BLOOM_K;
	uint8_t *bloom = o + BS_BLOOM;
	/* bloom_pos(h, k, m) = (h1 + k h2) mod m, walked as b += h2 mod m
	 * from h1 mod m */
	const unsigned __int128 one = 1;
	const uint64_t inv = (uint64_t)((one << 64) / m);
	for (size_t d = 0; d < distinct; d++) {
		uint64_t h = e->hlist[d];
		uint64_t b = mod_small(h & 0xffffffffu, m, inv), step = mod_small((h >> 32) | 1, m, inv);
		for (unsigned k = 0; k < FLOE_BLOOM_K; k++) {
			bloom[b >> 3] |= (uint8_t)(1u << (b & 7));
			b += step;
			if (b >= m)
				b -= m;
		}
	}
	*len = slen;
	return FLOE_OK;
}

/* Copies field c of recs[0..k) into dst, k values of c->width bytes. */
static void gather(uint8_t *dst, const struct floe_flow *recs, size_t k, const struct col_desc *c)
{
	const uint8_t *src = (const uint8_t *)recs + c->off;
	const size_t st = sizeof(struct floe_flow);
#define GATHER(w)                                                                          \
	for (size_t i = 0; i < k; i++)                                                       \
		memcpy(dst + i * (w), src + i * st, (w));                                        \
	break
	switch (c->width) {
	case 1: GATHER(1);
	case 2: GATHER(2);
	case 4: GATHER(4);
	case 6: GATHER(6);
	case 8: GATHER(8);
	default: GATHER(16);
	}
#undef GATHER
}

/* Loads an integer column (c->width bytes each, host order) as uint64. */
static void widen(uint64_t *v, const uint8_t *col, size_t n, unsigned width)
{
#define WIDEN(T)                                                                           \
	for (size_t i = 0; i < n; i++) {                                                     \
		T x;                                                                             \
		memcpy(&x, col + i * sizeof(T), sizeof(T));                                      \
		v[i] = x;                                                                        \
	}                                                                                    \
	break
	switch (width) {
	case 1: WIDEN(uint8_t);
	case 2: WIDEN(uint16_t);
	case 4: WIDEN(uint32_t);
	default: WIDEN(uint64_t);
	}
#undef WIDEN
}

enum floe_err floe_block_encode(struct floe_enc *e, const struct floe_flow *recs, size_t n,
                                size_t *len, struct floe_errbuf *eb)
{
	if (n == 0 || n > FLOE_BLOCK_MAX_RECORDS)
		return floe_errbuf_set(eb, FLOE_INVALID, "block of %zu records", n);
	/* First transpose the records into one contiguous array per column,
	 * a tile of records at a time: reading each field across a whole
	 * block of records (12 MB) once per column is four times slower. */
	size_t rowb = 0;
	for (size_t ci = 0; ci < NCOLS; ci++)
		rowb += col_table[ci].width;
	if (!floe_grow(NULL, (void **)&e->tmp, &e->tmp_cap, 2 * n, sizeof(uint64_t), 4096) ||
	    !floe_grow(NULL, (void **)&e->cols, &e->cols_cap, n * rowb, 1, 4096))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory encoding a block");
	const uint8_t *col[NCOLS];
	size_t acc = 0;
	for (size_t ci = 0; ci < NCOLS; ci++) {
		col[ci] = e->cols + n * acc;
		acc += col_table[ci].width;
	}
	/* Columns whose bytes are zero in every record are left out without
	 * being gathered (most columns of exported flows are always zero):
	 * each tile's records are ORed together first, while the tile is
	 * being read into the cache anyway, and a column is gathered from the
	 * first tile where it is not zero on, its earlier tiles' part zeroed.
	 * The columns the summary reads are gathered whatever they hold. */
	bool zero[NCOLS];
	for (size_t ci = 0; ci < NCOLS; ci++) {
		const struct col_desc *c = &col_table[ci];
		zero[ci] = ci > 3 && c->id != 24 && c->id != 25 && c->id != 29;
	}
	for (size_t i0 = 0; i0 < n; i0 += 256) {
		size_t k = n - i0 < 256 ? n - i0 : 256;
		enum { W = sizeof(struct floe_flow) / 8 };
		uint64_t acc_or[W] = {0};
		for (size_t i = i0; i < i0 + k; i++) {
			uint64_t r[W];
			memcpy(r, &recs[i], sizeof(r));
			for (size_t j = 0; j < W; j++)
				acc_or[j] |= r[j];
		}
		const uint8_t *ob = (const uint8_t *)acc_or;
		for (size_t ci = 0; ci < NCOLS; ci++) {
			const struct col_desc *c = &col_table[ci];
			if (zero[ci]) {
				bool z = c->off + c->width <= sizeof(acc_or);
				for (size_t b = 0; z && b < c->width; b++)
					z = ob[c->off + b] == 0;
				if (z)
					continue;
				memset((uint8_t *)col[ci], 0, i0 * c->width);
				zero[ci] = false;
			}
			gather((uint8_t *)col[ci] + i0 * c->width, recs + i0, k, c);
		}
	}
	uint64_t *v = e->tmp, *stime = e->tmp + n;

	/* raw payload: directory, then the columns; bound each column by its
	 * worst case before writing it */
	size_t dir_len = DIR_HDR + NCOLS * DIR_ENT;
	if (!floe_grow(NULL, (void **)&e->raw, &e->raw_cap, dir_len + 16 * n + 64, 1, 4096))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory encoding a block");
	size_t off = dir_len, ncols = 0;
	int64_t tmin = INT64_MAX, tmax = INT64_MIN;
	widen(stime, col[0], n, 8);
	widen(v, col[1], n, 8);
	for (size_t i = 0; i < n; i++) {
		int64_t st = (int64_t)stime[i], lt = (int64_t)v[i];
		int64_t hi = lt > st ? lt : st;
		tmin = st < tmin ? st : tmin;
		tmax = hi > tmax ? hi : tmax;
	}
	for (size_t ci = 0; ci < NCOLS; ci++) {
		const struct col_desc *c = &col_table[ci];
		if (zero[ci])
			continue;
		size_t bound = n * (c->kind == KIND_BYTES ? c->width : 10) + (n + 7) / 8 + 16;
		if (!floe_grow(NULL, (void **)&e->raw, &e->raw_cap, off + bound, 1, 4096))
			return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory encoding a block");
		unsigned enc = e->enc[c->id];
		if (!enc || enc == FLOE_ENC_CONST || !enc_allowed(c, enc))
			enc = c->enc;
		bool allzero = true, same = true;
		const uint8_t *cv = col[ci];
		const size_t w = c->width;
		/* all zero: left out, reads as zero; all equal: stored once */
		for (size_t i = 0; i < w && allzero; i++)
			allzero = cv[i] == 0;
		same = n == 1 || memcmp(cv, cv + w, (n - 1) * w) == 0;
		if (allzero && same)
			continue;
		if (same)
			enc = FLOE_ENC_CONST;
		uint8_t *start = e->raw + off, *end;
		if (c->kind == KIND_BYTES) {
			end = enc_bytes(start, cv, n, c, enc);
		} else {
			widen(v, cv, n, c->width);
			end = enc_ints(start, v, stime, n, c->width, enc);
		}
		uint8_t *d = e->raw + DIR_HDR + ncols * DIR_ENT;
		floe_put_le16(d, c->id);
		d[2] = (uint8_t)enc;
		d[3] = 0;
		floe_put_le32(d + 4, (uint32_t)(end - start));
		off += (size_t)(end - start);
		ncols++;
	}
	/* close the gap left by omitted directory entries */
	size_t gap = (NCOLS - ncols) * DIR_ENT;
	memmove(e->raw + dir_len - gap, e->raw + dir_len, off - dir_len);
	off -= gap;
	floe_put_le16(e->raw, (uint16_t)ncols);
	floe_put_le16(e->raw + 2, 0);

	size_t cbound = e->codec == FLOE_CODEC_ZSTD ? ZSTD_compressBound(off) : off;
	size_t need = BH_LEN + BS_LEN + FLOE_BLOOM_MAX_BITS / 8 + cbound;
	if (!floe_grow(NULL, (void **)&e->frame, &e->frame_cap, need, 1, 4096))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory encoding a block");
	uint8_t *sum = e->frame + BH_LEN;
	size_t slen;
	if (build_summary(e, col, n, &sum, &slen) != FLOE_OK)
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory encoding a block");
	uint8_t *pay = sum + slen;
	size_t clen;
	if (e->codec == FLOE_CODEC_ZSTD) {
		clen = ZSTD_compress2(e->zc, pay, cbound, e->raw, off);
		if (ZSTD_isError(clen))
			return floe_errbuf_set(eb, FLOE_NOMEM, "zstd: %s", ZSTD_getErrorName(clen));
	} else {
		memcpy(pay, e->raw, off);
		clen = off;
	}
	uint8_t *h = e->frame;
	memcpy(h + BH_MAGIC, FLOE_BLOCK_MAGIC, 4);
	floe_put_le16(h + BH_HDRLEN, BH_LEN);
	floe_put_le16(h + BH_CODEC, e->codec);
	floe_put_le16(h + BH_COLVER, FLOE_COLVER);
	floe_put_le16(h + BH_FLAGS, 0);
	floe_put_le32(h + BH_NREC, (uint32_t)n);
	floe_put_le64(h + BH_TMIN, (uint64_t)tmin);
	floe_put_le64(h + BH_TMAX, (uint64_t)tmax);
	floe_put_le32(h + BH_SUMLEN, (uint32_t)slen);
	floe_put_le32(h + BH_RAWLEN, (uint32_t)off);
	floe_put_le32(h + BH_COMPLEN, (uint32_t)clen);
	floe_put_le32(h + BH_SUMCRC, floe_crc32c(0, sum, slen));
	floe_put_le32(h + BH_PAYCRC, floe_crc32c(0, pay, clen));
	floe_put_le32(h + BH_CRC, floe_crc32c(0, h, BH_CRC));
	*len = BH_LEN + slen + clen;
	return FLOE_OK;
}

/* ---- decoding ---- */

enum floe_err floe_frame_parse(const uint8_t *p, size_t len, struct floe_block_frame *fr,
                               bool verify_crc, struct floe_errbuf *eb)
{
	struct floe_cursor c = floe_cursor_make(p, len);
	const uint8_t *magic = floe_cur_take(&c, 4);
	if (!magic)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "block header cut short");
	if (memcmp(magic, FLOE_BLOCK_MAGIC, 4) != 0)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "no block magic");
	fr->hdr_len = floe_cur_le16(&c);
	fr->codec = floe_cur_le16(&c);
	fr->colver = floe_cur_le16(&c);
	fr->flags = floe_cur_le16(&c);
	fr->nrec = floe_cur_le32(&c);
	fr->tmin = (int64_t)floe_cur_le64(&c);
	fr->tmax = (int64_t)floe_cur_le64(&c);
	fr->summary_len = floe_cur_le32(&c);
	fr->raw_len = floe_cur_le32(&c);
	fr->comp_len = floe_cur_le32(&c);
	fr->summary_crc = floe_cur_le32(&c);
	fr->payload_crc = floe_cur_le32(&c);
	if (c.bad)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "block header cut short");
	if (fr->hdr_len < BH_LEN || fr->hdr_len > FLOE_BLOCK_HDR_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "block header length %u", fr->hdr_len);
	/* a newer minor version may add fields before the CRC, which is
	 * always the header's last four bytes */
	struct floe_cursor h = floe_cursor_make(p, len);
	const uint8_t *all = floe_cur_take(&h, fr->hdr_len);
	if (!all)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "block header cut short");
	uint32_t crc = (uint32_t)get_le(all + fr->hdr_len - 4, 4);
	if (verify_crc && floe_crc32c(0, all, fr->hdr_len - 4u) != crc)
		return floe_errbuf_set(eb, FLOE_CHECKSUM, "block header fails its checksum");
	if (fr->nrec == 0 || fr->nrec > FLOE_BLOCK_MAX_RECORDS)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "block of %u records", fr->nrec);
	if (fr->summary_len < BS_LEN || fr->summary_len > FLOE_SUMMARY_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "summary length %u", fr->summary_len);
	if (fr->raw_len > FLOE_RAW_MAX || fr->comp_len > FLOE_RAW_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "payload length %u/%u", fr->raw_len,
		                       fr->comp_len);
	if (fr->codec > FLOE_CODEC_ZSTD)
		return floe_errbuf_set(eb, FLOE_UNSUPPORTED, "block codec %u", fr->codec);
	if (fr->codec == FLOE_CODEC_NONE && fr->comp_len != fr->raw_len)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "stored payload of %u bytes, raw %u",
		                       fr->comp_len, fr->raw_len);
	fr->total = (uint64_t)fr->hdr_len + fr->summary_len + fr->comp_len;
	return FLOE_OK;
}

enum floe_err floe_summary_parse(const uint8_t *p, const struct floe_block_frame *fr,
                                 struct floe_block_summary *s, bool verify_crc,
                                 struct floe_errbuf *eb)
{
	if (verify_crc && floe_crc32c(0, p, fr->summary_len) != fr->summary_crc)
		return floe_errbuf_set(eb, FLOE_CHECKSUM, "block summary fails its checksum");
	struct floe_cursor c = floe_cursor_make(p, fr->summary_len);
	s->nrec = fr->nrec;
	s->tmin = fr->tmin;
	s->tmax = fr->tmax;
	s->sport_min = floe_cur_le16(&c);
	s->sport_max = floe_cur_le16(&c);
	s->dport_min = floe_cur_le16(&c);
	s->dport_max = floe_cur_le16(&c);
	const uint8_t *pm = floe_cur_take(&c, 32);
	for (unsigned i = 0; i < 4; i++)
		s->proto_mask[i] = pm ? get_le(pm + 8 * i, 8) : 0;
	s->bloom_bits = floe_cur_le32(&c);
	s->bloom_k = floe_cur_u8(&c);
	floe_cur_skip(&c, 3);
	if (s->bloom_bits % 8 || s->bloom_bits > FLOE_BLOOM_MAX_BITS || s->bloom_k > 32)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "Bloom filter of %u bits, k %u",
		                       s->bloom_bits, s->bloom_k);
	s->bloom = floe_cur_take(&c, s->bloom_bits / 8);
	if (c.bad)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "summary shorter than its Bloom filter");
	if (s->bloom_bits == 0)
		s->bloom = NULL;
	return FLOE_OK;
}

void floe_dec_init(struct floe_dec *d)
{
	memset(d, 0, sizeof(*d));
	d->colmask = FLOE_COLUMNS_ALL;
}

uint64_t floe_columns_of(size_t off, size_t size)
{
	uint64_t m = 0;
	for (size_t i = 0; i < NCOLS; i++)
		if (col_table[i].off < off + size && off < (size_t)col_table[i].off + col_table[i].width)
			m |= 1ull << (col_table[i].id - 1);
	return m;
}

void floe_dec_release(struct floe_dec *d)
{
	ZSTD_freeDCtx(d->zd);
	floe_free(NULL, d->raw, d->raw_cap);
	floe_free(NULL, d->tmp, d->tmp_cap * sizeof(uint64_t));
	floe_free(NULL, d->tile, TILE * sizeof(*d->tile));
	memset(d, 0, sizeof(*d));
}

static void store_ints(struct floe_flow *out, size_t n, const struct col_desc *c,
                       const uint64_t *v)
{
	uint8_t *base = (uint8_t *)out + c->off;
	const size_t st = sizeof(struct floe_flow);
	switch (c->width) {
	case 1:
		for (size_t i = 0; i < n; i++)
			base[i * st] = (uint8_t)v[i];
		break;
	case 2:
		for (size_t i = 0; i < n; i++) {
			uint16_t x = (uint16_t)v[i];
			memcpy(base + i * st, &x, 2);
		}
		break;
	case 4:
		for (size_t i = 0; i < n; i++) {
			uint32_t x = (uint32_t)v[i];
			memcpy(base + i * st, &x, 4);
		}
		break;
	default:
		for (size_t i = 0; i < n; i++)
			memcpy(base + i * st, &v[i], 8);
		break;
	}
}

/*
 * Columns are decoded in tiles of TILE records: every column's next TILE
 * values, then the next tile, so the records being filled stay in cache
 * (a whole block of struct floe_flow is 12 MB; walking it once per column
 * ran at a fifth of the speed).  Each column keeps its place in a
 * struct col_state between tiles.
 */

struct col_state {
	const struct col_desc *cd;
	unsigned enc;
	struct floe_cursor cur;    /* varint encodings: the rest of the column */
	const uint8_t *q;          /* FIXED: the planes; CONST: the value */
	uint64_t prev, cval;
	const uint8_t *bm, *p4, *p6;  /* ADDR */
	size_t n4, n6, i4, i6;
};

/* Checks a column's length against its encoding and sets up its state. */
static enum floe_err col_start(struct col_state *cs, const struct col_desc *c, unsigned enc,
                               struct floe_cursor col, size_t n, struct floe_errbuf *eb)
{
	memset(cs, 0, sizeof(*cs));
	cs->cd = c;
	cs->enc = enc;
	cs->cur = col;
	switch (enc) {
	case FLOE_ENC_CONST:
		cs->q = floe_cur_take(&cs->cur, c->width);
		if (cs->q && c->kind != KIND_BYTES)
			cs->cval = get_le(cs->q, c->width);
		break;
	case FLOE_ENC_FIXED:
		cs->q = floe_cur_take(&cs->cur, n * c->width);
		break;
	case FLOE_ENC_ADDR: {
		size_t bml = (n + 7) / 8;
		cs->bm = floe_cur_take(&cs->cur, bml);
		if (!cs->bm)
			break;
		size_t i = 0;
		for (; i + 8 <= bml; i += 8)
			cs->n4 += popcount64(get_le(cs->bm + i, 8));
		for (; i < bml; i++)
			cs->n4 += popcount64(cs->bm[i]);
		if (n % 8 && (cs->bm[bml - 1] >> (n % 8)))
			cs->cur.bad = true;  /* bits past the last record must be clear */
		cs->n6 = n - cs->n4;
		cs->p4 = floe_cur_take(&cs->cur, 4 * cs->n4);
		cs->p6 = floe_cur_take(&cs->cur, 16 * cs->n6);
		break;
	}
	default:
		return FLOE_OK;  /* varints: checked as they are read */
	}
	if (cs->cur.bad || floe_cur_left(&cs->cur) != 0)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "column %u: length does not match its data",
		                       c->id);
	return FLOE_OK;
}

/* ADDR column: writes record r's address (the next IPv4 or IPv6 one, as
 * its bitmap bit says) to a and moves past it. */
static inline void addr_next(struct col_state *cs, size_t r, uint8_t *a)
{
	static const uint8_t v4pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (cs->bm[r >> 3] & (1u << (r & 7))) {
		memcpy(a, v4pfx, 12);
		for (unsigned b = 0; b < 4; b++)
			a[12 + b] = cs->p4[b * cs->n4 + cs->i4];
		cs->i4++;
	} else {
		for (unsigned b = 0; b < 16; b++)
			a[b] = cs->p6[b * cs->n6 + cs->i6];
		cs->i6++;
	}
}

/* After a tile of an integer column: the column must end with its last
 * tile and its m values v must fit its width; then they are stored in
 * out[0..m). */
static enum floe_err col_finish(struct col_state *cs, bool last, const uint64_t *v, size_t m,
                                struct floe_flow *out, struct floe_errbuf *eb)
{
	const struct col_desc *c = cs->cd;
	if (cs->cur.bad || (last && floe_cur_left(&cs->cur) != 0))
		return floe_errbuf_set(eb, FLOE_MALFORMED, "column %u: length does not match its data",
		                       c->id);
	if (c->width < 8) {
		uint64_t lim = (1ull << (8 * c->width)) - 1, any = 0;
		for (size_t i = 0; i < m; i++)
			any |= v[i] > lim;
		if (any)
			return floe_errbuf_set(eb, FLOE_MALFORMED, "column %u: value wider than %u bytes",
			                       c->id, c->width);
	}
	store_ints(out, m, c, v);
	return FLOE_OK;
}

/* Decodes records [i0, i0 + k) of column cs into out (the tile's first
 * record is out[0]). */
static enum floe_err col_tile(struct col_state *cs, size_t i0, size_t k, size_t n,
                              uint64_t *v, struct floe_flow *out, struct floe_errbuf *eb)
{
	const struct col_desc *c = cs->cd;
	uint8_t *base = (uint8_t *)out + c->off;
	const size_t st = sizeof(struct floe_flow);
	if (c->kind == KIND_BYTES) {
		if (cs->enc == FLOE_ENC_CONST) {
			for (size_t i = 0; i < k; i++)
				memcpy(base + i * st, cs->q, c->width);
		} else if (cs->enc == FLOE_ENC_FIXED) {
			for (unsigned b = 0; b < c->width; b++)
				for (size_t i = 0; i < k; i++)
					base[i * st + b] = cs->q[b * n + i0 + i];
		} else {
			for (size_t i = 0; i < k; i++)
				addr_next(cs, i0 + i, base + i * st);
		}
		return FLOE_OK;
	}
	struct floe_cursor *cur = &cs->cur;
	switch (cs->enc) {
	case FLOE_ENC_CONST:
		for (size_t i = 0; i < k; i++)
			v[i] = cs->cval;
		break;
	case FLOE_ENC_FIXED:
		for (size_t i = 0; i < k; i++)
			v[i] = cs->q[i0 + i];
		for (unsigned b = 1; b < c->width; b++)
			for (size_t i = 0; i < k; i++)
				v[i] |= (uint64_t)cs->q[b * n + i0 + i] << (8 * b);
		break;
	case FLOE_ENC_VARINT:
		for (size_t i = 0; i < k; i++)
			v[i] = cur_varint(cur);
		break;
	case FLOE_ENC_ZIGZAG:
		for (size_t i = 0; i < k; i++)
			v[i] = zz_dec(cur_varint(cur));
		break;
	case FLOE_ENC_DELTA: {
		uint64_t prev = cs->prev;
		for (size_t i = 0; i < k; i++)
			v[i] = prev += zz_dec(cur_varint(cur));
		cs->prev = prev;
		break;
	}
	case FLOE_ENC_DELTA_STIME:
		for (size_t i = 0; i < k; i++)
			v[i] = (uint64_t)out[i].stime + zz_dec(cur_varint(cur));
		break;
	}
	return col_finish(cs, i0 + k == n, v, k, out, eb);
}

/* The column directory of a raw payload: each known column's slice and
 * encoding by id (enc[id] = 0: absent, reads as zero). */
static enum floe_err parse_dir(const uint8_t *raw, size_t rlen, struct floe_cursor *slice,
                               uint8_t *enc, struct floe_errbuf *eb)
{
	struct floe_cursor c = floe_cursor_make(raw, rlen);
	unsigned ncols = floe_cur_le16(&c);
	floe_cur_skip(&c, 2);
	const uint8_t *dir = floe_cur_take(&c, (size_t)ncols * DIR_ENT);
	if (!dir)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "column directory cut short");
	memset(enc, 0, FLOE_COL_MAX + 1);
	for (unsigned i = 0; i < ncols; i++) {
		struct floe_cursor de = floe_cursor_make(dir + (size_t)i * DIR_ENT, DIR_ENT);
		unsigned id = floe_cur_le16(&de);
		unsigned e = floe_cur_u8(&de);
		floe_cur_skip(&de, 1);
		uint32_t clen = floe_cur_le32(&de);
		const uint8_t *q = floe_cur_take(&c, clen);
		if (!q)
			return floe_errbuf_set(eb, FLOE_MALFORMED, "column %u overruns the payload", id);
		const struct col_desc *cd = col_by_id(id);
		if (!cd)
			continue;  /* a column from a newer minor version */
		if (enc[id])
			return floe_errbuf_set(eb, FLOE_MALFORMED, "column %u appears twice", id);
		if (!enc_allowed(cd, e))
			return floe_errbuf_set(eb, FLOE_UNSUPPORTED, "column %u: encoding %u", id, e);
		enc[id] = (uint8_t)e;
		slice[id] = floe_cursor_make(q, clen);
	}
	if (floe_cur_left(&c) != 0)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "%zu bytes after the last column",
		                       floe_cur_left(&c));
	return FLOE_OK;
}

/* ltime is stored as a delta from stime: asking for it asks for both. */
static uint64_t with_stime(uint64_t mask)
{
	return mask & (1ull << 1) ? mask | 1ull : mask;
}

/* Sets up the states of the columns in mask that the block has, in table
 * order (so ltime finds stime decoded). */
static enum floe_err start_cols(struct col_state *cs, size_t *ncs, uint64_t mask,
                                const struct floe_cursor *slice, const uint8_t *enc, size_t n,
                                struct floe_errbuf *eb)
{
	*ncs = 0;
	for (unsigned id = 1; id <= FLOE_COL_MAX; id++) {
		if (!enc[id] || !(mask & (1ull << (id - 1))))
			continue;   /* absent, or not asked for: pruned */
		enum floe_err err = col_start(&cs[(*ncs)++], &col_table[id - 1], enc[id], slice[id], n, eb);
		if (err != FLOE_OK)
			return err;
	}
	return FLOE_OK;
}

/* Decodes a raw (decompressed) payload: every record, d->colmask's columns. */
static enum floe_err dec_raw(struct floe_dec *d, const uint8_t *raw, size_t rlen, size_t n,
                             struct floe_flow *out, struct floe_errbuf *eb)
{
	struct floe_cursor slice[FLOE_COL_MAX + 1];
	uint8_t enc[FLOE_COL_MAX + 1];
	struct col_state cs[FLOE_COL_MAX];
	size_t ncs;
	enum floe_err err = parse_dir(raw, rlen, slice, enc, eb);
	if (err == FLOE_OK)
		err = start_cols(cs, &ncs, with_stime(d->colmask), slice, enc, n, eb);
	if (err != FLOE_OK)
		return err;
	uint64_t v[TILE];
	for (size_t i0 = 0; i0 < n; i0 += TILE) {
		size_t k = n - i0 < TILE ? n - i0 : TILE;
		memset(out + i0, 0, k * sizeof(*out));
		for (size_t j = 0; j < ncs; j++) {
			err = col_tile(&cs[j], i0, k, n, v, out + i0, eb);
			if (err != FLOE_OK)
				return err;
		}
	}
	return FLOE_OK;
}

/* Skips cnt LEB128 values (their bytes are not checked for overlong
 * forms: the values are not used).  Eight bytes at a time: a value ends
 * at each byte whose top bit is clear. */
static inline void cur_skip_varints(struct floe_cursor *c, size_t cnt)
{
	const uint8_t *q = c->p + c->off, *end = c->p + c->len;
	while (cnt >= 8 && end - q >= 8) {
		uint64_t w;
		memcpy(&w, q, 8);
		/* bytes with the top bit clear: gather the top bits into one byte sum */
		size_t ends = (size_t)((((~w & 0x8080808080808080ull) >> 7) * 0x0101010101010101ull) >> 56);
		if (ends > cnt)
			break;
		cnt -= ends;
		q += 8;
	}
	while (cnt && q < end)
		cnt -= *q++ < 0x80;
	/* a value cut off at the end of the column: malformed; the fast path
	 * may stop inside a value, which the byte loop finishes */
	c->off = (size_t)(q - c->p);
	if (cnt)
		c->bad = true;
}

/* Set bits of bitmap bm in [from, to). */
static size_t bm_count(const uint8_t *bm, size_t from, size_t to)
{
	size_t n = 0;
	for (; from < to && (from & 7); from++)
		n += (bm[from >> 3] >> (from & 7)) & 1;
	for (; from + 64 <= to; from += 64)
		n += popcount64(get_le(bm + (from >> 3), 8));
	for (; from + 8 <= to; from += 8)
		n += popcount64(bm[from >> 3]);
	for (; from < to; from++)
		n += (bm[from >> 3] >> (from & 7)) & 1;
	return n;
}

/* Like col_tile for the records sel[0..ns) (ascending, relative to i0)
 * of the tile [i0, i0 + k): their values go to out[0..ns); the other
 * records' values are skipped. */
static enum floe_err col_tile_sel(struct col_state *cs, size_t i0, size_t k, size_t n,
                                  const uint16_t *sel, size_t ns, struct floe_flow *out,
                                  struct floe_errbuf *eb)
{
	const struct col_desc *c = cs->cd;
	uint8_t *base = (uint8_t *)out + c->off;
	const size_t st = sizeof(struct floe_flow);
	if (c->kind == KIND_BYTES) {
		if (cs->enc == FLOE_ENC_CONST) {
			for (size_t t = 0; t < ns; t++)
				memcpy(base + t * st, cs->q, c->width);
		} else if (cs->enc == FLOE_ENC_FIXED) {
			for (size_t t = 0; t < ns; t++)
				for (unsigned b = 0; b < c->width; b++)
					base[t * st + b] = cs->q[b * n + i0 + sel[t]];
		} else {
			size_t pos = i0;  /* cs->i4 and i6 count the records before pos */
			for (size_t t = 0; t < ns; t++) {
				size_t r = i0 + sel[t];
				size_t v4s = bm_count(cs->bm, pos, r);
				cs->i4 += v4s;
				cs->i6 += r - pos - v4s;
				addr_next(cs, r, base + t * st);
				pos = r + 1;
			}
			size_t v4s = bm_count(cs->bm, pos, i0 + k);
			cs->i4 += v4s;
			cs->i6 += i0 + k - pos - v4s;
		}
		return FLOE_OK;
	}
	struct floe_cursor *cur = &cs->cur;
	uint64_t v[TILE];
	switch (cs->enc) {
	case FLOE_ENC_CONST:
		for (size_t t = 0; t < ns; t++)
			v[t] = cs->cval;
		break;
	case FLOE_ENC_FIXED:
		for (size_t t = 0; t < ns; t++) {
			v[t] = 0;
			for (unsigned b = 0; b < c->width; b++)
				v[t] |= (uint64_t)cs->q[b * n + i0 + sel[t]] << (8 * b);
		}
		break;
	case FLOE_ENC_DELTA: {
		uint64_t prev = cs->prev;
		size_t t = 0;
		for (size_t i = 0; i < k; i++) {
			prev += zz_dec(cur_varint(cur));
			if (t < ns && sel[t] == i)
				v[t++] = prev;
		}
		cs->prev = prev;
		break;
	}
	default: { /* VARINT, ZIGZAG, DELTA_STIME */
		size_t pos = 0;
		for (size_t t = 0; t < ns; t++) {
			cur_skip_varints(cur, sel[t] - pos);
			uint64_t x = cur_varint(cur);
			if (cs->enc == FLOE_ENC_ZIGZAG)
				x = zz_dec(x);
			else if (cs->enc == FLOE_ENC_DELTA_STIME)
				x = (uint64_t)out[t].stime + zz_dec(x);
			v[t] = x;
			pos = sel[t] + 1u;
		}
		cur_skip_varints(cur, k - pos);
		break;
	}
	}
	return col_finish(cs, i0 + k == n, v, ns, out, eb);
}

/*
 * With a probe (late materialization): tile by tile, the probe's columns
 * are decoded into a scratch tile and the probe asked about each record;
 * the other columns are decoded only for the records it keeps, straight
 * into out, and skipped for the rest.  out receives the kept records,
 * *nout of them, in block order.
 */
static enum floe_err dec_probed(struct floe_dec *d, const uint8_t *raw, size_t rlen, size_t n,
                                struct floe_flow *out, size_t *nout, struct floe_errbuf *eb)
{
	d->probe_miss = false;
	*nout = 0;
	if (!d->probe) {
		*nout = n;
		return dec_raw(d, raw, rlen, n, out, eb);
	}
	if (!d->tile && !(d->tile = floe_malloc(NULL, TILE * sizeof(*d->tile))))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory decoding a block");
	struct floe_cursor slice[FLOE_COL_MAX + 1];
	uint8_t enc[FLOE_COL_MAX + 1];
	struct col_state pcs[FLOE_COL_MAX], rcs[FLOE_COL_MAX];
	size_t np, nr;
	uint64_t pmask = with_stime(d->probemask);
	uint64_t rmask = d->colmask & ~pmask;
	if (rmask & (1ull << 1))
		rmask |= 1ull & ~pmask;
	enum floe_err err = parse_dir(raw, rlen, slice, enc, eb);
	if (err == FLOE_OK)
		err = start_cols(pcs, &np, pmask, slice, enc, n, eb);
	if (err == FLOE_OK)
		err = start_cols(rcs, &nr, rmask, slice, enc, n, eb);
	if (err != FLOE_OK)
		return err;
	/* only probe columns are ever written to the tile: the rest of its
	 * fields stay zero, and a kept record starts as a copy of its row */
	memset(d->tile, 0, TILE * sizeof(*d->tile));
	uint64_t v[TILE];
	uint16_t sel[TILE];
	size_t m = 0;
	for (size_t i0 = 0; i0 < n; i0 += TILE) {
		size_t k = n - i0 < TILE ? n - i0 : TILE;
		for (size_t j = 0; j < np; j++)
			if ((err = col_tile(&pcs[j], i0, k, n, v, d->tile, eb)) != FLOE_OK)
				return err;
		size_t ns = 0;
		for (size_t i = 0; i < k; i++)
			if (d->probe(d->probe_ud, &d->tile[i])) {
				sel[ns++] = (uint16_t)i;
				out[m + ns - 1] = d->tile[i];
			}
		for (size_t j = 0; j < nr; j++)
			if ((err = col_tile_sel(&rcs[j], i0, k, n, sel, ns, out + m, eb)) != FLOE_OK)
				return err;
		m += ns;
	}
	/* probe columns the caller did not ask for read as zero, as always */
	uint64_t extra = pmask & ~with_stime(d->colmask);
	for (unsigned id = 1; extra && id <= FLOE_COL_MAX; id++)
		if (extra & (1ull << (id - 1)))
			for (size_t i = 0; i < m; i++)
				memset((uint8_t *)&out[i] + col_table[id - 1].off, 0, col_table[id - 1].width);
	*nout = m;
	d->probe_miss = m == 0;
	return FLOE_OK;
}

enum floe_err floe_payload_decode(struct floe_dec *d, const struct floe_block_frame *fr,
                                  const uint8_t *p, bool verify_crc, struct floe_flow *out,
                                  size_t *nout, struct floe_errbuf *eb)
{
	*nout = 0;
	if (verify_crc && floe_crc32c(0, p, fr->comp_len) != fr->payload_crc)
		return floe_errbuf_set(eb, FLOE_CHECKSUM, "block payload fails its checksum");
	if (fr->codec == FLOE_CODEC_NONE)
		return dec_probed(d, p, fr->raw_len, fr->nrec, out, nout, eb);
	if (!d->zd && !(d->zd = ZSTD_createDCtx()))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory decoding a block");
	if (!floe_grow(NULL, (void **)&d->raw, &d->raw_cap, fr->raw_len ? fr->raw_len : 1, 1, 4096))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory decoding a block");
	size_t got = ZSTD_decompressDCtx(d->zd, d->raw, fr->raw_len, p, fr->comp_len);
	if (ZSTD_isError(got))
		return floe_errbuf_set(eb, FLOE_MALFORMED, "zstd: %s", ZSTD_getErrorName(got));
	if (got != fr->raw_len)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "payload inflates to %zu bytes, not %u",
		                       got, fr->raw_len);
	return dec_probed(d, d->raw, got, fr->nrec, out, nout, eb);
}

enum floe_err floe_block_decode_ex(struct floe_dec *d, const uint8_t *p, size_t len,
                                   struct floe_flow *out, size_t *n, size_t *used,
                                   bool verify_crc, struct floe_errbuf *eb)
{
	struct floe_block_frame fr;
	struct floe_block_summary s;
	*n = 0;
	*used = 0;
	enum floe_err err = floe_frame_parse(p, len, &fr, verify_crc, eb);
	if (err != FLOE_OK)
		return err;
	struct floe_cursor c = floe_cursor_make(p, len);
	floe_cur_skip(&c, fr.hdr_len);
	const uint8_t *sum = floe_cur_take(&c, fr.summary_len);
	const uint8_t *pay = floe_cur_take(&c, fr.comp_len);
	if (!sum || !pay)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "block of %llu bytes cut short at %zu",
		                       (unsigned long long)fr.total, len);
	err = floe_summary_parse(sum, &fr, &s, verify_crc, eb);
	size_t got = 0;
	if (err == FLOE_OK)
		err = floe_payload_decode(d, &fr, pay, verify_crc, out, &got, eb);
	if (err != FLOE_OK)
		return err;
	*n = got;
	*used = (size_t)fr.total;
	return FLOE_OK;
}

enum floe_err floe_block_decode(const uint8_t *p, size_t len, struct floe_flow *out, size_t *n,
                                size_t *used, struct floe_errbuf *eb)
{
	struct floe_dec d;
	floe_dec_init(&d);
	enum floe_err err = floe_block_decode_ex(&d, p, len, out, n, used, true, eb);
	floe_dec_release(&d);
	return err;
}
