/*
 * fuzz_graph.c - fuzz target for the chart options that come from outside
 * (graph/graph.h): the key fields of --by, the title and the --vs name,
 * which the web UI takes from HTTP parameters, and the metric, top and
 * mode.
 *
 * Input: byte 0 picks the metric and stacked, byte 1 the top; the rest is
 * by, title and vs separated by NUL bytes.  A few fixed records are
 * charted.  Oracles: create fails only with INVALID or LIMIT and a
 * message; a chart drawn is valid UTF-8 without control characters other
 * than newlines, and ends its document (SVG: "</svg>\n", JSON: "}\n").
 */
#include "graph/graph.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S 1000000000LL

static void check_text(const char *p, size_t n, const char *end)
{
	size_t el = strlen(end);
	if (n < el || memcmp(p + n - el, end, el) != 0)
		abort();
	const unsigned char *s = (const unsigned char *)p;
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c < 0x20 && c != '\n')
			abort();
		size_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
		if (k == 0 || i + k > n)
			abort();
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				abort();
		i += k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 4096)
		return 0;
	char *text = malloc(size + 2);
	if (!text)
		return 0;
	memcpy(text, data + 2, size - 2);
	memset(text + size - 2, 0, 4);
	const char *by = text;
	const char *title = by + strlen(by) + 1;
	const char *vs = title < text + size - 2 ? title + strlen(title) + 1 : "";
	if (vs > text + size - 2)
		vs = "";
	struct floe_graph_opts o = {
		.t0 = 1000 * S, .t1 = 1600 * S, .bin = 60 * S, .metric = (enum floe_graph_metric)(data[0] % 5),
		.stacked = data[0] & 0x80, .top = data[1] % 34, .by = *by ? by : NULL,
		.title = *title ? title : NULL, .vs = *vs ? vs : NULL, .width = 400, .height = 300,
	};
	struct floe_errbuf eb = {0};
	struct floe_graph *g = floe_graph_create(&o, &eb);
	if (!g) {
		if ((eb.code != FLOE_INVALID && eb.code != FLOE_LIMIT) || !eb.msg[0])
			abort();
		free(text);
		return 0;
	}
	for (int i = 0; i < 12; i++) {
		struct floe_flow f = {0};
		uint8_t a[4] = {10, 0, (uint8_t)i, 1}, b[4] = {192, 168, 0, (uint8_t)(i * 7)};
		floe_addr_from_v4(f.saddr, a);
		floe_addr_from_v4(f.daddr, b);
		f.ipver = 4;
		f.etype = FLOE_ETH_IPV4;
		f.proto = i % 3 ? 6 : 17;
		f.sport = (uint16_t)(1024 + i);
		f.dport = (uint16_t)(i % 4 ? 443 : 53);
		f.stime = (1000 + 40 * i) * S;
		f.ltime = f.stime + (i % 5) * 70 * S;
		f.spkts = (uint64_t)i + 1;
		f.sbytes = 100 * ((uint64_t)i + 1);
		f.trans = 1;
		if (floe_graph_add(g, &f) != FLOE_OK)
			abort();
		if (o.vs && i % 2 && floe_graph_add_vs(g, &f) != FLOE_OK)
			abort();
	}
	for (int k = 0; k < 2; k++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *fp = open_memstream(&buf, &len);
		if (!fp)
			break;
		enum floe_err e = k ? floe_graph_json(g, fp) : floe_graph_svg(g, fp);
		fclose(fp);
		if (e != FLOE_OK)
			abort();
		check_text(buf, len, k ? "}\n" : "</svg>\n");
		free(buf);
	}
	floe_graph_destroy(g);
	free(text);
	return 0;
}
