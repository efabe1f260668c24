/*
 * fuzz_prefixes.h - what the fuzz targets of the labelled-prefix file
 * parsers (report/prefixes.h: notes and customers files) share.  Any bytes
 * parse or fail with a message and leave nothing behind in the budget;
 * every label of a parsed set can be read back, and lookups of addresses
 * made of the input's bytes find a label index in range or none.
 */
#ifndef FLOE_FUZZ_PREFIXES_H
#define FLOE_FUZZ_PREFIXES_H

#include "report/prefixes.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>

/* The signature floe_notes_parse and floe_customers_parse both have. */
typedef enum floe_err (*fuzz_prefixes_parse_fn)(const char *text, size_t len,
                                                struct floe_budget *b,
                                                struct floe_prefixes **out,
                                                struct floe_errbuf *eb);

/* Runs parse over the input and checks the results; aborts on a broken
 * promise, returns 0 otherwise (as LLVMFuzzerTestOneInput does). */
static int fuzz_prefixes(const uint8_t *data, size_t size, fuzz_prefixes_parse_fn parse)
{
	struct floe_budget b;
	floe_budget_init(&b, 1 << 20);
	struct floe_prefixes *p = NULL;
	struct floe_errbuf eb = {0};
	enum floe_err e = parse((const char *)data, size, &b, &p, &eb);
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

#endif
