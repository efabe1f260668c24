/*
 * netflow9.c - NetFlow version 9 (RFC 3954): a 20-byte header, then
 * FlowSets: templates (id 0, section 5.2), options templates (id 1,
 * section 6.1) and data (id >= 256, section 5.3).  Templates are kept per
 * exporter and source id (section 5.1); scope fields of options templates
 * have their own type space and are skipped; options data teaches the
 * sampling rates (section 8, SAMPLING_INTERVAL, FLOW_SAMPLER_ID ...).
 */
#include "collect_int.h"

#include <string.h>

#define NF9_HDR 20

/* A template FlowSet (RFC 3954 section 5.2). */
static enum floe_err nf9_templates(struct floe_dgram *d, struct floe_cursor *cur)
{
	struct floe_tmpl_field fields[FLOE_TMPL_MAX_FIELDS];
	enum floe_err worst = FLOE_OK;
	while (floe_cur_left(cur) >= 4) {
		uint16_t id = floe_cur_be16(cur);
		uint16_t n = floe_cur_be16(cur);
		if (id < 256 || n == 0 || (size_t)n * 4 > floe_cur_left(cur)) {
			if (id == 0 && n == 0)
				break;   /* padding */
			d->src->st.malformed++;
			return FLOE_MALFORMED;
		}
		if (n > FLOE_TMPL_MAX_FIELDS) {
			d->src->st.template_refused++;
			floe_cur_skip(cur, (size_t)n * 4);
			worst = FLOE_LIMIT;
			continue;
		}
		for (uint16_t i = 0; i < n; i++) {
			fields[i].id = floe_cur_be16(cur);
			fields[i].len = floe_cur_be16(cur);
			fields[i].act = floe_ie_action(fields[i].id, 0, false);
		}
		enum floe_err e = floe_tmpl_define(d, id, false, 0, fields, n);
		if (e != FLOE_OK)
			worst = e;
	}
	return worst;
}

/* An options template FlowSet (RFC 3954 section 6.1). */
static enum floe_err nf9_options(struct floe_dgram *d, struct floe_cursor *cur)
{
	struct floe_tmpl_field fields[FLOE_TMPL_MAX_FIELDS];
	enum floe_err worst = FLOE_OK;
	while (floe_cur_left(cur) >= 6) {
		uint16_t id = floe_cur_be16(cur);
		uint16_t scope_len = floe_cur_be16(cur);
		uint16_t opt_len = floe_cur_be16(cur);
		if (id == 0 && scope_len == 0 && opt_len == 0)
			break;   /* padding */
		size_t total = (size_t)scope_len + opt_len;
		if (id < 256 || scope_len % 4 || opt_len % 4 || total == 0 ||
		    total > floe_cur_left(cur)) {
			d->src->st.malformed++;
			return FLOE_MALFORMED;
		}
		size_t n = total / 4;
		if (n > FLOE_TMPL_MAX_FIELDS) {
			d->src->st.template_refused++;
			floe_cur_skip(cur, total);
			worst = FLOE_LIMIT;
			continue;
		}
		uint16_t nscope = scope_len / 4;
		for (size_t i = 0; i < n; i++) {
			fields[i].id = floe_cur_be16(cur);
			fields[i].len = floe_cur_be16(cur);
			fields[i].act = floe_ie_action(fields[i].id, 0, i < nscope);
		}
		enum floe_err e = floe_tmpl_define(d, id, true, nscope, fields, (uint16_t)n);
		if (e != FLOE_OK)
			worst = e;
	}
	return worst;
}

enum floe_err floe_nf9_decode(struct floe_collector *c, const uint8_t *p, size_t len,
                              const uint8_t exporter[16], int64_t recv_ns)
{
	struct floe_cursor cur = floe_cursor_make(p, len);
	uint16_t version = floe_cur_be16(&cur);
	(void)floe_cur_be16(&cur);   /* count: records of all kinds; lengths bound us */
	uint32_t uptime = floe_cur_be32(&cur);
	uint32_t secs = floe_cur_be32(&cur);
	uint32_t seq = floe_cur_be32(&cur);
	uint32_t source_id = floe_cur_be32(&cur);
	if (cur.bad || version != 9)
		return FLOE_TRUNCATED;
	struct floe_source *s = floe_collect_source(c, exporter, FLOE_COLLECT_NF9, source_id);
	if (!s)
		return FLOE_LIMIT;
	s->st.datagrams++;
	/* RFC 3954 section 9: after a restart the templates are sent again;
	 * the old ones (and their sampling rates) must not decode new data */
	if (s->have_uptime && (int32_t)(uptime - s->last_uptime) < -FLOE_RESTART_MS &&
	    s->have_seq && (int32_t)(seq - s->next_seq) < 0) {
		s->st.restarts++;
		floe_tmpl_clear(c, s);
		s->nsamplers = 0;
		s->default_rate = 0;
		s->have_seq = false;
		s->last_uptime = uptime;
	}
	if (!s->have_uptime || (int32_t)(uptime - s->last_uptime) > 0)
		s->last_uptime = uptime;
	s->have_uptime = true;
	floe_collect_seq(s, seq, 1);   /* section 5.1: one per export packet */

	struct floe_dgram d = {.c = c, .src = s, .recv_ns = recv_ns,
	                       .export_ns = (int64_t)secs * 1000000000, .uptime_ms = uptime,
	                       .has_uptime = true};
	floe_collect_skew(&d);
	enum floe_err worst = FLOE_OK;
	while (floe_cur_left(&cur) >= 4) {
		uint16_t set_id = floe_cur_be16(&cur);
		uint16_t set_len = floe_cur_be16(&cur);
		if (set_len < 4 || (size_t)set_len - 4 > floe_cur_left(&cur)) {
			s->st.malformed++;
			return FLOE_MALFORMED;
		}
		struct floe_cursor set = floe_cursor_make(floe_cur_take(&cur, set_len - 4u), set_len - 4u);
		enum floe_err e = FLOE_OK;
		if (set_id == 0) {
			e = nf9_templates(&d, &set);
		} else if (set_id == 1) {
			e = nf9_options(&d, &set);
		} else if (set_id >= 256) {
			const struct floe_tmpl *t = floe_tmpl_find(s, set_id);
			if (!t)
				s->st.no_template++;
			else
				e = floe_tmpl_data(&d, t, &set, false);
		}   /* 2..255 are reserved: skipped */
		if (e != FLOE_OK) {
			if (!floe_collect_decode_err(e))
				return e;   /* the emit callback failed */
			worst = e;
		}
	}
	return worst;
}
