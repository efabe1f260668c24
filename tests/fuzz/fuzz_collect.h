/*
 * fuzz_collect.h - what the collector fuzz targets share: the input is
 * fed once as one datagram, then as a sequence of datagrams each prefixed
 * by a 2-byte big-endian length (so templates in one decode data in the
 * next), to one collector with small limits; afterwards the counters must
 * respect those limits.
 */
#ifndef FLOE_FUZZ_COLLECT_H
#define FLOE_FUZZ_COLLECT_H

#include "collect/collect.h"

#include <stdlib.h>
#include <string.h>

static enum floe_err fuzz_emit(void *ctx, const struct floe_flow *f)
{
	uint64_t *n = ctx;
	(*n)++;
	/* touch the record: a sanitizer sees uninitialised or stale bytes */
	if (f->ltime < f->stime || f->trans != 1)
		abort();
	return FLOE_OK;
}

/* version: the 16-bit version the target forces on each datagram (5, 9,
 * 10) or 0 to keep the bytes as they are. */
static int fuzz_collect(const uint8_t *data, size_t size, uint16_t version, bool many_sources)
{
	struct floe_collect_config cfg;
	floe_collect_config_default(&cfg);
	cfg.max_sources = 4;
	cfg.max_templates = 8;
	cfg.source_memory = 4096;
	cfg.total_memory = 64 << 10;
	cfg.template_timeout = 10LL * 1000000000;
	uint64_t n = 0;
	enum floe_err err;
	struct floe_collector *c = floe_collect_create(&cfg, fuzz_emit, &n, &err);
	if (!c)
		return 0;
	uint8_t *buf = malloc(size + 2);
	if (!buf) {
		floe_collect_destroy(c);
		return 0;
	}
	uint8_t ex[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
	/* whole input as one datagram */
	memcpy(buf, data, size);
	if (version && size >= 2) {
		buf[0] = (uint8_t)(version >> 8);
		buf[1] = (uint8_t)version;
	}
	(void)!floe_collect_input(c, buf, size, ex, 1700000000LL * 1000000000);
	/* then as length-prefixed datagrams, time moving on */
	size_t off = 0;
	int64_t t = 1700000000LL * 1000000000;
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		/* exact-size copy so a read past the datagram is caught */
		uint8_t *d = malloc(len ? len : 1);
		if (!d)
			break;
		memcpy(d, data + off, len);
		if (version && len >= 2) {
			d[0] = (uint8_t)(version >> 8);
			d[1] = (uint8_t)version;
		}
		if (many_sources && len >= 3)
			ex[15] = d[len - 1] & 7;
		(void)!floe_collect_input(c, d, len, ex, t);
		free(d);
		off += len;
		t += 3LL * 1000000000;
	}
	struct floe_collect_stats st;
	floe_collect_stats(c, &st);
	if (st.sources > cfg.max_sources || st.template_bytes > cfg.total_memory)
		abort();
	struct floe_collect_source_stats ss[4];
	size_t ns = floe_collect_sources(c, ss, 4);
	for (size_t i = 0; i < ns && i < 4; i++)
		if (ss[i].template_count > cfg.max_templates || ss[i].template_bytes > cfg.source_memory)
			abort();
	free(buf);
	floe_collect_destroy(c);
	return 0;
}

#endif
