/*
 * ipfix.c - IPFIX messages (RFC 7011): a 16-byte header (section 3.1),
 * then Sets (section 3.3): templates (id 2, section 3.4.1), options
 * templates (id 3, section 3.4.2), data (id >= 256).  Field specifiers
 * with the enterprise bit carry a Private Enterprise Number (section
 * 3.2); such elements are skipped, except RFC 5103's reverse elements.
 * A template record with no fields withdraws a template, or all of them
 * (section 8.1).  Variable-length fields are read per record (section 7).
 */
#include "collect_int.h"

#include <string.h>

#define IPFIX_HDR 16

/* Template and options template Sets (RFC 7011 sections 3.4.1, 3.4.2). */
static enum floe_err ipfix_templates(struct floe_dgram *d, struct floe_cursor *cur, bool options)
{
	struct floe_tmpl_field fields[FLOE_TMPL_MAX_FIELDS];
	enum floe_err worst = FLOE_OK;
	while (floe_cur_left(cur) >= 4) {
		uint16_t id = floe_cur_be16(cur);
		uint16_t n = floe_cur_be16(cur);
		if (id == 0 && n == 0)
			break;   /* padding (section 3.3.1) */
		if (n == 0) {
			/* a withdrawal; an options withdrawal has no scope
			 * count (section 8.1) */
			if (id < 256 && id != (options ? 3 : 2)) {
				d->src->st.malformed++;
				return FLOE_MALFORMED;
			}
			floe_tmpl_withdraw(d, id);
			continue;
		}
		uint16_t nscope = 0;
		if (options) {
			nscope = floe_cur_be16(cur);
			if (cur->bad || nscope == 0 || nscope > n) {
				d->src->st.malformed++;
				return FLOE_MALFORMED;
			}
		}
		if (id < 256 || (size_t)n * 4 > floe_cur_left(cur)) {
			d->src->st.malformed++;
			return FLOE_MALFORMED;
		}
		bool refuse = n > FLOE_TMPL_MAX_FIELDS;
		for (uint16_t i = 0; i < n; i++) {
			uint16_t ie = floe_cur_be16(cur);
			uint16_t flen = floe_cur_be16(cur);
			uint32_t pen = (ie & 0x8000) ? floe_cur_be32(cur) : 0;
			if (refuse)
				continue;
			fields[i].id = ie & 0x7fff;
			fields[i].len = flen;
			fields[i].act = floe_ie_action(ie & 0x7fff, pen, false);
		}
		if (cur->bad) {
			d->src->st.malformed++;
			return FLOE_MALFORMED;
		}
		if (refuse) {
			d->src->st.template_refused++;
			worst = FLOE_LIMIT;
			continue;
		}
		enum floe_err e = floe_tmpl_define(d, id, options, nscope, fields, n);
		if (e != FLOE_OK)
			worst = e;
	}
	return worst;
}

enum floe_err floe_ipfix_decode(struct floe_collector *c, const uint8_t *p, size_t len,
                                const uint8_t exporter[16], int64_t recv_ns)
{
	struct floe_cursor cur = floe_cursor_make(p, len);
	uint16_t version = floe_cur_be16(&cur);
	uint16_t mlen = floe_cur_be16(&cur);
	uint32_t secs = floe_cur_be32(&cur);
	uint32_t seq = floe_cur_be32(&cur);
	uint32_t domain = floe_cur_be32(&cur);
	if (cur.bad || version != 10)
		return FLOE_TRUNCATED;
	struct floe_source *s = floe_collect_source(c, exporter, FLOE_COLLECT_IPFIX, domain);
	if (!s)
		return FLOE_LIMIT;
	if (mlen < IPFIX_HDR || mlen > len) {
		s->st.malformed++;
		return mlen > len ? FLOE_TRUNCATED : FLOE_MALFORMED;
	}
	cur.len = mlen;   /* one message; bytes after it are not ours */
	s->st.datagrams++;
	/* A sequence number far behind the expected one: the exporter
	 * restarted (reordering never spans 64 Ki records); its templates
	 * are sent again and the old ones must not decode new data. */
	if (s->have_seq && (int32_t)(seq - s->next_seq) < -65536) {
		s->st.restarts++;
		floe_tmpl_clear(c, s);
		s->nsamplers = 0;
		s->default_rate = 0;
		s->sysinit_ns = 0;
		s->have_seq = false;
	}
	struct floe_dgram d = {.c = c, .src = s, .recv_ns = recv_ns,
	                       .export_ns = (int64_t)secs * 1000000000};
	floe_collect_skew(&d);
	enum floe_err worst = FLOE_OK;
	while (floe_cur_left(&cur) >= 4) {
		uint16_t set_id = floe_cur_be16(&cur);
		uint16_t set_len = floe_cur_be16(&cur);
		if (set_len < 4 || (size_t)set_len - 4 > floe_cur_left(&cur)) {
			s->st.malformed++;
			worst = FLOE_MALFORMED;
			break;
		}
		struct floe_cursor set = floe_cursor_make(floe_cur_take(&cur, set_len - 4u), set_len - 4u);
		enum floe_err e = FLOE_OK;
		if (set_id == 2 || set_id == 3) {
			e = ipfix_templates(&d, &set, set_id == 3);
		} else if (set_id >= 256) {
			const struct floe_tmpl *t = floe_tmpl_find(s, set_id);
			if (!t)
				s->st.no_template++;
			else
				e = floe_tmpl_data(&d, t, &set, true);
		} else {
			s->st.malformed++;   /* 0, 1 (NetFlow v9 ids), 4..255: reserved */
			e = FLOE_MALFORMED;
		}
		if (e != FLOE_OK) {
			if (!floe_collect_decode_err(e))
				return e;
			worst = e;
		}
	}
	floe_collect_seq(s, seq, d.data_records);
	return worst;
}

/* ---- RFC 5655 files ---- */

enum floe_err floe_ipfix_file_next(FILE *f, uint8_t *buf, size_t *len, int64_t *export_time)
{
	size_t got = fread(buf, 1, 16, f);
	if (got == 0)
		return ferror(f) ? FLOE_IO : FLOE_EOF;
	if (got < 16)
		return ferror(f) ? FLOE_IO : FLOE_TRUNCATED;
	size_t mlen = (size_t)buf[2] << 8 | buf[3];
	if (buf[0] != 0 || buf[1] != 10 || mlen < 16)
		return FLOE_MALFORMED;
	if (fread(buf + 16, 1, mlen - 16, f) != mlen - 16)
		return ferror(f) ? FLOE_IO : FLOE_TRUNCATED;
	*len = mlen;
	*export_time = (int64_t)((uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
	                         (uint32_t)buf[6] << 8 | buf[7]) * 1000000000;
	return FLOE_OK;
}
