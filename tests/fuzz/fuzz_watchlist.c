/*
 * fuzz_watchlist.c - the watchlist parser of floe detect watch
 * (detect/watchlist.h): any bytes parse or fail with a message; a list that
 * parses finds each of its entries' first addresses, and the entry it names
 * contains the address.
 */
#include "detect/watchlist.h"
#include "util/addr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct floe_errbuf eb = {0};
	struct floe_watchlist *w = floe_watchlist_parse((const char *)data, size, NULL, &eb);
	if (!w) {
		if (eb.msg[0] == '\0')
			abort();   /* a refusal must say why */
		return 0;
	}
	size_t n = floe_watchlist_count(w);
	for (size_t i = 0; i < n && i < 64; i++) {
		char text[64];
		uint8_t net[16];
		unsigned plen;
		floe_watchlist_format(w, i, text, sizeof(text));
		if (!floe_cidr_parse(text, net, &plen))
			abort();   /* what it prints must read back */
		long e = floe_watchlist_lookup(w, net);
		if (e < 0)
			abort();
		char got[64];
		uint8_t gnet[16];
		unsigned gplen;
		floe_watchlist_format(w, (size_t)e, got, sizeof(got));
		if (!floe_cidr_parse(got, gnet, &gplen) || gplen < plen ||
		    !floe_addr_in_prefix(net, gnet, gplen))
			abort();   /* the longest match contains the address */
	}
	uint8_t hosts[8][16];
	size_t nh;
	if (floe_watchlist_hosts(w, hosts, 8, &nh))
		for (size_t i = 0; i < nh; i++)
			if (floe_watchlist_lookup(w, hosts[i]) != (long)i)
				abort();   /* a host list's entry i is host i */
	floe_watchlist_destroy(w);
	return 0;
}
