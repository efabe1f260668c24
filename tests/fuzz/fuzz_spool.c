/*
 * fuzz_spool.c - fuzz target for reading the stream server's spool
 * segments (spool.h, docs/stream.md "Spool"): the input is a segment
 * file's bytes.  They are walked in memory (header, then entries until
 * the first that does not decode), and written as the one segment of a
 * spool directory that floe_spool_open scans and repairs and a reader
 * reads back: the reader must give exactly the entries the walk found,
 * and the repaired file must be the valid prefix.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void cleanup(void)
{
	(void)rmdir(dir);
}

/* The entries of a segment's bytes; *valid: the length of its good part
 * (0 if the header is bad). */
static size_t walk(const uint8_t *p, size_t len, size_t *valid, uint64_t *sum)
{
	struct floe_errbuf eb = {0};
	struct floe_spool_seghdr h;
	*valid = 0;
	if (floe_spool_seghdr_decode(p, len, &h, &eb) != FLOE_OK)
		return 0;
	size_t off = FLOE_SPOOL_HDR, n = 0;
	for (;;) {
		struct floe_spool_entry e;
		size_t need;
		if (floe_spool_entry_decode(p + off, len - off, &e, &need, &eb) != FLOE_OK)
			break;
		if (e.len != need || e.len > len - off ||
		    e.block + e.block_len != p + off + e.len)
			abort();
		for (size_t i = 0; i < e.nranges; i++) {
			struct floe_stream_seen r = floe_stream_seen_entry(e.ranges, i);
			if (r.first == 0 || r.first > r.last)
				abort();
			*sum += r.last;
		}
		off += e.len;
		n++;
	}
	*valid = off;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/floe-fuzz-spool-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(cleanup);
	}
	uint64_t sum = 0;
	size_t valid;
	size_t n = walk(data, size, &valid, &sum);

	char path[128];
	snprintf(path, sizeof(path), "%s/0000000000000001.spool", dir);
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
	struct floe_errbuf eb = {0};
	struct floe_spool_opts o = {.dir = dir, .max_bytes = 1ull << 30, .run = 1};
	struct floe_spool *sp = floe_spool_open(&o, &eb);
	if (!sp)
		abort();   /* a bad segment is cut or removed, never an error */
	struct stat sb;
	if (valid && (stat(path, &sb) != 0 || (size_t)sb.st_size != valid))
		abort();   /* cut at the last complete entry */
	if (!valid && (stat(path, &sb) != 0 || sb.st_size != FLOE_SPOOL_HDR))
		abort();   /* a segment without a good header is removed (and the
		              spool's new segment 1 is a header) */
	struct floe_spool_reader *rd = floe_spool_reader_create(sp);
	size_t got = 0;
	for (;;) {
		struct floe_spool_entry e;
		enum floe_err x = floe_spool_reader_next(rd, &e, &eb);
		if (x == FLOE_EOF)
			break;
		if (x != FLOE_OK)
			abort();
		got++;
	}
	if (got != n)
		abort();
	floe_spool_reader_destroy(rd);
	floe_spool_close(sp);
	/* the spool started segment 2 (or 1 again): clear for the next input */
	for (int i = 1; i <= 2; i++) {
		snprintf(path, sizeof(path), "%s/%016x.spool", dir, i);
		(void)unlink(path);
	}
	(void)sum;
	return 0;
}
