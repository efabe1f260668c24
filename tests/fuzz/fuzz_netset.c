/*
 * fuzz_netset.c - the prefix-list text parser behind --local @FILE and
 * watchlists (util/netset.h): any bytes parse or fail with a message, and
 * every entry that was added is then found.
 */
#include "util/netset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct floe_netset *s = floe_netset_create(NULL);
	struct floe_errbuf eb = {0};
	if (s) {
		enum floe_err e = floe_netset_add_text(s, text, &eb);
		if (e != FLOE_OK && eb.msg[0] == '\0')
			abort();   /* a refusal must say why */
		uint8_t hosts[8][16];
		size_t n;
		if (floe_netset_hosts(s, hosts, 8, &n))
			for (size_t i = 0; i < n; i++)
				if (!floe_netset_contains(s, hosts[i]))
					abort();
	}
	floe_netset_destroy(s);
	free(text);
	return 0;
}
