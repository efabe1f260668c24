/*
 * fuzz_block.c - fuzz target for the block codec and the file reader.
 *
 * Each input is fed to floe_block_decode (CRCs checked), to the internal
 * decoder with CRC checks off (random mutations would otherwise stop at the
 * checksum and never reach the column decoders), and as a whole file to the
 * reader: seekable (memfd, footer index path) with and without CRC checks,
 * and through a pipe (block walking path).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec/codec.h"
#include "codec/codec_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct floe_flow out[FLOE_BLOCK_MAX_RECORDS];

static bool all_blocks(void *ud, const struct floe_block_summary *s)
{
	static const uint8_t a[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
	(void)ud;
	(void)floe_block_may_contain(s, a);
	return true;
}

static void read_fd(int fd, bool verify, bool filter)
{
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_fdopen(fd, "fuzz", NULL, &eb);
	if (!r)
		return;
	floe_reader_set_verify(r, verify);
	if (filter) {
		static const uint8_t a[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1},
		                                 {0x20, 0x01, 0x0d, 0xb8}};
		(void)floe_reader_may_contain(r, a, 2);  /* the file's address filter */
		floe_reader_set_block_filter(r, all_blocks, NULL);
	}
	const struct floe_flow *recs;
	size_t n;
	uint64_t sum = 0;
	while (floe_reader_next(r, &recs, &n) == FLOE_OK)
		for (size_t i = 0; i < n; i++)
			sum += recs[i].sbytes;  /* touch what was returned */
	(void)sum;
	floe_reader_close(r);
}

static void read_memfd(const uint8_t *data, size_t size, bool verify)
{
	int fd = memfd_create("fuzz", 0);
	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size && lseek(fd, 0, SEEK_SET) == 0)
		read_fd(fd, verify, verify);
	close(fd);
}

static void read_pipe(const uint8_t *data, size_t size)
{
	int p[2];
	if (size > 60000 || pipe(p) != 0)  /* fits the pipe buffer: no writer thread */
		return;
	if (write(p[1], data, size) == (ssize_t)size) {
		close(p[1]);
		read_fd(p[0], true, false);
	} else {
		close(p[1]);
	}
	close(p[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct floe_errbuf eb = {0};
	size_t n, used;
	/* a block alone, or a file: then skip its header to reach the blocks */
	const uint8_t *p = data;
	size_t len = size;
	if (len >= FH_LEN && memcmp(p, FLOE_FILE_MAGIC, 4) == 0) {
		p += FH_LEN;
		len -= FH_LEN;
	}
	if (floe_block_decode(p, len, out, &n, &used, &eb) == FLOE_OK && n == 0)
		abort();  /* a decoded block has records */
	struct floe_dec d;
	floe_dec_init(&d);
	while (len) {
		floe_errbuf_clear(&eb);
		if (floe_block_decode_ex(&d, p, len, out, &n, &used, false, &eb) != FLOE_OK)
			break;
		p += used;
		len -= used;
	}
	floe_dec_release(&d);
	read_memfd(data, size, true);
	read_memfd(data, size, false);
	read_pipe(data, size);
	return 0;
}
