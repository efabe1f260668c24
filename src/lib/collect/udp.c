/*
 * udp.c - the UDP payload of one captured frame, so exports recorded in a
 * pcap can be replayed into the collector (floe collect -r).  A minimal
 * checked walk (util/cursor.h): link header, IPv4 (RFC 791) or IPv6 (RFC
 * 8200), UDP (RFC 768).  Fragments and IPv6 extension headers are not
 * followed: exporters send datagrams that fit the path MTU.
 */
#include "collect_int.h"

#include <string.h>

enum floe_err floe_collect_udp_payload(int linktype, const uint8_t *p, size_t caplen,
                                       const uint8_t **payload, size_t *plen, uint8_t src[16],
                                       uint16_t *sport, uint16_t *dport)
{
	struct floe_cursor c = floe_cursor_make(p, caplen);
	uint16_t etype = 0;
	switch (linktype) {
	case 1:   /* DLT_EN10MB */
		floe_cur_skip(&c, 12);
		etype = floe_cur_be16(&c);
		for (int i = 0; i < 4 && (etype == 0x8100 || etype == 0x88a8 || etype == 0x9100); i++) {
			floe_cur_skip(&c, 2);
			etype = floe_cur_be16(&c);
		}
		break;
	case 113: /* DLT_LINUX_SLL */
		floe_cur_skip(&c, 14);
		etype = floe_cur_be16(&c);
		break;
	case 276: /* DLT_LINUX_SLL2 */
		etype = floe_cur_be16(&c);
		floe_cur_skip(&c, 18);
		break;
	case 0:   /* DLT_NULL: host-order family */
	case 108: /* DLT_LOOP: network-order family */
	{
		const uint8_t *f = floe_cur_take(&c, 4);
		if (!f)
			return FLOE_TRUNCATED;
		uint32_t fam = linktype == 108 ? (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 | f[2] << 8 | f[3]
		                               : (f[0] | f[1] << 8 | f[2] << 16 | (uint32_t)f[3] << 24);
		if (fam > 0xffff)
			fam = (uint32_t)f[3] | f[2] << 8;   /* other byte order */
		etype = fam == 2 ? 0x0800 : (fam == 24 || fam == 28 || fam == 30) ? 0x86dd : 0;
		break;
	}
	case 12: case 14: case 101: case 228: case 229:
	{
		if (floe_cur_left(&c) < 1)
			return FLOE_TRUNCATED;
		etype = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
		break;
	}
	default:
		return FLOE_UNSUPPORTED;
	}
	if (c.bad)
		return FLOE_TRUNCATED;
	size_t l4len;
	if (etype == 0x0800) {
		const uint8_t *ip = floe_cur_take(&c, 20);
		if (!ip)
			return FLOE_TRUNCATED;
		size_t hl = (size_t)(ip[0] & 0x0f) * 4;
		size_t tot = (size_t)ip[2] << 8 | ip[3];
		if ((ip[0] >> 4) != 4 || hl < 20 || tot < hl)
			return FLOE_MALFORMED;
		if ((ip[6] & 0x3f) || ip[7])
			return FLOE_UNSUPPORTED;   /* a fragment */
		if (ip[9] != 17)
			return FLOE_UNSUPPORTED;
		if (!floe_cur_skip(&c, hl - 20))
			return FLOE_TRUNCATED;
		floe_addr_from_v4(src, ip + 12);
		l4len = tot - hl;
	} else if (etype == 0x86dd) {
		const uint8_t *ip = floe_cur_take(&c, 40);
		if (!ip)
			return FLOE_TRUNCATED;
		if ((ip[0] >> 4) != 6)
			return FLOE_MALFORMED;
		if (ip[6] != 17)
			return FLOE_UNSUPPORTED;
		memcpy(src, ip + 8, 16);
		l4len = (size_t)ip[4] << 8 | ip[5];
	} else {
		return FLOE_UNSUPPORTED;
	}
	const uint8_t *u = floe_cur_take(&c, 8);
	if (!u)
		return FLOE_TRUNCATED;
	*sport = (uint16_t)(u[0] << 8 | u[1]);
	*dport = (uint16_t)(u[2] << 8 | u[3]);
	size_t ulen = (size_t)u[4] << 8 | u[5];
	if (ulen < 8 || ulen > l4len)
		return FLOE_MALFORMED;
	if (floe_cur_left(&c) < ulen - 8)
		return FLOE_TRUNCATED;   /* cut by the snap length */
	*payload = p + c.off;
	*plen = ulen - 8;
	return FLOE_OK;
}
