/* addr.c - address, prefix and MAC text. */
#include "addr.h"
#include "flow.h"
#include "util/numfmt.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void floe_addr_format(const uint8_t a[16], char *buf, size_t len)
{
	if (floe_addr_is_v4(a)) {
		/* dotted quad by hand: listings print millions of them */
		char t[16];
		size_t n = 0;
		for (int i = 12; i < 16; i++) {
			n += floe_fmt_u64(t + n, a[i]);
			t[n++] = '.';
		}
		n--;
		if (len) {
			if (n >= len)
				n = len - 1;
			memcpy(buf, t, n);
			buf[n] = '\0';
		}
	} else if (!inet_ntop(AF_INET6, a, buf, (socklen_t)len) && len) {
		buf[0] = '\0';
	}
}

bool floe_addr_parse(const char *s, uint8_t a[16])
{
	uint8_t v4[4];
	if (inet_pton(AF_INET, s, v4) == 1) {
		floe_addr_from_v4(a, v4);
		return true;
	}
	return inet_pton(AF_INET6, s, a) == 1;
}

void floe_addr_mask(uint8_t a[16], unsigned plen)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 8;
		if (bit >= plen)
			a[i] = 0;
		else if (plen - bit < 8)
			a[i] &= (uint8_t)(0xff << (8 - (plen - bit)));
	}
}

bool floe_cidr_parse(const char *s, uint8_t a[16], unsigned *plen)
{
	char tmp[64];
	size_t n = strlen(s);
	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n + 1);
	char *slash = strchr(tmp, '/');
	long len = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		if (!slash[1])
			return false;
		len = strtol(slash + 1, &end, 10);
		if (*end || len < 0)
			return false;
	}
	if (!floe_addr_parse(tmp, a))
		return false;
	bool v4 = floe_addr_is_v4(a) && strchr(tmp, ':') == NULL;
	long max = v4 ? 32 : 128;
	if (len < 0)
		len = max;
	if (len > max)
		return false;
	*plen = (unsigned)(v4 ? len + 96 : len);
	floe_addr_mask(a, *plen);
	return true;
}

bool floe_addr_in_prefix(const uint8_t a[16], const uint8_t net[16], unsigned plen)
{
	unsigned full = plen / 8, rest = plen % 8;
	if (memcmp(a, net, full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));
		return (a[full] & m) == (net[full] & m);
	}
	return true;
}

void floe_mac_format(const uint8_t m[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x",
	         m[0], m[1], m[2], m[3], m[4], m[5]);
}

bool floe_mac_parse(const char *s, uint8_t m[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
	return true;
}
