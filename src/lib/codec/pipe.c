/*
 * pipe.c - the fed reader of floe files arriving on a pipe (pipe.h).
 *
 * Holds the bytes not yet decoded in one buffer that grows to the largest
 * frame it meets (bounded by the frame limits floe_frame_parse checks) and
 * decodes each block with floe_block_decode_ex once all of it is there.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#include "codec/pipe.h"

#include <stdio.h>
#include <string.h>

#include "codec_int.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/mem.h"

#define PIPE_CHUNK (256u << 10)

enum pipe_state { P_HEADER, P_BLOCKS, P_FOOTER };

struct floe_pipe_reader {
	char name[128];
	const struct floe_log *log;
	struct floe_errbuf err;
	enum pipe_state state;
	uint8_t *buf;          /* buf[start..end) is the input at offset pos */
	size_t cap, start, end;
	uint64_t pos;
	struct floe_file_info info;
	struct floe_dec dec;
	struct floe_flow *recs;  /* grown to the largest block met */
	size_t recs_cap;
	struct floe_pipe_stats st;
};

struct floe_pipe_reader *floe_pipe_reader_create(const char *name, const struct floe_log *log,
                                                 struct floe_errbuf *eb)
{
	struct floe_pipe_reader *p = floe_calloc(NULL, 1, sizeof(*p));
	if (!p) {
		floe_errbuf_set(eb, FLOE_NOMEM, "cannot read '%s': out of memory", name);
		return NULL;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->log = log;
	floe_dec_init(&p->dec);
	return p;
}

void floe_pipe_reader_destroy(struct floe_pipe_reader *p)
{
	if (!p)
		return;
	floe_dec_release(&p->dec);
	floe_free(NULL, p->recs, p->recs_cap * sizeof(*p->recs));
	floe_free(NULL, p->buf, p->cap);
	floe_free(NULL, p, sizeof(*p));
}

uint8_t *floe_pipe_reader_space(struct floe_pipe_reader *p, size_t want, size_t *room)
{
	*room = 0;
	if (p->err.code != FLOE_OK)
		return NULL;
	if (want < PIPE_CHUNK)
		want = PIPE_CHUNK;
	if (p->start > 0 && p->cap - p->end < want) {
		memmove(p->buf, p->buf + p->start, p->end - p->start);
		p->end -= p->start;
		p->start = 0;
	}
	if (p->cap - p->end < want) {
		size_t ncap = p->end + want;
		uint8_t *nb = floe_realloc(NULL, p->buf, p->cap, ncap);
		if (!nb) {
			floe_errbuf_set(&p->err, FLOE_NOMEM, "cannot read '%s': out of memory", p->name);
			return NULL;
		}
		p->buf = nb;
		p->cap = ncap;
	}
	*room = p->cap - p->end;
	return p->buf + p->end;
}

void floe_pipe_reader_commit(struct floe_pipe_reader *p, size_t n)
{
	p->end += n;
	p->st.bytes += n;
}

static size_t avail(const struct floe_pipe_reader *p)
{
	return p->end - p->start;
}

static void consume(struct floe_pipe_reader *p, size_t n)
{
	p->start += n;
	p->pos += n;
}

/* The file header (format.md "File header"), as floe_reader_open checks it. */
static enum floe_err read_header(struct floe_pipe_reader *p)
{
	const uint8_t *b = p->buf + p->start;
	size_t n = avail(p);
	if (memcmp(b, FLOE_FILE_MAGIC, n < 4 ? n : 4) != 0)
		return floe_errbuf_set(&p->err, FLOE_MALFORMED, "cannot read '%s': not a floe file",
		                       p->name);
	if (n < FH_LEN)
		return FLOE_AGAIN;
	unsigned major, minor;
	uint32_t hdr_len;
	enum floe_err e = floe_fh_check(b, p->name, &major, &minor, &hdr_len, &p->err);
	if (e != FLOE_OK)
		return e;
	if (n < hdr_len)
		return FLOE_AGAIN;
	e = floe_fh_decode(b, hdr_len, major, minor, true, p->name, &p->info, &p->err);
	if (e != FLOE_OK)
		return e;
	consume(p, hdr_len);
	p->state = P_BLOCKS;
	return FLOE_OK;
}

enum floe_err floe_pipe_reader_next(struct floe_pipe_reader *p, const struct floe_flow **recs,
                                    size_t *n)
{
	*recs = NULL;
	*n = 0;
	for (;;) {
		if (p->err.code != FLOE_OK)
			return p->err.code;
		if (p->state == P_FOOTER) {
			consume(p, avail(p));   /* footer, address filter, trailer */
			return FLOE_EOF;
		}
		if (avail(p) == 0)
			return FLOE_AGAIN;
		if (p->state == P_HEADER) {
			enum floe_err e = read_header(p);
			if (e != FLOE_OK)
				return e;
			continue;
		}
		const uint8_t *b = p->buf + p->start;
		if (avail(p) >= 4 && memcmp(b, FLOE_FOOTER_MAGIC, 4) == 0) {
			p->state = P_FOOTER;
			p->st.footer = true;
			p->info.has_footer = true;
			continue;
		}
		struct floe_block_frame fr;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_frame_parse(b, avail(p), &fr, true, &eb);
		if (e == FLOE_TRUNCATED)
			return FLOE_AGAIN;
		if (e != FLOE_OK)
			return floe_errbuf_set(&p->err, FLOE_MALFORMED,
			                       "cannot read '%s': block %llu at offset %llu: %s", p->name,
			                       (unsigned long long)p->st.blocks + p->st.blocks_damaged,
			                       (unsigned long long)p->pos, eb.msg);
		if (avail(p) < fr.total)
			return FLOE_AGAIN;
		if (!floe_grow(NULL, (void **)&p->recs, &p->recs_cap, fr.nrec, sizeof(*p->recs), 1024))
			return floe_errbuf_set(&p->err, FLOE_NOMEM, "cannot read '%s': out of memory",
			                       p->name);
		size_t used;
		e = floe_block_decode_ex(&p->dec, b, (size_t)fr.total, p->recs, n, &used, true, &eb);
		uint64_t blockno = p->st.blocks + p->st.blocks_damaged;
		uint64_t off = p->pos;
		consume(p, (size_t)fr.total);
		if (e == FLOE_NOMEM)
			return floe_errbuf_set(&p->err, e, "cannot read '%s': out of memory", p->name);
		if (e != FLOE_OK) {
			p->st.blocks_damaged++;
			floe_logf(p->log, FLOE_LOG_WARN, "'%s': block %llu at offset %llu skipped: %s",
			          p->name, (unsigned long long)blockno, (unsigned long long)off, eb.msg);
			continue;
		}
		p->st.blocks++;
		p->st.records += *n;
		*recs = p->recs;
		return FLOE_OK;
	}
}

enum floe_err floe_pipe_reader_end(struct floe_pipe_reader *p)
{
	if (p->err.code != FLOE_OK)
		return p->err.code;
	if (p->state == P_FOOTER || avail(p) == 0)
		return FLOE_OK;
	return floe_errbuf_set(&p->err, FLOE_TRUNCATED,
	                       "'%s' ends inside %s at offset %llu: %zu bytes lost", p->name,
	                       p->state == P_HEADER ? "the file header" : "a block",
	                       (unsigned long long)p->pos, avail(p));
}

const struct floe_file_info *floe_pipe_reader_info(const struct floe_pipe_reader *p)
{
	return &p->info;
}

const char *floe_pipe_reader_error(const struct floe_pipe_reader *p)
{
	return p->err.msg;
}

void floe_pipe_reader_stats(const struct floe_pipe_reader *p, struct floe_pipe_stats *st)
{
	*st = p->st;
}
