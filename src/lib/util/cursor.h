/*
 * cursor.h - the checked cursor every parser of outside bytes reads through.
 *
 * A cursor is (p, len, off).  Getters check the remaining length first and
 * never form a pointer past the end; on a short read they set `bad`, return
 * 0, and every later read fails too, so a parser may read a whole header and
 * check once (as tcpdump's GET_ macros let it).  Multi-byte getters name
 * their byte order: network order (be) for packets and flow exports, little
 * endian (le) for floe's own files.
 */
#ifndef FLOE_UTIL_CURSOR_H
#define FLOE_UTIL_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct floe_cursor {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static inline struct floe_cursor floe_cursor_make(const uint8_t *p, size_t len)
{
	struct floe_cursor c = {p, len, 0, false};
	return c;
}

static inline size_t floe_cur_left(const struct floe_cursor *c)
{
	return c->bad ? 0 : c->len - c->off;
}

/* True if n more bytes are available; otherwise marks the cursor bad. */
static inline bool floe_cur_need(struct floe_cursor *c, size_t n)
{
	if (c->bad || c->len - c->off < n) {
		c->bad = true;
		return false;
	}
	return true;
}

/* Pointer to the next n bytes and advance, or NULL (cursor marked bad). */
static inline const uint8_t *floe_cur_take(struct floe_cursor *c, size_t n)
{
	if (!floe_cur_need(c, n))
		return NULL;
	const uint8_t *q = c->p + c->off;
	c->off += n;
	return q;
}

static inline bool floe_cur_skip(struct floe_cursor *c, size_t n)
{
	return floe_cur_take(c, n) != NULL;
}

static inline bool floe_cur_copy(struct floe_cursor *c, void *dst, size_t n)
{
	const uint8_t *q = floe_cur_take(c, n);
	if (!q)
		return false;
	memcpy(dst, q, n);
	return true;
}

static inline uint8_t floe_cur_u8(struct floe_cursor *c)
{
	const uint8_t *q = floe_cur_take(c, 1);
	return q ? q[0] : 0;
}

static inline uint16_t floe_cur_be16(struct floe_cursor *c)
{
	const uint8_t *q = floe_cur_take(c, 2);
	return q ? (uint16_t)(q[0] << 8 | q[1]) : 0;
}

static inline uint32_t floe_cur_be32(struct floe_cursor *c)
{
	const uint8_t *q = floe_cur_take(c, 4);
	return q ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3] : 0;
}

static inline uint64_t floe_cur_be64(struct floe_cursor *c)
{
	uint64_t hi = floe_cur_be32(c);
	return hi << 32 | floe_cur_be32(c);
}

static inline uint16_t floe_cur_le16(struct floe_cursor *c)
{
	const uint8_t *q = floe_cur_take(c, 2);
	return q ? (uint16_t)(q[1] << 8 | q[0]) : 0;
}

static inline uint32_t floe_cur_le32(struct floe_cursor *c)
{
	const uint8_t *q = floe_cur_take(c, 4);
	return q ? (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0] : 0;
}

static inline uint64_t floe_cur_le64(struct floe_cursor *c)
{
	uint64_t lo = floe_cur_le32(c);
	return lo | (uint64_t)floe_cur_le32(c) << 32;
}

/* Little-endian stores for writers of floe's own formats. */
static inline void floe_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void floe_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void floe_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#endif
