/*
 * bench_codec.c - bytes/record and encode/decode speed of the block codec
 * on the Argus reference flows (shared data reference/ *.flows.psv).
 * Not a test; usage: bench_codec [SHARED_DATA_DIR] (default
 * $FLOE_SHARED_DATA or ../shared/data).
 *
 * Size: every reference flow (sorted by start time, as a sensor writes
 * them) in 64 Ki-record blocks, and the same without the spoofed SYN flood
 * that is 95% of them, under each choice of counter encoding.
 * Speed: the flows repeated (times shifted) to 4 Mi records, encoded and
 * decoded block by block in memory, one core; rates are per CPU second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/codec.h"
#include "codec/codec_int.h"
#include "psv.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);  /* CPU time: the machine may be shared */
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_stime(const void *a, const void *b)
{
	const struct floe_flow *x = a, *y = b;
	return x->stime < y->stime ? -1 : x->stime > y->stime;
}

/* Total framed bytes of recs in blocks of bs records. */
static size_t encoded_size(struct floe_enc *e, const struct floe_flow *recs, size_t n, size_t bs)
{
	size_t total = 0, len;
	struct floe_errbuf eb = {0};
	for (size_t i = 0; i < n; i += bs) {
		size_t k = n - i < bs ? n - i : bs;
		if (floe_block_encode(e, recs + i, k, &len, &eb) != FLOE_OK) {
			fprintf(stderr, "encode: %s\n", eb.msg);
			exit(1);
		}
		total += len;
	}
	return total;
}

static void sizes(const char *what, const struct floe_flow *recs, size_t n)
{
	static const struct {
		const char *name;
		uint8_t counters, times, ports;
	} variants[] = {
	    {"default (varint counters, delta times, byte-plane ports)", 0, 0, 0},
	    {"counters as byte planes (fixed width)", FLOE_ENC_FIXED, 0, 0},
	    {"stime as byte planes, no delta", 0, FLOE_ENC_FIXED, 0},
	    {"ports as varints", 0, 0, FLOE_ENC_VARINT},
	};
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		struct floe_enc e;
		if (floe_enc_init(&e, 0) != FLOE_OK)
			exit(1);
		for (unsigned id = 5; id <= 23; id++)
			e.enc[id] = variants[v].counters;
		e.enc[1] = variants[v].times;
		e.enc[24] = e.enc[25] = variants[v].ports;
		size_t total = encoded_size(&e, recs, n, FLOE_BLOCK_MAX_RECORDS);
		printf("%-14s %-58s %8zu bytes  %6.2f bytes/record\n", what, variants[v].name, total,
		       (double)total / (double)n);
		floe_enc_release(&e);
	}
	for (int level = 1; level <= 19; level += level < 9 ? 2 : 10) {
		struct floe_enc e;
		if (floe_enc_init(&e, level) != FLOE_OK)
			exit(1);
		size_t total = encoded_size(&e, recs, n, FLOE_BLOCK_MAX_RECORDS);
		printf("%-14s zstd level %-47d %8zu bytes  %6.2f bytes/record\n", what, level, total,
		       (double)total / (double)n);
		floe_enc_release(&e);
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("FLOE_SHARED_DATA");
	if (!dir)
		dir = "../shared/data";
	struct floe_flow *all, *some;
	size_t n = psv_load(dir, NULL, &all);
	size_t m = psv_load(dir, "synflood", &some);
	if (!n) {
		fprintf(stderr, "no reference flows under %s\n", dir);
		return 1;
	}
	qsort(all, n, sizeof(*all), by_stime);
	qsort(some, m, sizeof(*some), by_stime);
	printf("%zu reference flows, %zu without the SYN flood\n", n, m);
	sizes("all", all, n);
	sizes("no-synflood", some, m);

	/* speed */
	size_t big = 4u << 20;
	struct floe_flow *recs = malloc(big * sizeof(*recs));
	int64_t span = all[n - 1].stime - all[0].stime + 1;
	for (size_t i = 0; i < big; i++) {
		recs[i] = all[i % n];
		recs[i].stime += (int64_t)(i / n) * span;
		recs[i].ltime += (int64_t)(i / n) * span;
	}
	qsort(recs, big, sizeof(*recs), by_stime);
	struct floe_enc e;
	struct floe_dec d;
	struct floe_errbuf eb = {0};
	if (floe_enc_init(&e, 0) != FLOE_OK)
		return 1;
	floe_dec_init(&d);
	size_t nblocks = big / FLOE_BLOCK_MAX_RECORDS;
	uint8_t **frames = calloc(nblocks, sizeof(*frames));
	size_t *lens = calloc(nblocks, sizeof(*lens)), total = 0;
	double t0 = now();
	for (size_t b = 0; b < nblocks; b++) {
		if (floe_block_encode(&e, recs + b * FLOE_BLOCK_MAX_RECORDS, FLOE_BLOCK_MAX_RECORDS,
		                      &lens[b], &eb) != FLOE_OK)
			return 1;
		frames[b] = malloc(lens[b]);
		memcpy(frames[b], e.frame, lens[b]);
		total += lens[b];
	}
	double t1 = now();
	struct floe_flow *out = malloc(FLOE_BLOCK_MAX_RECORDS * sizeof(*out));
	int rounds = 5;
	uint64_t check = 0;
	double t2 = now();
	for (int r = 0; r < rounds; r++)
		for (size_t b = 0; b < nblocks; b++) {
			size_t k, used;
			if (floe_block_decode_ex(&d, frames[b], lens[b], out, &k, &used, true, &eb) != FLOE_OK) {
				fprintf(stderr, "decode: %s\n", eb.msg);
				return 1;
			}
			check += out[k - 1].sbytes;
		}
	double t3 = now();
	printf("speed: %zu records in %zu blocks, %.2f bytes/record\n", big, nblocks,
	       (double)total / (double)big);
	printf("encode: %.1f M records/s (%.0f MB/s of struct floe_flow)\n",
	       (double)big / (t1 - t0) / 1e6, (double)big * sizeof(*recs) / (t1 - t0) / 1e6);
	printf("decode: %.1f M records/s (CRC + zstd + columns; check %llu)\n",
	       (double)big * rounds / (t3 - t2) / 1e6, (unsigned long long)check);
	for (size_t b = 0; b < nblocks; b++)
		free(frames[b]);
	free(frames);
	free(lens);
	free(out);
	free(recs);
	free(all);
	free(some);
	floe_enc_release(&e);
	floe_dec_release(&d);
	return 0;
}
