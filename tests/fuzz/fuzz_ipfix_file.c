/*
 * fuzz_ipfix_file.c - RFC 5655 IPFIX files (floe_ipfix_file_next): any
 * bytes as a file are split into messages, each decoded by a collector,
 * until the end or the first damage; a message is never longer than its
 * header says nor than the file, and every outcome is one of the
 * documented ones.
 */
#include "collect/collect.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum floe_err count(void *ctx, const struct floe_flow *f)
{
	(void)f;
	(*(uint64_t *)ctx)++;
	return FLOE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	struct floe_collect_config cfg;
	floe_collect_config_default(&cfg);
	cfg.max_sources = 2;
	cfg.max_templates = 8;
	cfg.source_memory = 4096;
	cfg.total_memory = 16 << 10;
	uint64_t n = 0;
	enum floe_err err;
	struct floe_collector *c = floe_collect_create(&cfg, count, &n, &err);
	static uint8_t m[FLOE_IPFIX_MSG_MAX];
	static const uint8_t none[16];
	size_t off = 0;
	for (;;) {
		size_t len = 0;
		int64_t t = 0;
		enum floe_err e = floe_ipfix_file_next(f, m, &len, &t);
		if (e != FLOE_OK) {
			if (e != FLOE_EOF && e != FLOE_MALFORMED && e != FLOE_TRUNCATED)
				abort();
			break;
		}
		if (len < 16 || len > size - off || m[0] != 0 || m[1] != 10)
			abort();
		off += len;
		if (c)
			(void)!floe_collect_input(c, m, len, none, t);
	}
	if (c)
		floe_collect_destroy(c);
	fclose(f);
	return 0;
}
