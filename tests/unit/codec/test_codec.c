/*
 * test_codec.c - the block codec and floe files: CRC32C vectors, round
 * trips of edge values, multi-block and empty files, files without footer,
 * torn and corrupt blocks, bad headers, pipes, block filters, the Bloom
 * filter, allocation failures and the checked-in v1 sample (format
 * stability).  Prints bytes/record on the Argus reference flows as a
 * diagnostic (bench_codec measures speed).
 *
 * Run with --write-golden PATH to (re)write tests/data/codec/v1-sample.floe;
 * only do that for a new format version.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/codec.h"
#include "codec/codec_int.h"
#include "tap.h"
#include "testutil.h"
#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/mem.h"
#include "psv.h"

/* records compare on their fields; the struct's tail padding is excluded */
#define FLOW_BYTES (offsetof(struct floe_flow, dmac) + 6)

static bool flow_eq(const struct floe_flow *a, const struct floe_flow *b)
{
	return memcmp(a, b, FLOW_BYTES) == 0;
}

/* ---- log capture ---- */

static int warns;
static char last_warn[512];

static void log_fn(void *ud, enum floe_loglevel level, const char *msg)
{
	(void)ud;
	if (level == FLOE_LOG_WARN) {
		warns++;
		snprintf(last_warn, sizeof(last_warn), "%s", msg);
	}
}

static const struct floe_log test_log = {log_fn, NULL};

/* ---- records ---- */

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Traffic-like records: a few hundred hosts, rising times, small counts. */
static void make_flow(struct floe_flow *f, size_t i)
{
	memset(f, 0, sizeof(*f));
	f->stime = 1700000000000000000 + (int64_t)i * 1000003;
	f->ltime = f->stime + (int64_t)(rnd() % 5000000000u);
	uint8_t v4[4] = {10, 0, (uint8_t)(rnd() % 4), (uint8_t)(rnd() % 200)};
	floe_addr_from_v4(f->saddr, v4);
	if (i % 7 == 0) {
		f->daddr[0] = 0x20;
		f->daddr[1] = 0x01;
		f->daddr[15] = (uint8_t)(rnd() % 50);
		memcpy(f->saddr, f->daddr, 15);
		f->ipver = 6;
		f->etype = FLOE_ETH_IPV6;
	} else {
		uint8_t d4[4] = {192, 168, 1, (uint8_t)(rnd() % 30)};
		floe_addr_from_v4(f->daddr, d4);
		f->ipver = 4;
		f->etype = FLOE_ETH_IPV4;
	}
	f->proto = i % 3 ? 6 : 17;
	f->sport = (uint16_t)(1024 + rnd() % 60000);
	f->dport = (uint16_t)(i % 5 ? 443 : 53);
	f->spkts = 1 + rnd() % 20;
	f->dpkts = rnd() % 20;
	f->sbytes = f->spkts * (40 + rnd() % 1400);
	f->dbytes = f->dpkts * (40 + rnd() % 1400);
	f->state = FLOE_ST_CON;
	f->trans = 1;
}

static size_t edge_flows(struct floe_flow *out)
{
	size_t n = 0;
	struct floe_flow *f;
	/* all zero */
	memset(&out[n++], 0, sizeof(*out));
	/* all max / min */
	f = &out[n++];
	memset(f, 0xff, sizeof(*f));
	f->stime = INT64_MIN;
	f->ltime = INT64_MAX;
	f->synack = INT64_MIN;
	f->ackdat = INT64_MAX;
	f = &out[n++];
	memset(f, 0, sizeof(*f));
	f->stime = INT64_MAX;
	f->ltime = INT64_MIN;
	f->synack = -1;
	f->ackdat = 1;
	f->spkts = UINT64_MAX;
	f->dbytes = (uint64_t)1 << 63;
	f->sas = UINT32_MAX;
	f->sport = UINT16_MAX;
	f->proto = 255;
	uint8_t a4[4] = {255, 255, 255, 255};
	floe_addr_from_v4(f->saddr, a4);
	memset(f->daddr, 0xff, 16);
	f = &out[n++];
	memset(f, 0, sizeof(*f));
	f->stime = -5;  /* before the epoch */
	f->ltime = -1000000000000;
	uint8_t z4[4] = {0, 0, 0, 0};
	floe_addr_from_v4(f->daddr, z4);
	f->saddr[15] = 1;  /* ::1 */
	memset(f->smac, 0xab, 6);
	f->dmac[5] = 1;
	f->flags = FLOE_F_MAC | FLOE_F_VLAN;
	f->vlan = 4095;
	/* each field alone, so a mixed-up column shows */
	for (unsigned k = 0; k < FLOW_BYTES; k++) {
		f = &out[n++];
		memset(f, 0, sizeof(*f));
		((uint8_t *)f)[k] = (uint8_t)(k * 37 + 1);
	}
	return n;
}

/* ---- files ---- */

static char tmpdir[] = "/tmp/floe-codec-XXXXXX";

static const char *tmp(const char *name)
{
	static char path[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmpdir, name);
	return path[k];
}

static enum floe_err write_file(const char *path, const struct floe_flow *recs, size_t n,
                                uint32_t block_records, bool close_it)
{
	struct floe_errbuf eb = {0};
	struct floe_writer_opts o = {.instance = "test", .block_records = block_records};
	struct floe_writer *w = floe_writer_open(path, &o, &eb);
	if (!w)
		return eb.code;
	for (size_t i = 0; i < n; i++)
		if (floe_writer_add(w, &recs[i]) != FLOE_OK)
			break;
	if (!close_it) {
		enum floe_err e = floe_writer_flush(w);
		floe_writer_abandon(w);
		return e;
	}
	return floe_writer_close(w, &eb);
}

struct readres {
	enum floe_err open_err, end_err;
	char msg[256];
	struct floe_flow *recs;
	size_t n;
	struct floe_reader_stats st;
	bool has_footer;
};

static void read_all(struct floe_reader *r, struct readres *rr)
{
	const struct floe_flow *b;
	size_t n;
	enum floe_err e;
	while ((e = floe_reader_next(r, &b, &n)) == FLOE_OK) {
		rr->recs = realloc(rr->recs, (rr->n + n) * sizeof(*b));
		memcpy(rr->recs + rr->n, b, n * sizeof(*b));
		rr->n += n;
	}
	rr->end_err = e;
	floe_reader_stats(r, &rr->st);
	rr->has_footer = floe_reader_info(r)->has_footer;
}

static void read_path(const char *path, struct readres *rr, floe_block_pred pred, void *ud)
{
	struct floe_errbuf eb = {0};
	memset(rr, 0, sizeof(*rr));
	struct floe_reader *r = floe_reader_open(path, &test_log, &eb);
	rr->open_err = eb.code;
	snprintf(rr->msg, sizeof(rr->msg), "%s", eb.msg);
	if (!r)
		return;
	floe_reader_set_block_filter(r, pred, ud);
	read_all(r, rr);
	floe_reader_close(r);
}

/* Reads the file through a pipe (a non-seekable input). */
static void read_pipe(const char *path, struct readres *rr)
{
	int p[2];
	memset(rr, 0, sizeof(*rr));
	if (pipe(p) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		int fd = open(path, O_RDONLY);
		char buf[4096];
		ssize_t k;
		while (fd >= 0 && (k = read(fd, buf, sizeof(buf))) > 0)
			if (write(p[1], buf, (size_t)k) != k)
				break;
		_exit(0);
	}
	close(p[1]);
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_fdopen(p[0], "pipe", &test_log, &eb);
	rr->open_err = eb.code;
	if (r) {
		read_all(r, rr);
		floe_reader_close(r);
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
}

static bool same_recs(const struct readres *rr, const struct floe_flow *recs, size_t n)
{
	if (rr->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!flow_eq(&rr->recs[i], &recs[i]))
			return false;
	return true;
}

/* ---- tests ---- */

static void test_crc(void)
{
	/* RFC 3720 B.4 */
	uint8_t buf[48];
	memset(buf, 0, 32);
	TAP_CHECK(floe_crc32c(0, buf, 32) == 0x8a9136aa, "crc32c: 32 zero bytes");
	memset(buf, 0xff, 32);
	TAP_CHECK(floe_crc32c(0, buf, 32) == 0x62a8ab43, "crc32c: 32 0xff bytes");
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	TAP_CHECK(floe_crc32c(0, buf, 32) == 0x46dd794e, "crc32c: incrementing");
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	TAP_CHECK(floe_crc32c(0, buf, 32) == 0x113fdb5c, "crc32c: decrementing");
	static const uint8_t pdu[48] = {
	    0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
	    0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	TAP_CHECK(floe_crc32c(0, pdu, 48) == 0xd9963a56, "crc32c: iSCSI read PDU");
	TAP_CHECK(floe_crc32c(0, "123456789", 9) == 0xe3069283, "crc32c: check value");
	TAP_CHECK(floe_crc32c_sw(0, pdu, 48) == 0xd9963a56, "crc32c table path: iSCSI PDU");
	uint8_t big[1000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)rnd();
	int bad = 0;
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(big); len += 7) {
			uint32_t a = floe_crc32c(0, big + off, len);
			uint32_t b = floe_crc32c_sw(0, big + off, len);
			uint32_t c = floe_crc32c(floe_crc32c(0, big + off, len / 2), big + off + len / 2,
			                         len - len / 2);
			bad += a != b || a != c;
		}
	TAP_CHECK(bad == 0, "crc32c: hardware, table and incremental agree (%d differ)", bad);
}

static void test_roundtrip(void)
{
	struct floe_flow recs[FLOW_BYTES + 16];
	size_t n = edge_flows(recs);
	struct readres rr;
	const char *p = tmp("edge.floe");
	TAP_CHECK(write_file(p, recs, n, 0, true) == FLOE_OK, "edge: write %zu records", n);
	read_path(p, &rr, NULL, NULL);
	TAP_CHECK(rr.open_err == FLOE_OK && rr.end_err == FLOE_EOF, "edge: read (%s)", rr.msg);
	TAP_CHECK(same_recs(&rr, recs, n), "edge: records equal (%zu read)", rr.n);
	TAP_CHECK(rr.has_footer && rr.st.blocks_read == 1, "edge: one block, footer");
	for (size_t i = 0; i < rr.n && i < n; i++)
		if (!flow_eq(&rr.recs[i], &recs[i])) {
			TAP_DIAG("first difference at record %zu", i);
			break;
		}
	free(rr.recs);

	/* each record alone: constant columns take the CONST path */
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (write_file(p, &recs[i], 1, 0, true) != FLOE_OK) {
			bad++;
			continue;
		}
		read_path(p, &rr, NULL, NULL);
		bad += !same_recs(&rr, &recs[i], 1);
		free(rr.recs);
	}
	TAP_CHECK(bad == 0, "edge: each record alone round-trips (%d bad)", bad);

	/* every encoding on every column it allows */
	struct floe_enc e;
	struct floe_dec d;
	struct floe_errbuf eb = {0};
	static struct floe_flow out[FLOE_BLOCK_MAX_RECORDS];
	floe_dec_init(&d);
	bad = 0;
	for (unsigned enc = 1; enc < FLOE_ENC__COUNT; enc++) {
		if (floe_enc_init(&e, 1) != FLOE_OK)
			break;
		for (unsigned id = 1; id <= FLOE_COL_MAX; id++)
			e.enc[id] = (uint8_t)enc;
		/* only where allowed: ADDR on addresses, DELTA_STIME on ltime,
		 * integer encodings on integers */
		for (unsigned id = 1; id <= FLOE_COL_MAX; id++) {
			bool bytes = id == 3 || id == 4 || id == 40 || id == 41;
			if ((enc == FLOE_ENC_ADDR && id != 3 && id != 4) ||
			    (enc == FLOE_ENC_DELTA_STIME && id != 2) ||
			    (bytes && enc != FLOE_ENC_FIXED && enc != FLOE_ENC_ADDR))
				e.enc[id] = 0;
		}
		e.codec = enc % 2 ? FLOE_CODEC_ZSTD : FLOE_CODEC_NONE;
		size_t len, got, used;
		if (floe_block_encode(&e, recs, n, &len, &eb) != FLOE_OK ||
		    floe_block_decode_ex(&d, e.frame, len, out, &got, &used, true, &eb) != FLOE_OK ||
		    got != n || used != len) {
			bad++;
			TAP_DIAG("encoding %u: %s", enc, eb.msg);
		} else {
			for (size_t i = 0; i < n; i++)
				if (!flow_eq(&out[i], &recs[i])) {
					bad++;
					TAP_DIAG("encoding %u: record %zu differs", enc, i);
				}
		}
		floe_enc_release(&e);
	}
	TAP_CHECK(bad == 0, "every column encoding round-trips (%d bad)", bad);

	/* a column zero in the first tiles of a block and not in a later one,
	 * encoded right after a block where it is never zero: the first
	 * tiles read as zeros, not as what the block before left */
	static struct floe_flow two[1000];
	for (size_t i = 0; i < 1000; i++) {
		make_flow(&two[i], i);
		two[i].sas = 1000 + (uint32_t)i;
	}
	bad = floe_enc_init(&e, 1) != FLOE_OK;
	for (int blk = 0; blk < 2 && !bad; blk++) {
		size_t len, got, used;
		if (floe_block_encode(&e, two, 1000, &len, &eb) != FLOE_OK ||
		    floe_block_decode_ex(&d, e.frame, len, out, &got, &used, true, &eb) != FLOE_OK ||
		    got != 1000) {
			bad++;
			break;
		}
		for (size_t i = 0; i < 1000; i++)
			bad += !flow_eq(&out[i], &two[i]);
		for (size_t i = 0; i < 1000; i++)
			two[i].sas = i == 900 ? 7 : 0;
	}
	floe_enc_release(&e);
	floe_dec_release(&d);
	TAP_CHECK(bad == 0, "a column first set in a late tile reads as zeros before it (%d bad)", bad);
}

static struct floe_flow *traffic(size_t n)
{
	struct floe_flow *r = malloc(n * sizeof(*r));
	for (size_t i = 0; i < n; i++)
		make_flow(&r[i], i);
	return r;
}

static void test_multiblock(void)
{
	size_t n = 10007;
	struct floe_flow *recs = traffic(n);
	struct readres rr;
	const char *p = tmp("multi.floe");
	TAP_CHECK(write_file(p, recs, n, 1000, true) == FLOE_OK, "multi: write");
	read_path(p, &rr, NULL, NULL);
	TAP_CHECK(same_recs(&rr, recs, n) && rr.st.blocks_read == 11 && rr.has_footer,
	          "multi: 11 blocks read back equal (%zu records, %llu blocks)", rr.n,
	          (unsigned long long)rr.st.blocks_read);
	free(rr.recs);
	read_pipe(p, &rr);
	TAP_CHECK(same_recs(&rr, recs, n) && rr.st.blocks_read == 11 && rr.has_footer,
	          "multi: through a pipe (%zu records)", rr.n);
	free(rr.recs);

	/* writer flush ends blocks early */
	struct floe_errbuf eb = {0};
	struct floe_writer_opts o = {.block_records = 100};
	struct floe_writer *w = floe_writer_open(p, &o, &eb);
	for (size_t i = 0; i < 250; i++) {
		if (floe_writer_add(w, &recs[i]) != FLOE_OK)
			break;
		if (i == 9 && floe_writer_flush(w) != FLOE_OK)
			break;
	}
	TAP_CHECK(floe_writer_close(w, &eb) == FLOE_OK, "flush: close");
	read_path(p, &rr, NULL, NULL);
	TAP_CHECK(same_recs(&rr, recs, 250) && rr.st.blocks_read == 4,
	          "flush: 10+100+100+40 records in 4 blocks (%llu)",
	          (unsigned long long)rr.st.blocks_read);
	free(rr.recs);

	/* writing to "-" (stdout) into a pipe, reading "-" (stdin) */
	int pw[2];
	if (pipe(pw) == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			close(pw[0]);
			dup2(pw[1], STDOUT_FILENO);
			close(pw[1]);
			_exit(write_file("-", recs, 3000, 1000, true) == FLOE_OK ? 0 : 1);
		}
		close(pw[1]);
		/* The harness may start the test with no standard input, and
		 * then pipe() hands out fd 0 itself: only move the read end
		 * onto fd 0 when it is not there already. */
		int saved = pw[0] == STDIN_FILENO ? -1 : dup(STDIN_FILENO);
		if (pw[0] != STDIN_FILENO) {
			dup2(pw[0], STDIN_FILENO);
			close(pw[0]);
		}
		read_path("-", &rr, NULL, NULL);
		if (saved >= 0) {
			dup2(saved, STDIN_FILENO);
			close(saved);
		} else {
			close(STDIN_FILENO);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		fflush(stdout);
		TAP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && same_recs(&rr, recs, 3000) &&
		              rr.has_footer,
		          "'-': stdout to stdin through a pipe (%zu records, status %d, %s/%s %s)", rr.n,
		          status, floe_strerror(rr.open_err), floe_strerror(rr.end_err), rr.msg);
		free(rr.recs);
	}
	free(recs);
}

/* Encoder threads: the same bytes as encoding in the caller (but for the
 * creation time in the header), flush and close wait for them, errors
 * stick. */
static void test_threads(void)
{
	size_t n = 10007;
	struct floe_flow *recs = traffic(n);
	const char *p0 = tmp("thr0.floe"), *p3 = tmp("thr3.floe");
	for (unsigned t = 0; t <= 3; t += 3) {
		struct floe_errbuf eb = {0};
		struct floe_writer_opts o = {.block_records = 1000, .threads = t};
		struct floe_writer *w = floe_writer_open(t ? p3 : p0, &o, &eb);
		size_t flushed = 0;
		struct stat st;
		for (size_t i = 0; w && i < n; i++) {
			if (floe_writer_add(w, &recs[i]) != FLOE_OK)
				break;
			if (i == 4321 && floe_writer_flush(w) == FLOE_OK && stat(t ? p3 : p0, &st) == 0)
				flushed = (size_t)st.st_size;
		}
		/* after flush every block so far is in the file: 4 full and one
		 * of 322 records, each at least a header long */
		TAP_CHECK(flushed > 5 * 64, "threads %u: flush waits for the blocks (%zu bytes)", t,
		          flushed);
		TAP_CHECK(w && floe_writer_close(w, &eb) == FLOE_OK, "threads %u: close (%s)", t, eb.msg);
	}
	size_t la = 0, lb = 0;
	uint8_t *a = test_slurp(p0, &la), *b = test_slurp(p3, &lb);
	TAP_CHECK(a && b && la == lb && la > FH_LEN && memcmp(a + FH_LEN, b + FH_LEN, la - FH_LEN) == 0,
	          "threads: 3 encoder threads write the same blocks, footer and filter (%zu, %zu bytes)",
	          la, lb);
	free(a);
	free(b);
	struct readres rr;
	read_path(p3, &rr, NULL, NULL);
	TAP_CHECK(same_recs(&rr, recs, n) && rr.st.blocks_read == 11 && rr.has_footer,
	          "threads: read back equal in 11 blocks (%zu records)", rr.n);
	free(rr.recs);

	/* a write that fails in an encoder thread is reported by the
	 * caller's next add or by close */
	int pw[2];
	signal(SIGPIPE, SIG_IGN);
	if (pipe(pw) == 0) {
		struct floe_errbuf eb = {0};
		struct floe_writer_opts o = {.block_records = 100, .threads = 2};
		struct floe_writer *w = floe_writer_fdopen(pw[1], "pipe", &o, &eb);
		close(pw[0]);
		enum floe_err e = FLOE_OK;
		for (size_t i = 0; w && i < n && e == FLOE_OK; i++)
			e = floe_writer_add(w, &recs[i]);
		TAP_CHECK(w && e == FLOE_IO, "threads: a failed write sticks (%s)", floe_strerror(e));
		TAP_CHECK(floe_writer_close(w, &eb) == FLOE_IO && strstr(eb.msg, "pipe"),
		          "threads: close reports it (%s)", eb.msg);
		close(pw[1]);
	}
	free(recs);
}

static void test_empty_and_bad(void)
{
	struct readres rr;
	const char *p = tmp("empty.floe");
	TAP_CHECK(write_file(p, NULL, 0, 0, true) == FLOE_OK, "empty: write header+footer");
	read_path(p, &rr, NULL, NULL);
	TAP_CHECK(rr.open_err == FLOE_OK && rr.end_err == FLOE_EOF && rr.n == 0 && rr.has_footer,
	          "empty: no records, has footer");
	read_pipe(p, &rr);
	TAP_CHECK(rr.end_err == FLOE_EOF && rr.n == 0 && rr.has_footer, "empty: through a pipe");
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(p, NULL, &eb);
	TAP_CHECK(r && strcmp(floe_reader_info(r)->creator, "floe 0.1.0") == 0 &&
	              strcmp(floe_reader_info(r)->instance, "test") == 0 &&
	              floe_reader_info(r)->major == 1 && floe_reader_info(r)->created > 0,
	          "header: creator, instance, version, time");
	floe_reader_close(r);

	size_t len;
	uint8_t *good = test_slurp(p, &len);
	static const struct {
		const char *name;
		size_t cut;          /* bytes of the good file kept; SIZE_MAX: replace */
		const char *bytes;
		enum floe_err err;
		const char *msg;
	} cases[] = {
	    {"empty file", 0, NULL, FLOE_TRUNCATED, "empty file"},
	    {"garbage", SIZE_MAX, "hello, world, this is not floe", FLOE_MALFORMED, "not a floe file"},
	    {"pcap", SIZE_MAX, "\xd4\xc3\xb2\xa1\x02\x00\x04\x00", FLOE_MALFORMED, "not a floe file"},
	    {"magic only", 4, NULL, FLOE_TRUNCATED, "cut short"},
	    {"short header", 100, NULL, FLOE_TRUNCATED, "cut short"},
	    {"2 bytes", 2, NULL, FLOE_TRUNCATED, "cut short"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *q = tmp("bad.floe");
		if (cases[i].cut == SIZE_MAX)
			test_spit(q, (const uint8_t *)cases[i].bytes, strlen(cases[i].bytes));
		else
			test_spit(q, good, cases[i].cut);
		read_path(q, &rr, NULL, NULL);
		TAP_CHECK(rr.open_err == cases[i].err && strstr(rr.msg, cases[i].msg) &&
		              strstr(rr.msg, "bad.floe"),
		          "bad header: %s -> %s (%s)", cases[i].name, floe_strerror(cases[i].err),
		          rr.msg);
	}
	/* "2 bytes" matches the magic's prefix: cut short, not garbage; a file
	 * of a newer major version is refused with its version */
	uint8_t h[FH_LEN];
	memcpy(h, good, FH_LEN);
	floe_put_le16(h + FH_MAJOR, 2);
	floe_put_le16(h + FH_MINOR, 3);
	floe_put_le32(h + FH_CRC, floe_crc32c(0, h, FH_CRC));
	test_spit(tmp("new.floe"), h, FH_LEN);
	read_path(tmp("new.floe"), &rr, NULL, NULL);
	TAP_CHECK(rr.open_err == FLOE_UNSUPPORTED &&
	              strstr(rr.msg, "written by a newer floe (format 2.3)"),
	          "newer major version refused (%s)", rr.msg);
	/* a newer minor version with a longer header reads */
	uint8_t h2[FH_LEN + 40];
	memset(h2, 0, sizeof(h2));
	memcpy(h2, good, FH_CRC);
	floe_put_le16(h2 + FH_MINOR, 7);
	floe_put_le32(h2 + FH_HDRLEN, sizeof(h2));
	floe_put_le32(h2 + sizeof(h2) - 4, floe_crc32c(0, h2, sizeof(h2) - 4));
	test_spit(tmp("minor.floe"), h2, sizeof(h2));
	read_path(tmp("minor.floe"), &rr, NULL, NULL);
	TAP_CHECK(rr.open_err == FLOE_OK && rr.end_err == FLOE_EOF, "newer minor header reads (%s)",
	          rr.msg);
	memcpy(h, good, FH_LEN);
	h[FH_CREATOR] ^= 1;
	test_spit(tmp("crc.floe"), h, FH_LEN);
	read_path(tmp("crc.floe"), &rr, NULL, NULL);
	TAP_CHECK(rr.open_err == FLOE_CHECKSUM, "header checksum mismatch -> CHECKSUM (%s)", rr.msg);
	read_path(tmp("does-not-exist.floe"), &rr, NULL, NULL);
	TAP_CHECK(rr.open_err == FLOE_IO && strstr(rr.msg, "does-not-exist.floe"),
	          "missing file -> IO (%s)", rr.msg);
	free(good);

	/* write errors are reported with the file name, and stick */
	struct floe_errbuf web = {0};
	struct floe_writer *w = floe_writer_open("/dev/full", NULL, &web);
	TAP_CHECK(!w && web.code == FLOE_IO && strstr(web.msg, "'/dev/full'"),
	          "writer: write error at open -> IO (%s)", web.msg);
	floe_writer_abandon(w);
	floe_errbuf_clear(&web);
	w = floe_writer_open(tmp("no-such-dir/x.floe"), NULL, &web);
	TAP_CHECK(!w && web.code == FLOE_IO && strstr(web.msg, "x.floe"),
	          "writer: cannot create -> IO (%s)", web.msg);
	TAP_CHECK(floe_writer_close(NULL, &web) == FLOE_OK, "writer: close(NULL) is a no-op");
}

/* Writes n records in blocks of bs, abandoned or closed; fills bounds[]
 * with each block's end offset (file size after its flush). */
static size_t write_blocks(const char *p, const struct floe_flow *recs, size_t n, size_t bs,
                           bool close_it, uint64_t *bounds)
{
	struct floe_errbuf eb = {0};
	struct floe_writer_opts o = {.block_records = (uint32_t)bs};
	struct floe_writer *w = floe_writer_open(p, &o, &eb);
	size_t nb = 0;
	struct stat st;
	stat(p, &st);
	bounds[nb++] = (uint64_t)st.st_size;
	for (size_t i = 0; i < n; i++) {
		if (floe_writer_add(w, &recs[i]) != FLOE_OK)
			break;
		if ((i + 1) % bs == 0 || i + 1 == n) {
			if (floe_writer_flush(w) != FLOE_OK)
				break;
			stat(p, &st);
			bounds[nb++] = (uint64_t)st.st_size;
		}
	}
	if (close_it) {
		if (floe_writer_close(w, &eb) != FLOE_OK)
			return 0;
	} else {
		floe_writer_abandon(w);
	}
	return nb - 1;
}

static void test_damage(void)
{
	size_t n = 500;
	struct floe_flow *recs = traffic(n);
	uint64_t b[16];
	struct readres rr;
	const char *p = tmp("abandoned.floe");
	size_t nb = write_blocks(p, recs, n, 100, false, b);
	warns = 0;
	read_path(p, &rr, NULL, NULL);
	TAP_CHECK(nb == 5 && same_recs(&rr, recs, n) && !rr.has_footer && warns == 0 &&
	              rr.end_err == FLOE_EOF,
	          "no footer: all 5 complete blocks read, no warning");
	free(rr.recs);

	/* torn last block: cut at every offset inside it */
	size_t len;
	uint8_t *file = test_slurp(p, &len);
	int bad = 0, nowarn = 0;
	for (uint64_t cut = b[4] + 1; cut < b[5]; cut++) {
		test_spit(tmp("torn.floe"), file, (size_t)cut);
		warns = 0;
		read_path(tmp("torn.floe"), &rr, NULL, NULL);
		bad += rr.end_err != FLOE_EOF || !same_recs(&rr, recs, 400) ||
		       rr.st.blocks_damaged != 1;
		nowarn += warns != 1;
		free(rr.recs);
	}
	TAP_CHECK(bad == 0 && nowarn == 0,
	          "torn last block: %llu cuts keep 4 blocks, one warning each (%d bad, %d warn)",
	          (unsigned long long)(b[5] - b[4] - 1), bad, nowarn);
	TAP_CHECK(strstr(last_warn, "torn.floe") && strstr(last_warn, "block 4") &&
	              strstr(last_warn, "cut short"),
	          "torn warning names file and block: %s", last_warn);

	/* corrupt bytes in the middle block (2): header, summary, payload;
	 * with footer index (seekable), walking (abandoned), through a pipe */
	for (int closed = 0; closed < 2; closed++) {
		const char *q = tmp(closed ? "closed.floe" : "abandoned.floe");
		if (closed)
			write_blocks(q, recs, n, 100, true, b);
		free(file);
		file = test_slurp(q, &len);
		struct {
			const char *what;
			uint64_t off;
		} hits[] = {
		    {"magic", b[2]},
		    {"header", b[2] + BH_NREC},
		    {"summary", b[2] + BH_LEN + 3},
		    {"bloom", b[2] + BH_LEN + BS_BLOOM + 2},
		    {"payload", b[2] + (b[3] - b[2]) * 3 / 4},
		    {"last payload byte", b[3] - 1},
		};
		for (size_t k = 0; k < sizeof(hits) / sizeof(hits[0]); k++) {
			uint8_t *c = malloc(len);
			memcpy(c, file, len);
			c[hits[k].off] ^= 0x5a;
			test_spit(tmp("corrupt.floe"), c, len);
			free(c);
			for (int via_pipe = 0; via_pipe < 2; via_pipe++) {
				warns = 0;
				last_warn[0] = 0;
				if (via_pipe)
					read_pipe(tmp("corrupt.floe"), &rr);
				else
					read_path(tmp("corrupt.floe"), &rr, NULL, NULL);
				bool ok = rr.n == 400 && rr.st.blocks_damaged == 1 && warns == 1 &&
				          rr.end_err == FLOE_EOF && rr.has_footer == (closed == 1);
				for (size_t i = 0; ok && i < 400; i++)
					ok = flow_eq(&rr.recs[i], &recs[i < 200 ? i : i + 100]);
				char want[64];
				snprintf(want, sizeof(want), "at offset %llu", (unsigned long long)b[2]);
				TAP_CHECK(ok && strstr(last_warn, "block 2") && strstr(last_warn, want),
				          "corrupt %s, %s%s: block 2 skipped, rest read (%zu records, %s)",
				          hits[k].what, closed ? "closed" : "no footer",
				          via_pipe ? ", pipe" : "", rr.n, last_warn);
				free(rr.recs);
			}
		}
	}
	free(file);
	free(recs);
}

struct skipper {
	int64_t tmin;
	const uint8_t *addr;
	unsigned calls;
};

static bool skip_pred(void *ud, const struct floe_block_summary *s)
{
	struct skipper *k = ud;
	k->calls++;
	if (k->addr)
		return floe_block_may_contain(s, k->addr);
	return s->tmin >= k->tmin;
}

static void test_filter(void)
{
	size_t n = 1000;
	struct floe_flow *recs = traffic(n);
	uint8_t needle[16];
	uint8_t nv4[4] = {172, 16, 99, 99};
	floe_addr_from_v4(needle, nv4);
	memcpy(recs[777].daddr, needle, 16);  /* only in block 7 */
	uint64_t b[16];
	struct readres rr;
	for (int closed = 0; closed < 2; closed++) {
		const char *p = tmp("filter.floe");
		write_blocks(p, recs, n, 100, closed, b);
		struct skipper k = {.tmin = recs[600].stime};
		read_path(p, &rr, skip_pred, &k);
		TAP_CHECK(rr.st.blocks_skipped == 6 && rr.st.blocks_read == 4 && k.calls == 10 &&
		              same_recs(&rr, recs + 600, 400),
		          "time filter%s: 6 blocks skipped, 4 read", closed ? " (footer)" : "");
		if (closed)
			TAP_CHECK(rr.st.bytes_read < b[10] - b[6] + 256 * 1024 + 4096,
			          "skipped blocks are seeked over, not read (%llu bytes read)",
			          (unsigned long long)rr.st.bytes_read);
		free(rr.recs);
		k = (struct skipper){.addr = needle};
		read_path(p, &rr, skip_pred, &k);
		TAP_CHECK(rr.st.blocks_read == 1 && rr.st.blocks_skipped == 9 &&
		              same_recs(&rr, recs + 700, 100),
		          "address filter: only the block with the address is read");
		free(rr.recs);
	}
	free(recs);
}

static void test_bloom(void)
{
	size_t n = 20000;
	struct floe_flow *recs = calloc(n, sizeof(*recs));
	for (size_t i = 0; i < n; i++) {
		for (int j = 0; j < 16; j++) {
			recs[i].saddr[j] = (uint8_t)rnd();
			recs[i].daddr[j] = (uint8_t)rnd();
		}
		if (i % 2) {
			uint8_t v4[4] = {(uint8_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd()};
			floe_addr_from_v4(recs[i].saddr, v4);
		}
	}
	struct floe_enc e;
	struct floe_errbuf eb = {0};
	size_t len;
	struct floe_block_frame fr;
	struct floe_block_summary s;
	bool ok = floe_enc_init(&e, 0) == FLOE_OK && floe_block_encode(&e, recs, n, &len, &eb) == FLOE_OK &&
	          floe_frame_parse(e.frame, len, &fr, true, &eb) == FLOE_OK &&
	          floe_summary_parse(e.frame + fr.hdr_len, &fr, &s, true, &eb) == FLOE_OK;
	TAP_CHECK(ok, "bloom: block encodes, summary parses");
	size_t fn = 0, fp = 0, probes = 200000;
	for (size_t i = 0; ok && i < n; i++)
		fn += !floe_block_may_contain(&s, recs[i].saddr) + !floe_block_may_contain(&s, recs[i].daddr);
	for (size_t i = 0; ok && i < probes; i++) {
		uint8_t a[16];
		for (int j = 0; j < 16; j++)
			a[j] = (uint8_t)rnd();
		if (i % 2)
			a[0] = 0, a[10] = a[11] = 0xff, memset(a, 0, 10);
		fp += floe_block_may_contain(&s, a);
	}
	double rate = (double)fp / (double)probes;
	TAP_CHECK(fn == 0, "bloom: no false negatives over %zu addresses", 2 * n);
	TAP_CHECK(rate < 0.02, "bloom: false positive rate %.4f (%u bits, k=%u)", rate, s.bloom_bits,
	          s.bloom_k);
	TAP_CHECK(s.bloom_bits >= 2 * n * 10 && s.bloom_bits < 2 * n * 10 + 64,
	          "bloom: sized 10 bits per distinct address");
	/* few distinct addresses: a small filter */
	for (size_t i = 0; i < n; i++) {
		memset(recs[i].saddr, 0, 16);
		recs[i].saddr[15] = (uint8_t)(i % 10);
		memcpy(recs[i].daddr, recs[i].saddr, 16);
	}
	ok = floe_block_encode(&e, recs, n, &len, &eb) == FLOE_OK &&
	     floe_frame_parse(e.frame, len, &fr, true, &eb) == FLOE_OK &&
	     floe_summary_parse(e.frame + fr.hdr_len, &fr, &s, true, &eb) == FLOE_OK;
	TAP_CHECK(ok && s.bloom_bits == 128, "bloom: 10 distinct addresses, %u bits", s.bloom_bits);
	TAP_CHECK(s.sport_min == 0 && s.proto_mask[0] == 1, "summary: ports and protocol bitmap");
	floe_enc_release(&e);
	free(recs);
}

/* Late materialization: the probe sees its columns, the reader returns the
 * records it keeps with every (asked-for) column decoded. */
struct keeper {
	unsigned mod;
	size_t calls;
	bool saw_other;  /* the probe saw a column outside its mask */
};

static bool keep_probe(void *ud, const struct floe_flow *rec)
{
	struct keeper *k = ud;
	k->calls++;
	k->saw_other |= rec->sbytes != 0 || rec->spkts != 0 || rec->saddr[12] != 0;
	return k->mod && rec->sport % k->mod == 0;
}

static void test_probe_selects(void)
{
	size_t n = 5000;
	struct floe_flow *recs = traffic(n);
	const char *p = tmp("probe.floe");
	TAP_CHECK(write_file(p, recs, n, 1500, true) == FLOE_OK, "probe: file of 4 blocks written");
	uint64_t pm = floe_columns_of(offsetof(struct floe_flow, sport), 2);
	static const struct {
		unsigned mod;
		uint64_t cols;  /* 0 = all */
		const char *what;
	} cases[] = {
		{3, 0, "every third port, all columns"},
		{1, 0, "every record"},
		{0, 0, "no record"},
		{97, 0, "a few records"},
		{3, 1u << 1 /* ltime only: needs stime */, "ltime without stime asked"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct floe_errbuf eb = {0};
		struct floe_reader *r = floe_reader_open(p, &test_log, &eb);
		struct keeper k = {.mod = cases[c].mod};
		floe_reader_set_probe(r, pm, keep_probe, &k);
		if (cases[c].cols)
			floe_reader_set_columns(r, cases[c].cols);
		struct readres rr = {0};
		read_all(r, &rr);
		floe_reader_close(r);
		size_t want = 0;
		bool same = rr.end_err == FLOE_EOF;
		for (size_t i = 0; i < n && same; i++) {
			if (!k.mod || recs[i].sport % k.mod != 0)
				continue;
			if (want >= rr.n)
				same = false;
			else if (cases[c].cols)
				same = rr.recs[want].ltime == recs[i].ltime && rr.recs[want].sport == 0 &&
				       rr.recs[want].sbytes == 0;
			else
				same = flow_eq(&rr.recs[want], &recs[i]);
			want++;
		}
		TAP_CHECK(same && rr.n == want && k.calls == n && !k.saw_other,
		          "probe: %s (%zu of %zu kept, blocks read %llu, probed away %llu)", cases[c].what,
		          rr.n, n, (unsigned long long)rr.st.blocks_read,
		          (unsigned long long)rr.st.blocks_probed);
		free(rr.recs);
	}
	free(recs);
}

/* Where a file's address filter section starts (or the file's last 24
 * bytes, the trailer, when it has none): after the footer's entries. */
static size_t af_offset(const uint8_t *data, size_t len)
{
	uint64_t foff = 0;
	for (int i = 7; i >= 0; i--)
		foff = foff << 8 | data[len - 24 + i];
	uint32_t count = data[foff + 4] | data[foff + 5] << 8 | (uint32_t)data[foff + 6] << 16;
	return (size_t)foff + 24 + (size_t)count * 48;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The file-level address filter over many keys, with addresses repeated
 * across blocks and across the key array's sorts as it fills: its key
 * count is the number of distinct keys, and no address written is
 * missing. */
static void test_address_filter_many(void)
{
	size_t n = 400000, hosts = 300000;
	struct floe_flow *recs = calloc(n, sizeof(*recs));
	uint32_t *keys = malloc(2 * n * sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		recs[i].stime = recs[i].ltime = (int64_t)i * 1000;
		size_t h = (i * 7919) % hosts;
		uint8_t v4[4] = {10, (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h};
		floe_addr_from_v4(recs[i].saddr, v4);
		for (int j = 0; j < 16; j++)
			recs[i].daddr[j] = (uint8_t)rnd();
		keys[2 * i] = floe_af_key(recs[i].saddr);
		keys[2 * i + 1] = floe_af_key(recs[i].daddr);
	}
	qsort(keys, 2 * n, sizeof(*keys), cmp_u32);
	size_t distinct = 0;
	for (size_t i = 0; i < 2 * n; i++)
		distinct += i == 0 || keys[i] != keys[i - 1];
	const char *p = tmp("af-many.floe");
	TAP_CHECK(write_file(p, recs, n, 4096, true) == FLOE_OK, "address filter, many keys: written");
	size_t len;
	uint8_t *data = test_slurp(p, &len);
	size_t af = af_offset(data, len);
	uint64_t addrs = 0;
	for (int i = 7; i >= 0; i--)
		addrs = addrs << 8 | data[af + AF_ADDRS + i];
	TAP_CHECK(memcmp(data + af, "FLAF", 4) == 0 && addrs == distinct,
	          "address filter, many keys: %llu keys, %zu distinct", (unsigned long long)addrs,
	          distinct);
	free(data);
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(p, &test_log, &eb);
	size_t fn = 0;
	for (size_t i = 0; r && i < n; i++) {
		fn += !floe_reader_may_contain(r, &recs[i].saddr, 1);
		fn += !floe_reader_may_contain(r, &recs[i].daddr, 1);
	}
	TAP_CHECK(r && fn == 0, "address filter, many keys: no false negatives over %zu addresses",
	          2 * n);
	floe_reader_close(r);

	/* More distinct keys than the writer may keep: no file filter, every
	 * probe answers "may be", the records all there; with encoder threads
	 * too. */
	for (unsigned threads = 0; threads <= 2; threads += 2) {
		struct floe_writer_opts o = {.instance = "test", .block_records = 4096,
		                             .threads = threads, .af_max_addrs = 300000};
		struct floe_writer *w = floe_writer_open(p, &o, &eb);
		for (size_t i = 0; w && i < n; i++)
			if (floe_writer_add(w, &recs[i]) != FLOE_OK)
				break;
		TAP_CHECK(w && floe_writer_close(w, &eb) == FLOE_OK,
		          "address filter past its limit (%u threads): written", threads);
		data = test_slurp(p, &len);
		af = af_offset(data, len);
		TAP_CHECK(af + 24 == len, "address filter past its limit: the file has none");
		free(data);
		r = floe_reader_open(p, &test_log, &eb);
		uint8_t absent[16] = {0x20, 1, 0xd, 0xb8};
		TAP_CHECK(r && floe_reader_may_contain(r, &absent, 1),
		          "address filter past its limit: a probe may match");
		struct readres rr = {0};
		if (r)
			read_all(r, &rr);
		TAP_CHECK(rr.end_err == FLOE_EOF && rr.n == n, "address filter past its limit: %zu records",
		          rr.n);
		free(rr.recs);
		floe_reader_close(r);
	}
	free(keys);
	free(recs);
}

/* The file-level address filter: no false negatives, few false positives,
 * a damaged page makes the reader fall back (answer "may contain"). */
static void test_address_filter(void)
{
	size_t n = 50000;
	struct floe_flow *recs = calloc(n, sizeof(*recs));
	for (size_t i = 0; i < n; i++) {
		recs[i].stime = recs[i].ltime = (int64_t)i * 1000;
		uint8_t v4[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		floe_addr_from_v4(recs[i].saddr, v4);
		for (int j = 0; j < 16; j++)
			recs[i].daddr[j] = (uint8_t)rnd();
	}
	const char *p = tmp("af.floe");
	TAP_CHECK(write_file(p, recs, n, 4096, true) == FLOE_OK, "address filter: file written");
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(p, &test_log, &eb);
	size_t fn = 0, fp = 0, probes = 20000;
	for (size_t i = 0; r && i < n; i++) {
		fn += !floe_reader_may_contain(r, &recs[i].saddr, 1);
		fn += !floe_reader_may_contain(r, &recs[i].daddr, 1);
	}
	uint8_t absent[2][16];
	for (size_t i = 0; r && i < probes; i++) {
		uint8_t v4[4] = {11, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		floe_addr_from_v4(absent[0], v4);
		fp += floe_reader_may_contain(r, absent, 1);
	}
	double rate = (double)fp / (double)probes;
	TAP_CHECK(r && fn == 0, "address filter: no false negatives over %zu addresses", 2 * n);
	TAP_CHECK(rate < 0.04, "address filter: false positive rate %.4f", rate);
	/* any of several addresses: present if one is */
	memcpy(absent[1], recs[7].daddr, 16);
	TAP_CHECK(r && floe_reader_may_contain(r, (const uint8_t(*)[16])absent, 2),
	          "address filter: a list matches if one address may be present");
	floe_reader_close(r);

	/* damage one byte of every page: each probe then falls back to "may be" */
	size_t len;
	uint8_t *data = test_slurp(p, &len);
	size_t af = af_offset(data, len);
	uint32_t pages = data[af + 4] | data[af + 5] << 8 | (uint32_t)data[af + 6] << 16;
	uint32_t pb = data[af + 8] | data[af + 9] << 8;
	TAP_CHECK(memcmp(data + af, "FLAF", 4) == 0 && pages > 1 && pb == 4096,
	          "address filter: %u pages of %u bytes after the footer entries", pages, pb);
	for (uint32_t k = 0; k < pages; k++)
		data[af + 32 + 4 * pages + (size_t)k * pb + 100] ^= 0x5a;
	test_spit(p, data, len);
	free(data);
	warns = 0;
	r = floe_reader_open(p, &test_log, &eb);
	bool all = r != NULL;
	for (size_t i = 0; r && i < 100; i++) {
		uint8_t v4[4] = {11, 1, (uint8_t)(i >> 8), (uint8_t)i};
		floe_addr_from_v4(absent[0], v4);
		all = all && floe_reader_may_contain(r, absent, 1);
	}
	TAP_CHECK(all && warns == 1 && strstr(last_warn, "address filter page"),
	          "address filter: a damaged page is reported once, then ignored (%s)", last_warn);
	struct readres rr = {0};
	if (r)
		read_all(r, &rr);
	TAP_CHECK(rr.end_err == FLOE_EOF && rr.n == n, "address filter damage leaves the records readable");
	free(rr.recs);
	floe_reader_close(r);
	free(recs);
}

/* ---- what `floe archive verify` relies on: damage as data ---- */

struct dmg {
	int calls;
	enum floe_damage_kind kind;
	uint64_t blockno, offset;
	char what[128];
};

static void on_damage(void *ud, enum floe_damage_kind kind, uint64_t blockno, uint64_t offset,
                      const char *what)
{
	struct dmg *d = ud;
	if (d->calls++ == 0) {
		d->kind = kind;
		d->blockno = blockno;
		d->offset = offset;
		snprintf(d->what, sizeof(d->what), "%s", what);
	}
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

/* Damage applied to a closed file of 5 blocks of 100 (b: block bounds,
 * b[5] the footer): flip (^0x5a) or set a byte, or cut the file. */
enum { D_NONE, D_FLIP, D_CUT, D_NREC };

static void test_damage_report(void)
{
	size_t n = 500;
	struct floe_flow *recs = traffic(n);
	uint64_t b[16];
	const char *p = tmp("verify.floe");
	write_blocks(p, recs, n, 100, true, b);
	size_t len;
	uint8_t *file = test_slurp(p, &len);
	uint64_t foff = b[5], af = foff + FF_LEN + 5 * FE_LEN;
	uint32_t pages = rd32(file + af + AF_PAGES), pb = rd32(file + af + AF_PAGE_BYTES);
	static const int none = -1;
	struct {
		const char *name;
		int op;
		uint64_t at;
		int kind;              /* expected first damage kind, none */
		uint64_t blockno;
		size_t nrec;           /* records read */
		uint32_t footer_damaged, af_pages_bad, af_damaged;
	} rows[] = {
	    {"clean", D_NONE, 0, none, 0, 500, 0, 0, 0},
	    {"payload of block 2", D_FLIP, (b[2] + b[3]) / 2, FLOE_DAMAGE_BLOCK, 2, 400, 0, 0, 0},
	    {"header of block 0", D_FLIP, b[0] + BH_NREC, FLOE_DAMAGE_BLOCK, 0, 400, 0, 0, 0},
	    {"cut inside block 4", D_CUT, b[4] + 30, FLOE_DAMAGE_TORN, 4, 400, 0, 0, 0},
	    {"cut at the footer", D_CUT, foff, none, 0, 500, 0, 0, 0},
	    {"footer entries", D_FLIP, foff + FF_LEN + 10, FLOE_DAMAGE_FOOTER, 5, 500, 1, 0, 0},
	    {"footer head", D_FLIP, foff + FF_COUNT, FLOE_DAMAGE_FOOTER, 5, 500, 1, 0, 0},
	    {"trailer", D_FLIP, len - FT_LEN + FT_FOOTER_OFF, none, 0, 500, 1, 0, 0},
	    {"entry 1 disagrees with block 1", D_NREC, foff + FF_LEN + FE_LEN + FE_NREC,
	     FLOE_DAMAGE_BLOCK, 1, 400, 0, 0, 0},
	    {"address filter head", D_FLIP, af + AF_K, none, 0, 500, 0, 1, 1},
	    {"address filter page", D_FLIP, af + AF_LEN + 4 * pages + pb / 2, none, 0, 500, 0, 1, 1},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t *c = malloc(len);
		memcpy(c, file, len);
		size_t clen = len;
		if (rows[i].op == D_FLIP)
			c[rows[i].at] ^= 0x5a;
		else if (rows[i].op == D_CUT)
			clen = (size_t)rows[i].at;
		else if (rows[i].op == D_NREC) {
			/* a consistent footer (its CRC redone) that lies about a block */
			wr32(c + rows[i].at, rd32(c + rows[i].at) + 1);
			wr32(c + foff + FF_ENTCRC, floe_crc32c(0, c + foff + FF_LEN, 5 * FE_LEN));
			wr32(c + foff + FF_CRC, floe_crc32c(0, c + foff, FF_CRC));
		}
		test_spit(tmp("verify-d.floe"), c, clen);
		free(c);
		struct floe_errbuf eb = {0};
		struct floe_reader *r = floe_reader_open(tmp("verify-d.floe"), NULL, &eb);
		struct dmg d = {0};
		struct readres rr = {0};
		uint32_t afbad = 0;
		if (r) {
			floe_reader_set_damage_fn(r, on_damage, &d);
			afbad = floe_reader_check_addr_filter(r);
			read_all(r, &rr);
			floe_reader_close(r);
		}
		bool ok = r && rr.end_err == FLOE_EOF && rr.n == rows[i].nrec &&
		          rr.st.footer_damaged == rows[i].footer_damaged &&
		          afbad == rows[i].af_pages_bad && rr.st.af_damaged == rows[i].af_damaged;
		if (rows[i].kind == none)
			ok = ok && d.calls == 0;
		else
			ok = ok && d.calls == 1 && (int)d.kind == rows[i].kind &&
			     d.blockno == rows[i].blockno && d.offset == b[rows[i].blockno];
		TAP_CHECK(ok, "damage report, %s: %zu records, %d reports (kind %d block %llu at %llu: "
		          "%s), footer %u, address filter pages %u", rows[i].name, rr.n, d.calls,
		          (int)d.kind, (unsigned long long)d.blockno, (unsigned long long)d.offset,
		          d.what, rr.st.footer_damaged, afbad);
		free(rr.recs);
	}
	free(file);
	free(recs);
}

/* A hand-built block with codec "none": column 1 (stime) constant, an
 * unknown column 99, and no other columns, which read as zero. */
static void test_unknown_columns(void)
{
	uint8_t raw[64], frame[256];
	size_t r = 0;
	floe_put_le16(raw + r, 2);
	floe_put_le16(raw + r + 2, 0);
	r += 4;
	floe_put_le16(raw + r, 99);
	raw[r + 2] = 42;  /* an encoding this version does not know */
	raw[r + 3] = 0;
	floe_put_le32(raw + r + 4, 3);
	r += 8;
	floe_put_le16(raw + r, 1);
	raw[r + 2] = FLOE_ENC_CONST;
	raw[r + 3] = 0;
	floe_put_le32(raw + r + 4, 8);
	r += 8;
	memcpy(raw + r, "xyz", 3);
	r += 3;
	floe_put_le64(raw + r, 123456789);
	r += 8;
	memset(frame, 0, sizeof(frame));
	memcpy(frame, FLOE_BLOCK_MAGIC, 4);
	floe_put_le16(frame + BH_HDRLEN, BH_LEN);
	floe_put_le16(frame + BH_CODEC, FLOE_CODEC_NONE);
	floe_put_le16(frame + BH_COLVER, 2);
	floe_put_le32(frame + BH_NREC, 3);
	floe_put_le32(frame + BH_SUMLEN, BS_LEN);
	floe_put_le32(frame + BH_RAWLEN, (uint32_t)r);
	floe_put_le32(frame + BH_COMPLEN, (uint32_t)r);
	memcpy(frame + BH_LEN + BS_LEN, raw, r);
	floe_put_le32(frame + BH_SUMCRC, floe_crc32c(0, frame + BH_LEN, BS_LEN));
	floe_put_le32(frame + BH_PAYCRC, floe_crc32c(0, raw, r));
	floe_put_le32(frame + BH_CRC, floe_crc32c(0, frame, BH_CRC));
	size_t len = BH_LEN + BS_LEN + r, n, used;
	static struct floe_flow out[FLOE_BLOCK_MAX_RECORDS];
	struct floe_errbuf eb = {0};
	memset(out, 0x77, 3 * sizeof(out[0]));
	enum floe_err e = floe_block_decode(frame, len, out, &n, &used, &eb);
	struct floe_flow want;
	memset(&want, 0, sizeof(want));
	want.stime = 123456789;
	TAP_CHECK(e == FLOE_OK && n == 3 && used == len && flow_eq(&out[0], &want) &&
	              flow_eq(&out[2], &want),
	          "unknown column skipped, missing columns zero (%s)", eb.msg);
	/* shorter buffers: TRUNCATED; a flipped byte: CHECKSUM */
	int bad = 0;
	for (size_t l = 0; l < len; l++) {
		floe_errbuf_clear(&eb);
		bad += floe_block_decode(frame, l, out, &n, &used, &eb) != FLOE_TRUNCATED;
	}
	TAP_CHECK(bad == 0, "block cut at every length -> TRUNCATED (%d bad)", bad);
	bad = 0;
	for (size_t i = 0; i < len; i++) {
		frame[i] ^= 0x10;
		floe_errbuf_clear(&eb);
		e = floe_block_decode(frame, len, out, &n, &used, &eb);
		bad += e == FLOE_OK;
		frame[i] ^= 0x10;
	}
	TAP_CHECK(bad == 0, "any flipped bit is caught (%d undetected)", bad);
}

static void test_nomem(void)
{
	size_t n = 300;
	struct floe_flow *recs = traffic(n);
	const char *p = tmp("nomem.floe");
	int crashes = 0, nomem = 0, ok = 0;
	for (long k = 0; k < 200; k++) {
		floe_mem_fail_after(k);
		enum floe_err e = write_file(p, recs, n, 100, true);
		floe_mem_fail_after(-1);
		if (e == FLOE_OK) {
			ok++;
			break;
		}
		nomem += e == FLOE_NOMEM;
		crashes += e != FLOE_NOMEM;
	}
	TAP_CHECK(ok == 1 && crashes == 0 && nomem > 0, "writer: NOMEM at each allocation (%d)", nomem);
	write_file(p, recs, n, 100, true);
	ok = nomem = crashes = 0;
	for (long k = 0; k < 200; k++) {
		struct readres rr;
		floe_mem_fail_after(k);
		read_path(p, &rr, NULL, NULL);
		floe_mem_fail_after(-1);
		if (rr.open_err == FLOE_OK && rr.end_err == FLOE_EOF && same_recs(&rr, recs, n)) {
			ok++;
			free(rr.recs);
			break;
		}
		nomem += rr.open_err == FLOE_NOMEM || rr.end_err == FLOE_NOMEM;
		crashes += rr.open_err != FLOE_NOMEM && rr.end_err != FLOE_NOMEM;
		free(rr.recs);
	}
	TAP_CHECK(ok == 1 && crashes == 0 && nomem > 0, "reader: NOMEM at each allocation (%d)", nomem);
	free(recs);
}

/* ---- golden file: the format must keep reading what v1 wrote ---- */

static void golden_flows(struct floe_flow *g, size_t *n)
{
	static const char *lines[] = {
	    "1619605821.099510|1619605821.099510|tcp|160.161.74.108|41885|   ->|10.10.10.10|25565|1|0|60|0|0|0|REQ|1",
	    "1631251434.591487|1631251453.631464|icmp|192.168.0.30|0x0008|  <->|8.8.8.8|0x0200|20|20|1960|1960|1280|1280|ECO|20",
	    "1692825579.496964|1692825579.577452|tcp|2600:1f13:f8:d400:3a6:303c:e011:18eb|33892|   ->|2001:4860:4860::8888|443|17|17|2303|7122|833|5652|CON|1",
	    "952109337.199909|952109337.200704|udp|10.1.2.1|53|  <?>|10.34.0.1|1025|1|1|118|114|80|80|INT|1",
	};
	*n = 0;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", lines[i]);
		if (psv_line(buf, &g[*n]) == 0)
			(*n)++;
	}
	/* and one with every other field set */
	struct floe_flow *f = &g[(*n)++];
	*f = g[2];
	f->synack = 1234567;
	f->ackdat = -7;
	f->sretrans = 3, f->dretrans = 4, f->sooo = 5, f->dooo = 6;
	f->sensor = 7, f->inif = 8, f->outif = 9, f->sas = 64512, f->das = 15169;
	f->sampling = 100;
	f->vlan = 42;
	f->flags = FLOE_F_VLAN | FLOE_F_MAC | FLOE_F_SAMPLED;
	f->stcpflags = 0x1b, f->dtcpflags = 0x12;
	f->sttlmin = 60, f->sttlmax = 64, f->dttlmin = 120, f->dttlmax = 128;
	f->stos = 0x10, f->dtos = 0xb8;
	memcpy(f->smac, "\x00\x11\x22\x33\x44\x55", 6);
	memcpy(f->dmac, "\x66\x77\x88\x99\xaa\xbb", 6);
}

static void test_golden(void)
{
	struct floe_flow g[8];
	size_t n;
	golden_flows(g, &n);
	char path[4096];
	snprintf(path, sizeof(path), "%s/codec/v1-sample.floe", test_data_dir());
	struct readres rr;
	read_path(path, &rr, NULL, NULL);
	TAP_CHECK(rr.open_err == FLOE_OK && rr.end_err == FLOE_EOF && same_recs(&rr, g, n) &&
	              rr.st.blocks_read == 2 && rr.has_footer,
	          "golden v1-sample.floe decodes to its %zu records (%s)", n, rr.msg);
	free(rr.recs);
	read_pipe(path, &rr);
	TAP_CHECK(same_recs(&rr, g, n), "golden through a pipe");
	free(rr.recs);

	/* written before the address filter: the footer's length word is 0,
	 * so every address may be present */
	static const uint8_t absent[4][16] = {{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9},
	                                      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 200},
	                                      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 5},
	                                      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 99, 99, 99}};
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(path, &test_log, &eb);
	TAP_CHECK(r && floe_reader_may_contain(r, absent, 4), "golden v1-sample.floe has no address filter");
	floe_reader_close(r);

	/* the same records with the file address filter (format.md "Address
	 * filter"): pins its layout and hashing */
	snprintf(path, sizeof(path), "%s/codec/v1-sample-af.floe", test_data_dir());
	read_path(path, &rr, NULL, NULL);
	TAP_CHECK(rr.open_err == FLOE_OK && rr.end_err == FLOE_EOF && same_recs(&rr, g, n),
	          "golden v1-sample-af.floe decodes to its %zu records (%s)", n, rr.msg);
	free(rr.recs);
	r = floe_reader_open(path, &test_log, &eb);
	bool all = r != NULL;
	for (size_t i = 0; r && i < n; i++)
		all = all && floe_reader_may_contain(r, &g[i].saddr, 1) &&
		      floe_reader_may_contain(r, &g[i].daddr, 1);
	TAP_CHECK(all, "golden address filter holds every address of the file");
	for (int i = 0; r && i < 4; i++)
		TAP_CHECK(!floe_reader_may_contain(r, &absent[i], 1),
		          "golden address filter rules out absent address %d", i);
	floe_reader_close(r);
}

static int write_golden(const char *path)
{
	struct floe_flow g[8];
	size_t n;
	golden_flows(g, &n);
	struct floe_errbuf eb = {0};
	struct floe_writer_opts o = {.instance = "golden", .block_records = 3};
	struct floe_writer *w = floe_writer_open(path, &o, &eb);
	if (!w)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (floe_writer_add(w, &g[i]) != FLOE_OK)
			break;
	return floe_writer_close(w, &eb) == FLOE_OK ? 0 : 1;
}

static void test_reference_size(void)
{
	const char *dir = getenv("FLOE_SHARED_DATA");
	struct floe_flow *recs;
	size_t n = psv_load(dir ? dir : "../shared/data", NULL, &recs);
	if (n == 0) {
		TAP_CHECK(1, "# SKIP reference flows not found");
		return;
	}
	const char *p = tmp("ref.floe");
	TAP_CHECK(write_file(p, recs, n, 0, true) == FLOE_OK, "reference: write %zu flows", n);
	struct readres rr;
	read_path(p, &rr, NULL, NULL);
	TAP_CHECK(same_recs(&rr, recs, n), "reference: read back equal");
	struct stat st;
	stat(p, &st);
	TAP_DIAG("reference flows: %zu records, %lld bytes, %.2f bytes/record", n,
	         (long long)st.st_size, (double)st.st_size / (double)n);
	free(rr.recs);
	free(recs);
}

/* Seeds for tests/fuzz/corpus/block: small files and bare blocks. */
static int write_corpus(const char *dir)
{
	char path[4096];
	struct floe_flow recs[FLOW_BYTES + 16];
	size_t n = edge_flows(recs);
	struct floe_flow *t = traffic(60);
	snprintf(path, sizeof(path), "%s/edge.floe", dir);
	int bad = write_file(path, recs, n, 16, true) != FLOE_OK;
	snprintf(path, sizeof(path), "%s/traffic-unclosed.floe", dir);
	bad |= write_file(path, t, 60, 20, false) != FLOE_OK;
	snprintf(path, sizeof(path), "%s/traffic-addrfilter.floe", dir);
	bad |= write_file(path, t, 60, 20, true) != FLOE_OK;
	snprintf(path, sizeof(path), "%s/empty.floe", dir);
	bad |= write_file(path, NULL, 0, 0, true) != FLOE_OK;
	struct floe_enc e;
	struct floe_errbuf eb = {0};
	size_t len;
	for (int codec = 0; codec < 2 && !bad; codec++) {
		bad |= floe_enc_init(&e, 0) != FLOE_OK;
		e.codec = codec ? FLOE_CODEC_ZSTD : FLOE_CODEC_NONE;
		bad |= floe_block_encode(&e, recs, n, &len, &eb) != FLOE_OK;
		snprintf(path, sizeof(path), "%s/edge-%s.block", dir, codec ? "zstd" : "raw");
		test_spit(path, e.frame, len);
		bad |= floe_block_encode(&e, t, 60, &len, &eb) != FLOE_OK;
		snprintf(path, sizeof(path), "%s/traffic-%s.block", dir, codec ? "zstd" : "raw");
		test_spit(path, e.frame, len);
		floe_enc_release(&e);
	}
	free(t);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-golden") == 0)
		return write_golden(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_crc();
	test_roundtrip();
	test_multiblock();
	test_threads();
	test_empty_and_bad();
	test_damage();
	test_filter();
	test_bloom();
	test_address_filter();
	test_address_filter_many();
	test_damage_report();
	test_probe_selects();
	test_unknown_columns();
	test_nomem();
	test_golden();
	test_reference_size();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		TAP_DIAG("could not remove %s", tmpdir);
	return tap_done();
}
