/*
 * netflow5.c - NetFlow version 5 (Cisco, "NetFlow Export Datagram Format",
 * NetFlow Services Solutions Guide): a 24-byte header and up to 30 fixed
 * 48-byte records.  The source of a v5 datagram is its exporter address
 * and engine type/id (engine_type << 8 | engine_id, as nfdump names it),
 * which becomes the record's sensor id.
 */
#include "collect_int.h"

#include <string.h>

#define NF5_HDR 24
#define NF5_REC 48

enum floe_err floe_nf5_decode(struct floe_collector *c, const uint8_t *p, size_t len,
                              const uint8_t exporter[16], int64_t recv_ns)
{
	struct floe_cursor cur = floe_cursor_make(p, len);
	uint16_t version = floe_cur_be16(&cur);
	uint16_t count = floe_cur_be16(&cur);
	uint32_t uptime = floe_cur_be32(&cur);
	uint32_t secs = floe_cur_be32(&cur);
	uint32_t nsecs = floe_cur_be32(&cur);
	uint32_t seq = floe_cur_be32(&cur);
	uint8_t engine_type = floe_cur_u8(&cur);
	uint8_t engine_id = floe_cur_u8(&cur);
	uint16_t sampling = floe_cur_be16(&cur);
	if (cur.bad || version != 5)
		return FLOE_TRUNCATED;
	struct floe_source *s = floe_collect_source(c, exporter, FLOE_COLLECT_NF5,
	                                            (uint32_t)engine_type << 8 | engine_id);
	if (!s)
		return FLOE_LIMIT;
	if (count == 0 || floe_cur_left(&cur) < (size_t)count * NF5_REC) {
		s->st.malformed++;
		return FLOE_TRUNCATED;
	}
	s->st.datagrams++;
	/* an uptime that went back by more than datagrams are ever delayed:
	 * the exporter restarted, its sequence numbers start again */
	if (s->have_uptime && (int32_t)(uptime - s->last_uptime) < -FLOE_RESTART_MS &&
	    s->have_seq && (int32_t)(seq - s->next_seq) < 0) {
		s->st.restarts++;
		s->have_seq = false;
		s->last_uptime = uptime;
	}
	if (!s->have_uptime || (int32_t)(uptime - s->last_uptime) > 0)
		s->last_uptime = uptime;
	s->have_uptime = true;
	floe_collect_seq(s, seq, count);

	struct floe_dgram d = {.c = c, .src = s, .recv_ns = recv_ns,
	                       .export_ns = (int64_t)secs * 1000000000 + (nsecs % 1000000000),
	                       .uptime_ms = uptime, .has_uptime = true};
	floe_collect_skew(&d);
	/* top two bits: sampling mode (1 deterministic, 2 random); the rest:
	 * the interval.  An interval under mode 0 is ignored: some senders
	 * (nfreplay) leave the field uninitialised. */
	uint32_t rate = (sampling >> 14) && (sampling & 0x3fff) > 1 ? (sampling & 0x3fff) : 0;
	rate = floe_collect_rate(&d, rate, false, 0);
	for (uint16_t i = 0; i < count; i++) {
		struct floe_flow f;
		memset(&f, 0, sizeof(f));
		const uint8_t *a = floe_cur_take(&cur, 4);
		floe_addr_from_v4(f.saddr, a);
		floe_addr_from_v4(f.daddr, floe_cur_take(&cur, 4));
		floe_addr_from_v4(f.nexthop, floe_cur_take(&cur, 4));
		f.inif = floe_cur_be16(&cur);
		f.outif = floe_cur_be16(&cur);
		f.spkts = floe_cur_be32(&cur);
		f.sbytes = floe_cur_be32(&cur);
		uint32_t first = floe_cur_be32(&cur);
		uint32_t last = floe_cur_be32(&cur);
		f.sport = floe_cur_be16(&cur);
		f.dport = floe_cur_be16(&cur);
		floe_cur_skip(&cur, 1);
		f.stcpflags = floe_cur_u8(&cur);
		f.proto = floe_cur_u8(&cur);
		f.stos = floe_cur_u8(&cur);
		f.sas = floe_cur_be16(&cur);
		f.das = floe_cur_be16(&cur);
		floe_cur_skip(&cur, 4);   /* masks, padding */
		f.ipver = 4;
		f.etype = FLOE_ETH_IPV4;
		f.stime = d.export_ns - (int64_t)(int32_t)(uptime - first) * 1000000;
		f.ltime = d.export_ns - (int64_t)(int32_t)(uptime - last) * 1000000;
		if (f.ltime < f.stime)
			f.ltime = f.stime;
		if (f.proto == 1 && f.sport == 0) {
			f.sport = (uint16_t)(f.dport >> 8);   /* type*256+code in dport */
			f.dport &= 0xff;
		}
		floe_collect_scale(&f, rate);
		enum floe_err e = floe_collect_emit_rec(&d, &f);
		if (e != FLOE_OK)
			return e;
	}
	return FLOE_OK;
}
