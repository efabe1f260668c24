/*
 * proto.c - the stream protocol's frames and hellos (docs/stream.md
 * "Frames", "Hello"), the address and token helpers of stream.h.
 *
 * Every byte from a peer is read through a checked cursor; a hello is
 * accepted only if its lengths add up to exactly the payload.
 */
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cursor.h"

/* Hello payload (docs/stream.md "Hello"). */
enum {
	HE_MAGIC = 0,
	HE_MAJOR = 4,
	HE_MINOR = 6,
	HE_ROLE = 8,
	HE_FLAGS = 9,
	HE_NRESUME = 10,
	HE_SESSION = 12,
	HE_INSTLEN = 20,
	HE_TOKLEN = 22,
	HE_FILTLEN = 24,
	HE_LEN = 28,      /* fixed part; instance, token, filter, resume entries follow */
};
#define RESUME_ENT 16u

void floe_stream_frame_header(uint8_t out[FLOE_STREAM_FRAME_HDR], enum floe_stream_type type,
                              uint32_t len)
{
	out[0] = (uint8_t)type;
	out[1] = 0;
	floe_put_le16(out + 2, 0);
	floe_put_le32(out + 4, len);
}

enum floe_err floe_stream_frame_parse(const uint8_t *p, size_t len, uint8_t *type, uint32_t *plen,
                                      struct floe_errbuf *eb)
{
	struct floe_cursor c = floe_cursor_make(p, len);
	if (!floe_cur_need(&c, FLOE_STREAM_FRAME_HDR))
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "frame header cut short (%zu bytes)",
		                       len);
	uint8_t t = floe_cur_u8(&c);
	uint8_t flags = floe_cur_u8(&c);
	uint16_t reserved = floe_cur_le16(&c);
	uint32_t l = floe_cur_le32(&c);
	if (t == 0 || t >= FLOE_SF__COUNT)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "unknown frame type %u", t);
	if (flags || reserved)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "frame type %u: reserved bits set", t);
	if (l > FLOE_STREAM_FRAME_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "frame of %u bytes (at most %u)", l,
		                       FLOE_STREAM_FRAME_MAX);
	*type = t;
	*plen = l;
	return FLOE_OK;
}

static size_t cstr_len(const char *s, size_t max)
{
	size_t n = 0;
	while (n <= max && s[n])
		n++;
	return n;
}

size_t floe_stream_hello_size(const struct floe_stream_hello *h)
{
	size_t il = cstr_len(h->instance, FLOE_STREAM_INSTANCE_MAX);
	if (il > FLOE_STREAM_INSTANCE_MAX || h->token_len > FLOE_STREAM_TOKEN_MAX ||
	    h->filter_len > FLOE_STREAM_FILTER_MAX || h->nresume > FLOE_STREAM_RESUME_MAX)
		return 0;
	return HE_LEN + il + h->token_len + h->filter_len + h->nresume * RESUME_ENT;
}

size_t floe_stream_hello_encode(const struct floe_stream_hello *h, uint8_t *out, size_t cap)
{
	size_t need = floe_stream_hello_size(h);
	if (need == 0 || need > cap)
		return 0;
	size_t il = strlen(h->instance);
	memcpy(out + HE_MAGIC, FLOE_STREAM_HELLO_MAGIC, 4);
	floe_put_le16(out + HE_MAJOR, h->major);
	floe_put_le16(out + HE_MINOR, h->minor);
	out[HE_ROLE] = h->role;
	out[HE_FLAGS] = h->flags;
	floe_put_le16(out + HE_NRESUME, (uint16_t)h->nresume);
	floe_put_le64(out + HE_SESSION, h->session);
	floe_put_le16(out + HE_INSTLEN, (uint16_t)il);
	floe_put_le16(out + HE_TOKLEN, (uint16_t)h->token_len);
	floe_put_le32(out + HE_FILTLEN, (uint32_t)h->filter_len);
	uint8_t *o = out + HE_LEN;
	memcpy(o, h->instance, il);
	o += il;
	if (h->token_len)
		memcpy(o, h->token, h->token_len);
	o += h->token_len;
	if (h->filter_len)
		memcpy(o, h->filter, h->filter_len);
	o += h->filter_len;
	for (size_t i = 0; i < h->nresume; i++, o += RESUME_ENT) {
		floe_put_le32(o, h->resume[i].sensor);
		floe_put_le32(o + 4, 0);
		floe_put_le64(o + 8, h->resume[i].seq);
	}
	return need;
}

enum floe_err floe_stream_hello_decode(const uint8_t *p, size_t len, struct floe_stream_hello *h,
                                       struct floe_errbuf *eb)
{
	struct floe_cursor c = floe_cursor_make(p, len);
	*h = (struct floe_stream_hello){0};
	const uint8_t *magic = floe_cur_take(&c, 4);
	if (!magic)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "hello cut short (%zu bytes)", len);
	if (memcmp(magic, FLOE_STREAM_HELLO_MAGIC, 4) != 0)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "not a floe stream hello (bad magic)");
	if (!floe_cur_need(&c, HE_LEN - 4))
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "hello cut short (%zu bytes)", len);
	h->major = floe_cur_le16(&c);
	h->minor = floe_cur_le16(&c);
	h->role = floe_cur_u8(&c);
	h->flags = floe_cur_u8(&c);
	h->nresume = floe_cur_le16(&c);
	h->session = floe_cur_le64(&c);
	size_t il = floe_cur_le16(&c);
	h->token_len = floe_cur_le16(&c);
	h->filter_len = floe_cur_le32(&c);
	if (h->major != FLOE_STREAM_MAJOR)
		return floe_errbuf_set(eb, FLOE_UNSUPPORTED,
		                       "stream protocol %u.%u (this floe speaks %u.x)", h->major,
		                       h->minor, FLOE_STREAM_MAJOR);
	if (h->role != FLOE_STREAM_SUBSCRIBER && h->role != FLOE_STREAM_SERVER)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "hello: unknown role %u", h->role);
	if (il > FLOE_STREAM_INSTANCE_MAX || h->token_len > FLOE_STREAM_TOKEN_MAX ||
	    h->filter_len > FLOE_STREAM_FILTER_MAX || h->nresume > FLOE_STREAM_RESUME_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED,
		                       "hello: a length past its bound (instance %zu, token %zu, "
		                       "filter %zu, resume %zu)", il, h->token_len, h->filter_len,
		                       h->nresume);
	const uint8_t *inst = floe_cur_take(&c, il);
	const uint8_t *tok = floe_cur_take(&c, h->token_len);
	const uint8_t *filt = floe_cur_take(&c, h->filter_len);
	const uint8_t *res = floe_cur_take(&c, h->nresume * RESUME_ENT);
	if (!inst || !tok || !filt || !res)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "hello cut short (%zu bytes)", len);
	if (floe_cur_left(&c))
		return floe_errbuf_set(eb, FLOE_MALFORMED, "hello: %zu bytes after its end",
		                       floe_cur_left(&c));
	for (size_t i = 0; i < il; i++)
		if (inst[i] < 0x20 || inst[i] == 0x7f)
			return floe_errbuf_set(eb, FLOE_MALFORMED,
			                       "hello: control character in instance");
	for (size_t i = 0; i < h->filter_len; i++)
		if (filt[i] == 0)
			return floe_errbuf_set(eb, FLOE_MALFORMED, "hello: NUL in filter");
	memcpy(h->instance, inst, il);
	h->instance[il] = '\0';
	h->token = (const char *)tok;
	h->filter = (const char *)filt;
	h->resume_raw = res;
	return FLOE_OK;
}

struct floe_stream_resume floe_stream_hello_resume(const struct floe_stream_hello *h, size_t i)
{
	struct floe_cursor c = floe_cursor_make(h->resume_raw + i * RESUME_ENT, RESUME_ENT);
	struct floe_stream_resume r;
	r.sensor = floe_cur_le32(&c);
	floe_cur_skip(&c, 4);
	r.seq = floe_cur_le64(&c);
	return r;
}

void floe_stream_seen_encode(const struct floe_stream_seen *e, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++, out += FLOE_STREAM_SEEN_ENT) {
		floe_put_le32(out, e[i].sensor);
		floe_put_le32(out + 4, 0);
		floe_put_le64(out + 8, e[i].first);
		floe_put_le64(out + 16, e[i].last);
	}
}

struct floe_stream_seen floe_stream_seen_entry(const uint8_t *p, size_t i)
{
	struct floe_cursor c = floe_cursor_make(p + i * FLOE_STREAM_SEEN_ENT, FLOE_STREAM_SEEN_ENT);
	struct floe_stream_seen r;
	r.sensor = floe_cur_le32(&c);
	floe_cur_skip(&c, 4);
	r.first = floe_cur_le64(&c);
	r.last = floe_cur_le64(&c);
	return r;
}

enum floe_err floe_stream_seen_decode(const uint8_t *p, size_t len, size_t *n,
                                      struct floe_errbuf *eb)
{
	if (len % FLOE_STREAM_SEEN_ENT || len / FLOE_STREAM_SEEN_ENT > FLOE_STREAM_RESUME_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "seen frame of %zu bytes", len);
	*n = len / FLOE_STREAM_SEEN_ENT;
	for (size_t i = 0; i < *n; i++) {
		struct floe_stream_seen e = floe_stream_seen_entry(p, i);
		if (e.first > e.last || e.first == 0)
			return floe_errbuf_set(
			        eb, FLOE_MALFORMED, "seen: sensor %u: seq %llu..%llu", e.sensor,
			        (unsigned long long)e.first, (unsigned long long)e.last);
	}
	return FLOE_OK;
}

void floe_stream_status_encode(const struct floe_stream_status *st,
                               uint8_t out[FLOE_STREAM_STATUS_LEN])
{
	floe_put_le64(out, (uint64_t)st->time);
	floe_put_le64(out + 8, st->records);
	floe_put_le64(out + 16, st->filtered);
	floe_put_le64(out + 24, st->dropped);
	floe_put_le32(out + 32, st->subscribers);
	floe_put_le32(out + 36, 0);
}

void floe_stream_status_encode1(const struct floe_stream_status *st,
                                uint8_t out[FLOE_STREAM_STATUS_LEN1])
{
	floe_stream_status_encode(st, out);
	floe_put_le64(out + 40, st->kernel_dropped);
	floe_put_le64(out + 48, st->iface_dropped);
}

enum floe_err floe_stream_status_decode(const uint8_t *p, size_t len, struct floe_stream_status *st,
                                        struct floe_errbuf *eb)
{
	if (len != FLOE_STREAM_STATUS_LEN && len != FLOE_STREAM_STATUS_LEN1)
		return floe_errbuf_set(eb, FLOE_MALFORMED,
		                       "status of %zu bytes (%u or %u expected)", len,
		                       FLOE_STREAM_STATUS_LEN, FLOE_STREAM_STATUS_LEN1);
	struct floe_cursor c = floe_cursor_make(p, len);
	st->time = (int64_t)floe_cur_le64(&c);
	st->records = floe_cur_le64(&c);
	st->filtered = floe_cur_le64(&c);
	st->dropped = floe_cur_le64(&c);
	st->subscribers = floe_cur_le32(&c);
	floe_cur_skip(&c, 4);
	st->kernel_dropped = len == FLOE_STREAM_STATUS_LEN1 ? floe_cur_le64(&c) : 0;
	st->iface_dropped = len == FLOE_STREAM_STATUS_LEN1 ? floe_cur_le64(&c) : 0;
	return FLOE_OK;
}

enum floe_err floe_stream_parse_addr(const char *text, const char *def_host, char *host,
                                     size_t host_cap, uint16_t *port, struct floe_errbuf *eb)
{
	const char *ps = text;
	size_t hl = 0;
	const char *hs = def_host;
	if (text[0] == '[') {
		const char *e = strchr(text, ']');
		if (!e || e[1] != ':')
			return floe_errbuf_set(eb, FLOE_INVALID,
			                       "bad address '%s': give [ADDR]:PORT", text);
		hs = text + 1;
		hl = (size_t)(e - hs);
		ps = e + 2;
	} else {
		const char *e = strrchr(text, ':');
		if (e) {
			if (strchr(text, ':') != e)
				return floe_errbuf_set(
				        eb, FLOE_INVALID,
				        "bad address '%s': IPv6 addresses go in brackets", text);
			hs = text;
			hl = (size_t)(e - text);
			ps = e + 1;
		} else {
			hl = hs ? strlen(hs) : 0;
		}
	}
	if (!hs || hl == 0)
		return floe_errbuf_set(eb, FLOE_INVALID, "bad address '%s': no host", text);
	if (hl >= host_cap)
		return floe_errbuf_set(eb, FLOE_INVALID, "bad address '%s': host too long", text);
	char *end;
	errno = 0;
	unsigned long v = strtoul(ps, &end, 10);
	if (!*ps || *end || errno || v > 65535 || ps[0] == '-' || ps[0] == '+')
		return floe_errbuf_set(eb, FLOE_INVALID, "bad address '%s': bad port", text);
	memcpy(host, hs, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return FLOE_OK;
}

char *floe_stream_read_token(const char *path, struct floe_errbuf *eb)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		floe_errbuf_set(eb, FLOE_IO, "cannot read token '%s': %s", path, strerror(errno));
		return NULL;
	}
	char buf[FLOE_STREAM_TOKEN_MAX + 3];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		floe_errbuf_set(eb, FLOE_IO, "cannot read token '%s'", path);
		return NULL;
	}
	buf[n] = '\0';
	size_t l = strcspn(buf, "\r\n");
	if (l == 0 || l > FLOE_STREAM_TOKEN_MAX || memchr(buf, 0, l)) {
		floe_errbuf_set(eb, FLOE_INVALID, "token '%s': give one line of 1 to %u bytes",
		                path, FLOE_STREAM_TOKEN_MAX);
		return NULL;
	}
	buf[l] = '\0';
	char *t = strdup(buf);
	if (!t)
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	return t;
}
