/*
 * gen-flows.c - writes synthetic flow records to a floe file, for tests
 * and benchmarks of the aggregation operators.
 *
 *   gen-flows OUT GROUPS [RECORDS]
 *
 * Record i belongs to group g = i for i < GROUPS, then to
 * g = (i * 7919) % GROUPS, so RECORDS > GROUPS makes groups of several
 * records.  Group g is the pair saddr 10.a.b.c (g / 1000 spread over the
 * address) -> daddr 172.16.x.y (g % 1000), TCP to port 80 from port
 * 1024 + g % 50000, with counters derived from i so sums are checkable:
 * spkts = 1 + i % 7, sbytes = 60 * spkts + i % 100, dpkts = i % 3,
 * dbytes = 100 * dpkts; stime = 1700000000 s + i ms, dur = (i % 5) s.
 */
#include "codec/codec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: gen-flows OUT GROUPS [RECORDS]\n");
		return 2;
	}
	uint64_t groups = strtoull(argv[2], NULL, 10);
	uint64_t records = argc > 3 ? strtoull(argv[3], NULL, 10) : groups;
	if (!groups) {
		fprintf(stderr, "gen-flows: GROUPS must be > 0\n");
		return 2;
	}
	struct floe_errbuf eb = {0};
	struct floe_writer_opts wo = {.instance = "gen-flows"};
	struct floe_writer *w = floe_writer_open(argv[1], &wo, &eb);
	if (!w) {
		fprintf(stderr, "gen-flows: %s\n", eb.msg);
		return 1;
	}
	for (uint64_t i = 0; i < records; i++) {
		uint64_t g = i < groups ? i : (i * 7919) % groups;
		uint64_t s = g / 1000, d = g % 1000;
		struct floe_flow f = {0};
		uint8_t sa[4] = {10, (uint8_t)(s >> 16), (uint8_t)(s >> 8), (uint8_t)s};
		uint8_t da[4] = {172, 16, (uint8_t)(d >> 8), (uint8_t)d};
		floe_addr_from_v4(f.saddr, sa);
		floe_addr_from_v4(f.daddr, da);
		f.stime = 1700000000000000000LL + (int64_t)i * 1000000;
		f.ltime = f.stime + (int64_t)(i % 5) * 1000000000;
		f.proto = 6;
		f.ipver = 4;
		f.etype = FLOE_ETH_IPV4;
		f.sport = (uint16_t)(1024 + g % 50000);
		f.dport = 80;
		f.spkts = 1 + i % 7;
		f.sbytes = 60 * f.spkts + i % 100;
		f.dpkts = i % 3;
		f.dbytes = 100 * f.dpkts;
		f.state = f.dpkts ? FLOE_ST_CON : FLOE_ST_REQ;
		f.trans = 1;
		if (floe_writer_add(w, &f) != FLOE_OK)
			break;
	}
	if (floe_writer_close(w, &eb) != FLOE_OK) {
		fprintf(stderr, "gen-flows: %s\n", eb.msg);
		return 1;
	}
	return 0;
}
