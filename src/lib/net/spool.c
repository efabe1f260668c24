/*
 * spool.c - the disk spool of a stream server (spool.h, docs/stream.md
 * "Spool"): segment files of served blocks, appended, rotated, bounded,
 * scanned and repaired at open, and read back by subscribers' readers.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/mem.h"

#define NS 1000000000LL
#define SEG_MIN (64u << 10)
#define SEG_MAX (64u << 20)
#define NAME_LEN 22                  /* 16 hex digits + ".spool" */

_Static_assert(FLOE_SPOOL_RANGE == FLOE_STREAM_SEEN_ENT, "a spool range is a SEEN entry");

/* ---- the format ---- */

void floe_spool_seghdr_encode(const struct floe_spool_seghdr *h, uint8_t out[FLOE_SPOOL_HDR])
{
	memcpy(out, FLOE_SPOOL_MAGIC, 4);
	floe_put_le16(out + 4, FLOE_SPOOL_VERSION);
	floe_put_le16(out + 6, 0);
	floe_put_le64(out + 8, h->run);
	floe_put_le64(out + 16, h->index);
	floe_put_le32(out + 24, floe_crc32c(0, out, 24));
	floe_put_le32(out + 28, 0);
}

enum floe_err floe_spool_seghdr_decode(const uint8_t *p, size_t len,
                                       struct floe_spool_seghdr *h, struct floe_errbuf *eb)
{
	if (len < FLOE_SPOOL_HDR)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "segment header: %zu of 32 bytes", len);
	struct floe_cursor c = floe_cursor_make(p, FLOE_SPOOL_HDR);
	if (memcmp(p, FLOE_SPOOL_MAGIC, 4) != 0)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "not a spool segment (magic)");
	floe_cur_skip(&c, 4);
	uint16_t ver = floe_cur_le16(&c);
	uint16_t z = floe_cur_le16(&c);
	h->run = floe_cur_le64(&c);
	h->index = floe_cur_le64(&c);
	uint32_t crc = floe_cur_le32(&c);
	uint32_t z2 = floe_cur_le32(&c);
	if (crc != floe_crc32c(0, p, 24))
		return floe_errbuf_set(eb, FLOE_CHECKSUM, "segment header fails its checksum");
	if (ver != FLOE_SPOOL_VERSION)
		return floe_errbuf_set(eb, FLOE_UNSUPPORTED, "spool version %u", ver);
	if (z || z2)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "segment header: reserved bytes set");
	return FLOE_OK;
}

size_t floe_spool_entry_size(size_t nranges, size_t block_len)
{
	return FLOE_SPOOL_ENT_HDR + nranges * FLOE_SPOOL_RANGE + block_len;
}

size_t floe_spool_entry_head(uint8_t *head, const struct floe_stream_seen *r, size_t n,
                             const uint8_t *block, size_t block_len, uint32_t nrec)
{
	floe_put_le32(head, (uint32_t)block_len);
	floe_put_le32(head + 4, (uint32_t)n);
	floe_put_le32(head + 8, nrec);
	floe_stream_seen_encode(r, n, head + FLOE_SPOOL_ENT_HDR);
	uint32_t crc = floe_crc32c(0, head, 12);
	crc = floe_crc32c(crc, head + FLOE_SPOOL_ENT_HDR, n * FLOE_SPOOL_RANGE);
	crc = floe_crc32c(crc, block, block_len);
	floe_put_le32(head + 12, crc);
	return FLOE_SPOOL_ENT_HDR + n * FLOE_SPOOL_RANGE;
}

static bool reserved_set(const uint8_t *p)
{
	return (p[0] | p[1] | p[2] | p[3]) != 0;
}

enum floe_err floe_spool_entry_decode(const uint8_t *p, size_t len, struct floe_spool_entry *e,
                                      size_t *need, struct floe_errbuf *eb)
{
	*need = FLOE_SPOOL_ENT_HDR;
	if (len < FLOE_SPOOL_ENT_HDR)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "entry header: %zu of 16 bytes", len);
	struct floe_cursor c = floe_cursor_make(p, FLOE_SPOOL_ENT_HDR);
	uint32_t blen = floe_cur_le32(&c);
	uint32_t nr = floe_cur_le32(&c);
	uint32_t nrec = floe_cur_le32(&c);
	uint32_t crc = floe_cur_le32(&c);
	if (blen == 0 || blen > FLOE_SPOOL_BLOCK_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "entry: block of %" PRIu32 " bytes",
		                       blen);
	if (nr > FLOE_SPOOL_RANGES_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "entry: %" PRIu32 " seq ranges", nr);
	size_t size = floe_spool_entry_size(nr, blen);
	*need = size;
	if (len < size)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "entry: %zu of %zu bytes", len, size);
	uint32_t want = floe_crc32c(floe_crc32c(0, p, 12), p + FLOE_SPOOL_ENT_HDR,
	                            size - FLOE_SPOOL_ENT_HDR);
	if (crc != want)
		return floe_errbuf_set(eb, FLOE_CHECKSUM, "entry fails its checksum");
	const uint8_t *ranges = p + FLOE_SPOOL_ENT_HDR;
	for (size_t i = 0; i < nr; i++) {
		struct floe_stream_seen r = floe_stream_seen_entry(ranges, i);
		if (r.first == 0 || r.first > r.last ||
		    reserved_set(ranges + i * FLOE_SPOOL_RANGE + 4))
			return floe_errbuf_set(eb, FLOE_MALFORMED,
			                       "entry: range %zu: sensor %" PRIu32 " seq %" PRIu64
			                       "..%" PRIu64, i, r.sensor, r.first, r.last);
	}
	*e = (struct floe_spool_entry){.nrec = nrec, .nranges = nr, .ranges = ranges,
	                               .block = ranges + (size_t)nr * FLOE_SPOOL_RANGE,
	                               .block_len = blen, .len = size};
	return FLOE_OK;
}

/* ---- scanning a directory ---- */

struct seg {
	uint64_t index;
	uint64_t bytes, blocks, records;
};

struct sens {
	uint32_t sensor;
	uint64_t seq;
};

struct floe_spool {
	struct floe_spool_opts o;
	char *dir;
	uint64_t run;
	struct seg *segs;               /* oldest first; the last is being written */
	size_t nsegs, segs_cap;
	int fd;
	uint64_t total;
	struct sens *sens;              /* sorted by sensor, FLOE_SPOOL_RANGES_MAX */
	size_t nsens;
	bool sens_full;
	int64_t unsynced;               /* monotonic ns of the first append not synced; 0 */
	uint8_t *head;
	struct floe_spool_stats st;
};

static int64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void seg_path(const char *dir, uint64_t index, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%016" PRIx64 ".spool", dir, index);
}

/* The index of a segment's file name, or false if it is not one. */
static bool seg_name(const char *name, uint64_t *index)
{
	if (strlen(name) != NAME_LEN || strcmp(name + 16, ".spool") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char ch = name[i];
		int d = ch >= '0' && ch <= '9'   ? ch - '0'
		        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
		                                 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*index = v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segment indexes in dir, sorted; *n of them (caller frees). */
static enum floe_err list_segments(const char *dir, uint64_t **out, size_t *n,
                                   struct floe_errbuf *eb)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return floe_errbuf_set(eb, FLOE_IO, "cannot read the spool '%s': %s", dir,
		                       strerror(errno));
	size_t cap = 0;
	struct dirent *de;
	enum floe_err e = FLOE_OK;
	while ((de = readdir(d)) != NULL) {
		uint64_t idx;
		if (!seg_name(de->d_name, &idx))
			continue;
		if (*n == cap) {
			/* plain realloc: the caller frees with free() */
			uint64_t *nv = cap < (1u << 24) ? realloc(*out, (cap ? 2 * cap : 16) *
			                                                    sizeof(**out))
			                                : NULL;
			if (!nv) {
				e = floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
				break;
			}
			*out = nv;
			cap = cap ? 2 * cap : 16;
		}
		(*out)[(*n)++] = idx;
	}
	closedir(d);
	if (e != FLOE_OK) {
		free(*out);
		*out = NULL;
		*n = 0;
		return e;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_u64);
	return FLOE_OK;
}

static void sens_note(struct sens *v, size_t *n, bool *full, uint32_t sensor, uint64_t seq)
{
	size_t lo = 0, hi = *n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].sensor < sensor)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < *n && v[lo].sensor == sensor) {
		if (seq > v[lo].seq)
			v[lo].seq = seq;
		return;
	}
	if (*n == FLOE_SPOOL_RANGES_MAX) {
		*full = true;
		return;
	}
	memmove(v + lo + 1, v + lo, (*n - lo) * sizeof(*v));
	v[lo] = (struct sens){sensor, seq};
	(*n)++;
}

static bool read_at(int fd, uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return true;
}

/* Reads the entry at off of fd into *buf (grown); OK with e set, EOF at
 * the end of the file, or the decoding error (a torn or damaged entry). */
static enum floe_err read_entry(int fd, uint64_t off, uint64_t end, uint8_t **buf, size_t *cap,
                                struct floe_spool_entry *e, struct floe_errbuf *eb)
{
	if (off >= end)
		return FLOE_EOF;
	size_t left = end - off < SIZE_MAX ? (size_t)(end - off) : SIZE_MAX;
	size_t have = left < FLOE_SPOOL_ENT_HDR ? left : FLOE_SPOOL_ENT_HDR;
	if (!floe_grow(NULL, (void **)buf, cap, FLOE_SPOOL_ENT_HDR, 1, 4096))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	if (!read_at(fd, *buf, have, off))
		return floe_errbuf_set(eb, FLOE_IO, "read: %s", errno ? strerror(errno) : "short");
	size_t need;
	enum floe_err r = floe_spool_entry_decode(*buf, have, e, &need, eb);
	if (r != FLOE_TRUNCATED || need <= have)
		return r;
	if (need > left)
		return floe_errbuf_set(eb, FLOE_TRUNCATED, "entry: %zu of %zu bytes", left, need);
	if (!floe_grow(NULL, (void **)buf, cap, need, 1, 4096))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	if (!read_at(fd, *buf + have, need - have, off + have))
		return floe_errbuf_set(eb, FLOE_IO, "read: %s", errno ? strerror(errno) : "short");
	return floe_spool_entry_decode(*buf, need, e, &need, eb);
}

/* Scans one segment file: its header (run), and the length of its valid
 * part (header and complete entries), with their blocks and records; the
 * sensors' last seq go into v.  *valid is 0 if the header is bad. */
struct scan {
	uint64_t run, index;
	uint64_t valid, size, blocks, records;
	char why[300];
};

static enum floe_err scan_segment(const char *path, struct scan *sc, struct sens *v, size_t *nv,
                                  bool *full, struct floe_errbuf *eb)
{
	memset(sc, 0, sizeof(*sc));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		enum floe_err e = floe_errbuf_set(eb, FLOE_IO, "cannot read '%s': %s", path,
		                                  strerror(errno));
		if (fd >= 0)
			close(fd);
		return e;
	}
	sc->size = (uint64_t)sb.st_size;
	uint8_t hb[FLOE_SPOOL_HDR];
	struct floe_spool_seghdr h;
	struct floe_errbuf e2 = {0};
	if (sc->size < FLOE_SPOOL_HDR || !read_at(fd, hb, FLOE_SPOOL_HDR, 0) ||
	    floe_spool_seghdr_decode(hb, FLOE_SPOOL_HDR, &h, &e2) != FLOE_OK) {
		snprintf(sc->why, sizeof(sc->why), "%.200s",
		         sc->size < FLOE_SPOOL_HDR ? "no complete header" : e2.msg);
		close(fd);
		return FLOE_OK;
	}
	sc->run = h.run;
	sc->index = h.index;
	uint64_t off = FLOE_SPOOL_HDR;
	uint8_t *buf = NULL;
	size_t cap = 0;
	for (;;) {
		struct floe_spool_entry en;
		floe_errbuf_clear(&e2);
		enum floe_err r = read_entry(fd, off, sc->size, &buf, &cap, &en, &e2);
		if (r == FLOE_NOMEM) {
			floe_free(NULL, buf, cap);
			close(fd);
			return floe_errbuf_set(eb, r, "out of memory");
		}
		if (r != FLOE_OK) {
			if (r != FLOE_EOF)
				snprintf(sc->why, sizeof(sc->why), "at byte %" PRIu64 ": %.200s",
				         off, e2.msg);
			break;
		}
		for (size_t i = 0; i < en.nranges; i++) {
			struct floe_stream_seen s = floe_stream_seen_entry(en.ranges, i);
			sens_note(v, nv, full, s.sensor, s.last);
		}
		sc->blocks++;
		sc->records += en.nrec;
		off += en.len;
	}
	sc->valid = off;
	floe_free(NULL, buf, cap);
	close(fd);
	return FLOE_OK;
}

/* ---- the spool ---- */

static void spool_free(struct floe_spool *sp)
{
	if (sp->fd >= 0)
		close(sp->fd);
	floe_free(NULL, sp->segs, sp->segs_cap * sizeof(*sp->segs));
	free(sp->sens);
	free(sp->head);
	free(sp->dir);
	free(sp);
}

static void sync_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
}

/* Starts segment index: its header written and synced. */
static enum floe_err seg_start(struct floe_spool *sp, uint64_t index, struct floe_errbuf *eb)
{
	char path[4096];
	seg_path(sp->dir, index, path, sizeof(path));
	if (!floe_grow(NULL, (void **)&sp->segs, &sp->segs_cap, sp->nsegs + 1, sizeof(*sp->segs),
	               16))
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return floe_errbuf_set(eb, FLOE_IO, "cannot create '%s': %s", path,
		                       strerror(errno));
	uint8_t hb[FLOE_SPOOL_HDR];
	floe_spool_seghdr_encode(&(struct floe_spool_seghdr){sp->run, index}, hb);
	if (write(fd, hb, sizeof(hb)) != (ssize_t)sizeof(hb) || fdatasync(fd) != 0) {
		enum floe_err e = floe_errbuf_set(eb, FLOE_IO, "cannot write '%s': %s", path,
		                                  strerror(errno));
		close(fd);
		unlink(path);
		return e;
	}
	sync_dir(sp->dir);
	sp->fd = fd;
	sp->segs[sp->nsegs++] = (struct seg){.index = index, .bytes = FLOE_SPOOL_HDR};
	sp->total += FLOE_SPOOL_HDR;
	return FLOE_OK;
}

/* Removes the oldest segment (not the current one): counted, logged. */
static void drop_oldest(struct floe_spool *sp)
{
	struct seg g = sp->segs[0];
	char path[4096];
	seg_path(sp->dir, g.index, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		floe_logf(sp->o.log, FLOE_LOG_ERR, "spool: cannot remove '%s': %s", path,
		          strerror(errno));
	sp->total -= g.bytes;
	sp->st.dropped_blocks += g.blocks;
	sp->st.dropped_records += g.records;
	memmove(sp->segs, sp->segs + 1, (sp->nsegs - 1) * sizeof(*sp->segs));
	sp->nsegs--;
	floe_logf(sp->o.log, FLOE_LOG_WARN,
	          "spool '%s': removed the oldest segment %016" PRIx64 " (%" PRIu64 " blocks, %"
	          PRIu64 " records) past the bound of %" PRIu64 " bytes; %" PRIu64
	          " records removed so far", sp->dir, g.index, g.blocks, g.records,
	          sp->o.max_bytes, sp->st.dropped_records);
}

struct floe_spool *floe_spool_open(const struct floe_spool_opts *opts, struct floe_errbuf *eb)
{
	struct floe_spool *sp = calloc(1, sizeof(*sp));
	if (!sp) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	sp->fd = -1;
	sp->o = *opts;
	if (!sp->o.max_bytes)
		sp->o.max_bytes = 1ull << 30;
	if (!sp->o.segment_bytes) {
		uint64_t s = sp->o.max_bytes / 8;
		sp->o.segment_bytes = s < SEG_MIN ? SEG_MIN : s > SEG_MAX ? SEG_MAX : s;
	}
	if (sp->o.sync_interval <= 0)
		sp->o.sync_interval = NS;
	sp->dir = strdup(opts->dir ? opts->dir : "");
	sp->sens = calloc(FLOE_SPOOL_RANGES_MAX, sizeof(*sp->sens));
	sp->head = malloc(FLOE_SPOOL_ENT_HDR + FLOE_SPOOL_RANGES_MAX * FLOE_SPOOL_RANGE);
	if (!sp->dir || !sp->sens || !sp->head) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		goto fail;
	}
	if (sp->o.max_bytes < SEG_MIN) {
		floe_errbuf_set(eb, FLOE_INVALID, "a spool of at least 64 KiB");
		goto fail;
	}
	if (mkdir(sp->dir, 0750) != 0 && errno != EEXIST) {
		floe_errbuf_set(eb, FLOE_IO, "cannot create the spool '%s': %s", sp->dir,
		                strerror(errno));
		goto fail;
	}
	uint64_t *idx;
	size_t n;
	if (list_segments(sp->dir, &idx, &n, eb) != FLOE_OK)
		goto fail;
	sp->run = opts->run;
	uint64_t next = 1;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		seg_path(sp->dir, idx[i], path, sizeof(path));
		struct scan sc;
		if (scan_segment(path, &sc, sp->sens, &sp->nsens, &sp->sens_full, eb) != FLOE_OK) {
			free(idx);
			goto fail;
		}
		if (sc.valid == 0) {
			floe_logf(sp->o.log, FLOE_LOG_WARN, "spool: '%s' removed: %s", path,
			          sc.why);
			sp->st.cut_bytes += sc.size;
			(void)unlink(path);
			continue;
		}
		if (sc.valid < sc.size) {
			floe_logf(sp->o.log, FLOE_LOG_WARN,
			          "spool: '%s' cut at its last complete block (byte %" PRIu64
			          ", %" PRIu64 " bytes after it: %s)", path, sc.valid,
			          sc.size - sc.valid, sc.why);
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || ftruncate(fd, (off_t)sc.valid) != 0 || fdatasync(fd) != 0) {
				floe_errbuf_set(eb, FLOE_IO, "cannot cut '%s': %s", path,
				                strerror(errno));
				if (fd >= 0)
					close(fd);
				free(idx);
				goto fail;
			}
			close(fd);
			sp->st.cut_bytes += sc.size - sc.valid;
		}
		if (!floe_grow(NULL, (void **)&sp->segs, &sp->segs_cap, sp->nsegs + 1,
		               sizeof(*sp->segs), 16)) {
			floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
			free(idx);
			goto fail;
		}
		sp->segs[sp->nsegs++] = (struct seg){idx[i], sc.valid, sc.blocks, sc.records};
		sp->total += sc.valid;
		sp->st.found_records += sc.records;
		sp->run = sc.run;      /* the newest segment's run */
		next = idx[i] + 1;
	}
	free(idx);
	if (sp->sens_full)
		floe_logf(sp->o.log, FLOE_LOG_WARN,
		          "spool '%s': more than %u sensors: the last seq of the others is not "
		          "kept", sp->dir, FLOE_SPOOL_RANGES_MAX);
	if (seg_start(sp, next, eb) != FLOE_OK)
		goto fail;
	while (sp->total > sp->o.max_bytes && sp->nsegs > 1)
		drop_oldest(sp);
	return sp;
fail:
	spool_free(sp);
	return NULL;
}

uint64_t floe_spool_run(const struct floe_spool *sp)
{
	return sp->run;
}

size_t floe_spool_last(const struct floe_spool *sp, struct floe_stream_resume *out, size_t cap)
{
	size_t k = 0;
	for (; k < sp->nsens && k < cap; k++)
		out[k] = (struct floe_stream_resume){sp->sens[k].sensor, sp->sens[k].seq};
	return k;
}

enum floe_err floe_spool_peek(const char *dir, struct floe_stream_resume *out, size_t cap,
                              size_t *n, uint64_t *run, struct floe_errbuf *eb)
{
	*n = 0;
	*run = 0;
	struct stat sb;
	if (stat(dir, &sb) != 0 && errno == ENOENT)
		return FLOE_OK;
	uint64_t *idx;
	size_t ni;
	enum floe_err e = list_segments(dir, &idx, &ni, eb);
	if (e != FLOE_OK)
		return e;
	struct sens *v = calloc(FLOE_SPOOL_RANGES_MAX, sizeof(*v));
	size_t nv = 0;
	bool full = false;
	if (!v) {
		free(idx);
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < ni && e == FLOE_OK; i++) {
		char path[4096];
		seg_path(dir, idx[i], path, sizeof(path));
		struct scan sc;
		e = scan_segment(path, &sc, v, &nv, &full, eb);
		if (e == FLOE_OK && sc.valid)
			*run = sc.run;
	}
	for (size_t k = 0; k < nv && k < cap; k++)
		out[(*n)++] = (struct floe_stream_resume){v[k].sensor, v[k].seq};
	free(v);
	free(idx);
	return e;
}

static void spool_sync(struct floe_spool *sp)
{
	if (sp->fd >= 0 && sp->unsynced && fdatasync(sp->fd) != 0)
		floe_logf(sp->o.log, FLOE_LOG_ERR, "spool '%s': fsync: %s", sp->dir,
		          strerror(errno));
	sp->unsynced = 0;
}

void floe_spool_tick(struct floe_spool *sp)
{
	if (sp->unsynced && mono() - sp->unsynced >= sp->o.sync_interval)
		spool_sync(sp);
}

enum floe_err floe_spool_append(struct floe_spool *sp, const uint8_t *block, size_t block_len,
                                uint32_t nrec, const struct floe_stream_seen *ranges,
                                size_t nranges, struct floe_errbuf *eb)
{
	if (nranges > FLOE_SPOOL_RANGES_MAX || block_len == 0 || block_len > FLOE_SPOOL_BLOCK_MAX)
		return floe_errbuf_set(eb, FLOE_LIMIT, "a block the spool cannot hold (%zu bytes, "
		                       "%zu sensors)", block_len, nranges);
	struct seg *cur = &sp->segs[sp->nsegs - 1];
	if (cur->bytes >= sp->o.segment_bytes) {
		/* rotate: the finished segment is synced before the next begins */
		sp->unsynced = mono();
		spool_sync(sp);
		close(sp->fd);
		sp->fd = -1;
		enum floe_err e = seg_start(sp, cur->index + 1, eb);
		if (e != FLOE_OK) {
			/* append to the old segment again, past its size bound */
			char path[4096];
			seg_path(sp->dir, sp->segs[sp->nsegs - 1].index, path, sizeof(path));
			sp->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
			sp->st.errors++;
			return e;
		}
		cur = &sp->segs[sp->nsegs - 1];
	}
	if (sp->fd < 0) {
		sp->st.errors++;
		return floe_errbuf_set(eb, FLOE_IO, "spool '%s': no segment open", sp->dir);
	}
	size_t hl = floe_spool_entry_head(sp->head, ranges, nranges, block, block_len, nrec);
	struct iovec iov[2] = {{sp->head, hl}, {(void *)block, block_len}};
	size_t want = hl + block_len, done = 0;
	while (done < want) {
		struct iovec v[2];
		int nv = 0;
		size_t skip = done;
		for (int i = 0; i < 2; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			v[nv].iov_base = (uint8_t *)iov[i].iov_base + skip;
			v[nv++].iov_len = iov[i].iov_len - skip;
			skip = 0;
		}
		ssize_t w = writev(sp->fd, v, nv);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int err = w < 0 ? errno : ENOSPC;
			/* take back a partial entry: the segment stays whole */
			if (done && ftruncate(sp->fd, (off_t)cur->bytes) != 0)
				floe_logf(sp->o.log, FLOE_LOG_ERR,
				          "spool '%s': cannot cut a partial block: %s", sp->dir,
				          strerror(errno));
			sp->st.errors++;
			return floe_errbuf_set(eb, FLOE_IO, "spool '%s': write: %s", sp->dir,
			                       strerror(err));
		}
		done += (size_t)w;
	}
	cur->bytes += want;
	cur->blocks++;
	cur->records += nrec;
	sp->total += want;
	sp->st.blocks++;
	sp->st.records += nrec;
	for (size_t i = 0; i < nranges; i++)
		sens_note(sp->sens, &sp->nsens, &sp->sens_full, ranges[i].sensor, ranges[i].last);
	if (!sp->unsynced)
		sp->unsynced = mono();
	while (sp->total > sp->o.max_bytes && sp->nsegs > 1)
		drop_oldest(sp);
	floe_spool_tick(sp);
	return FLOE_OK;
}

void floe_spool_stats(const struct floe_spool *sp, struct floe_spool_stats *st)
{
	*st = sp->st;
	st->bytes = sp->total;
	st->segments = (uint32_t)sp->nsegs;
}

void floe_spool_close(struct floe_spool *sp)
{
	if (!sp)
		return;
	if (sp->fd >= 0) {
		sp->unsynced = sp->unsynced ? sp->unsynced : mono();
		spool_sync(sp);
	}
	spool_free(sp);
}

/* ---- readers ---- */

struct floe_spool_reader {
	struct floe_spool *sp;
	int fd;
	uint64_t index, off, end;       /* end: the file's size, for a finished segment */
	bool started;
	uint8_t *buf;
	size_t cap;
};

struct floe_spool_reader *floe_spool_reader_create(struct floe_spool *sp)
{
	struct floe_spool_reader *r = calloc(1, sizeof(*r));
	if (r) {
		r->sp = sp;
		r->fd = -1;
	}
	return r;
}

void floe_spool_reader_destroy(struct floe_spool_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	floe_free(NULL, r->buf, r->cap);
	free(r);
}

enum floe_err floe_spool_reader_next(struct floe_spool_reader *r, struct floe_spool_entry *e,
                                     struct floe_errbuf *eb)
{
	struct floe_spool *sp = r->sp;
	const struct seg *cur = &sp->segs[sp->nsegs - 1];
	for (;;) {
		if (r->fd < 0) {
			uint64_t idx = r->started ? r->index + 1 : sp->segs[0].index;
			if (idx < sp->segs[0].index)
				idx = sp->segs[0].index;   /* removed before we came to it */
			if (idx > cur->index)
				return FLOE_EOF;
			char path[4096];
			seg_path(sp->dir, idx, path, sizeof(path));
			r->started = true;
			r->index = idx;
			r->fd = open(path, O_RDONLY | O_CLOEXEC);
			if (r->fd < 0) {
				if (errno == ENOENT && idx < cur->index)
					continue;   /* removed meanwhile: the next one */
				return floe_errbuf_set(eb, FLOE_IO, "cannot read '%s': %s", path,
				                       strerror(errno));
			}
			r->off = FLOE_SPOOL_HDR;
			r->end = 0;
		}
		bool is_cur = r->index == cur->index;
		if (!is_cur && !r->end) {
			struct stat sb;
			if (fstat(r->fd, &sb) != 0)
				return floe_errbuf_set(eb, FLOE_IO, "spool: stat: %s",
				                       strerror(errno));
			r->end = (uint64_t)sb.st_size;
		}
		uint64_t end = is_cur ? cur->bytes : r->end;
		if (r->off >= end) {
			if (is_cur)
				return FLOE_EOF;
			close(r->fd);
			r->fd = -1;
			continue;
		}
		enum floe_err x = read_entry(r->fd, r->off, end, &r->buf, &r->cap, e, eb);
		if (x == FLOE_OK) {
			r->off += e->len;
			return FLOE_OK;
		}
		if (x == FLOE_NOMEM || x == FLOE_IO)
			return x;
		floe_logf(sp->o.log, FLOE_LOG_ERR, "spool '%s': segment %016" PRIx64
		          " damaged at byte %" PRIu64 ": %s; the rest of it is skipped", sp->dir,
		          r->index, r->off, eb->msg);
		floe_errbuf_clear(eb);
		r->off = end;
	}
}
